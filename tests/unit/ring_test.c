/* tests/unit/ring_test.c: kmcl/ring.c on malloc'd rings.
 *
 * Golden tests compare raw ring bytes with arrays written by hand from
 * PROTOCOL-REFERENCE.md section 3 (not derived from our structs), in both
 * directions. Then wrap-around, full ring, pending_send_sz, interrupt mask,
 * a million random packets with checksums, a two-thread run, and a table of
 * hostile-peer rings that must each give -EPROTO and stay dead.
 */
#include "tests/unit/unit.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "kmcl/ring.h"
#include "tests/unit/lib/le_bytes.h"

#define PAGE 4096u

/* A ring in malloc'd memory: the control page, the data area, and one view
 * per side as the two ends of a channel would have. */
struct tring {
  uint8_t *ctl;
  uint8_t *data;
  uint32_t size;
  struct ring tx; /* producer view */
  struct ring rx; /* consumer view */
};

static void tring_open(struct tring *t, uint32_t size) {
  t->size = size;
  t->ctl = aligned_alloc(PAGE, PAGE);
  t->data = aligned_alloc(PAGE, size);
  assert_non_null(t->ctl);
  assert_non_null(t->data);
  memset(t->data, 0xcc, size); /* garbage, so padding must be written */
  ring_reset_ctl(t->ctl);
  assert_int_equal(ring_init(&t->tx, t->ctl, t->data, size), 0);
  assert_int_equal(ring_init(&t->rx, t->ctl, t->data, size), 0);
}

/* Re-attach both views after the test changed the control page by hand. */
static void tring_reattach(struct tring *t) {
  assert_int_equal(ring_init(&t->tx, t->ctl, t->data, t->size), 0);
  assert_int_equal(ring_init(&t->rx, t->ctl, t->data, t->size), 0);
}

static void tring_close(struct tring *t) {
  free(t->ctl);
  free(t->data);
}

/* cmocka fixtures: a fresh ring of one page (or two) as the test's *state,
 * freed after it. */
static struct tring fixture_ring;
static int tring_setup(void **state) {
  tring_open(&fixture_ring, PAGE);
  *state = &fixture_ring;
  return 0;
}
static int tring2_setup(void **state) {
  tring_open(&fixture_ring, 2 * PAGE);
  *state = &fixture_ring;
  return 0;
}
static int tring_teardown(void **state) {
  tring_close(*state);
  return 0;
}
#define TRING_TEST(f) cmocka_unit_test_setup_teardown(f, tring_setup, tring_teardown)
#define TRING2_TEST(f) cmocka_unit_test_setup_teardown(f, tring2_setup, tring_teardown)

/* Write a packet: descriptor built here (type, flags, trans_id, offset8 = 2)
 * and `len` payload bytes. Returns ring_write's result. */
static int send_pkt(struct ring *r, uint16_t type, uint16_t flags, uint64_t xid,
                    const void *payload, uint32_t len, bool *sig) {
  struct vmpacket_descriptor d;
  memset(&d, 0, sizeof(d));
  d.type = type;
  d.offset8 = 2;
  d.len8 = (uint16_t)(RING_ALIGN8(16 + len) / 8);
  d.flags = flags;
  d.trans_id = xid;
  struct ring_iov iov[2] = {{&d, sizeof(d)}, {payload, len}};
  bool dummy;
  return ring_write(r, iov, len ? 2 : 1, sig ? sig : &dummy);
}

/* ---- golden: our writes against hand-written bytes ------------------------- */

static void test_golden_write(void **state) {
  struct tring *t = *state;
  bool sig = false;

  /* Control page right after creation: all zero but feature_bits = 1 @64. */
  for (unsigned i = 0; i < PAGE; i++)
    assert_int_equal(t->ctl[i], i == 64 ? 1 : 0);

  /* Inband, completion requested, xid 0x1122334455667788, "hello". */
  assert_int_equal(send_pkt(&t->tx, 6, 1, 0x1122334455667788ull, "hello", 5, &sig), 0);
  assert_true(sig); /* empty -> non-empty, mask 0 */
  /* Completion for xid 0x42, no payload. */
  assert_int_equal(send_pkt(&t->tx, 0xb, 0, 0x42, NULL, 0, &sig), 0);
  assert_false(sig); /* ring was not empty */

  static const uint8_t want[] = {
      /* packet 1 @0: type 6, offset8 2, len8 3 (16 + 5 -> 24), flags 1 */
      0x06, 0x00, 0x02, 0x00, 0x03, 0x00, 0x01, 0x00,
      /* trans_id, little endian */
      0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11,
      /* "hello" + 3 zero pad bytes */
      'h', 'e', 'l', 'l', 'o', 0x00, 0x00, 0x00,
      /* trailer: start index 0 in the high half */
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      /* packet 2 @32: type 0xb, offset8 2, len8 2, flags 0 */
      0x0b, 0x00, 0x02, 0x00, 0x02, 0x00, 0x00, 0x00,
      /* trans_id 0x42 */
      0x42, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      /* trailer: start index 32 = 0x20 in bytes 4..7 */
      0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00,
      /* untouched */
      0xcc};
  assert_memory_equal(t->data, want, sizeof(want));
  /* write_index @0 = 56 = 0x38, read_index @4 = 0, mask @8 = 0, pending @12. */
  static const uint8_t want_ctl[16] = {0x38, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  assert_memory_equal(t->ctl, want_ctl, sizeof(want_ctl));
  assert_int_equal(t->ctl[64], 1);

  /* The consumer reads both and publishes read_index @4 = 0x38 at once. */
  uint8_t buf[64];
  uint32_t len;
  assert_int_equal(ring_read(&t->rx, buf, sizeof(buf), &len), 0);
  assert_int_equal(len, 24);
  assert_memory_equal(buf, want, 24);
  assert_int_equal(get32(t->ctl + 4), 0); /* not yet committed */
  assert_int_equal(ring_read(&t->rx, buf, sizeof(buf), &len), 0);
  assert_int_equal(len, 16);
  assert_memory_equal(buf, want + 32, 16);
  assert_int_equal(ring_read(&t->rx, buf, sizeof(buf), &len), -EAGAIN);
  assert_false(ring_read_commit(&t->rx));
  static const uint8_t want_ctl2[8] = {0x38, 0, 0, 0, 0x38, 0, 0, 0};
  assert_memory_equal(t->ctl, want_ctl2, sizeof(want_ctl2));
}

/* Gathered pieces, an extended header (offset8 3) and padding at a wrap. */
static void test_golden_write_wrap(void **state) {
  struct tring *t = *state;
  /* Both indices at 4080 (= 0xff0): 16 bytes before the end. */
  put32(t->ctl + 0, 0xff0);
  put32(t->ctl + 4, 0xff0);
  tring_reattach(t);

  /* Descriptor type 9, offset8 3, len8 4, then an 8-byte extended header,
   * then 3 payload bytes: 27 -> 32 bytes, 5 pad, trailer. */
  static const uint8_t desc[16] = {0x09, 0, 0x03, 0, 0x04, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8};
  static const uint8_t ext[8] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7};
  static const uint8_t pay[3] = {0xb0, 0xb1, 0xb2};
  struct ring_iov iov[3] = {{desc, 16}, {ext, 8}, {pay, 3}};
  bool sig = false;
  assert_int_equal(ring_write(&t->tx, iov, 3, &sig), 0);
  assert_true(sig);
  /* The descriptor fills the last 16 bytes; the rest starts at 0. */
  assert_memory_equal(t->data + 0xff0, desc, 16);
  static const uint8_t want_head[] = {
      0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, /* ext header */
      0xb0, 0xb1, 0xb2, 0x00, 0x00, 0x00, 0x00, 0x00, /* payload + pad */
      0x00, 0x00, 0x00, 0x00, 0xf0, 0x0f, 0x00, 0x00, /* trailer: 0xff0 << 32 */
      0xcc};
  assert_memory_equal(t->data, want_head, sizeof(want_head));
  assert_int_equal(get32(t->ctl + 0), 24); /* write_index wrapped to 24 */

  uint8_t buf[64];
  uint32_t len;
  assert_int_equal(ring_read(&t->rx, buf, sizeof(buf), &len), 0);
  assert_int_equal(len, 32);
  assert_memory_equal(buf, desc, 16);
  assert_memory_equal(buf + 16, want_head, 16);
  ring_read_commit(&t->rx);
  assert_int_equal(get32(t->ctl + 4), 24);
}

/* ---- golden: hand-built rings parsed by our reader --------------------------- */

static void test_golden_parse(void **state) {
  struct tring *t = *state;
  static const uint8_t ring_bytes[] = {
      /* @0: transfer-page packet (7), offset8 4 (32 bytes of headers),
       * len8 4, flags 1, trans_id 0x0102030405060708 */
      0x07, 0x00, 0x04, 0x00, 0x04, 0x00, 0x01, 0x00, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02,
      0x01,
      /* xfer_pageset_id 0xcafe, sender_owns_set 1, reserved 0x5a, range_cnt 1 */
      0xfe, 0xca, 0x01, 0x5a, 0x01, 0x00, 0x00, 0x00,
      /* range: byte_count 1514 (0x5ea), byte_offset 0x10000 */
      0xea, 0x05, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
      /* trailer: start 0 */
      0, 0, 0, 0, 0, 0, 0, 0,
      /* @40: GPA-direct (9), offset8 5 (40 bytes), len8 5, flags 0, xid 7 */
      0x09, 0x00, 0x05, 0x00, 0x05, 0x00, 0x00, 0x00, 0x07, 0, 0, 0, 0, 0, 0, 0,
      /* reserved 0, range_cnt 1 */
      0, 0, 0, 0, 0x01, 0, 0, 0,
      /* range: byte_count 100, byte_offset 0xf80, pfn 0x12345 */
      0x64, 0, 0, 0, 0x80, 0x0f, 0, 0, 0x45, 0x23, 0x01, 0, 0, 0, 0, 0,
      /* trailer: start 40 = 0x28 */
      0, 0, 0, 0, 0x28, 0, 0, 0,
      /* @88: completion (0xb), offset8 2, len8 3, payload 8 bytes, xid 9 */
      0x0b, 0x00, 0x02, 0x00, 0x03, 0x00, 0x00, 0x00, 0x09, 0, 0, 0, 0, 0, 0, 0, 0xde, 0xad, 0xbe,
      0xef, 0, 0, 0, 0,
      /* trailer: start 88 = 0x58 */
      0, 0, 0, 0, 0x58, 0, 0, 0};
  memcpy(t->data, ring_bytes, sizeof(ring_bytes));
  put32(t->ctl + 0, sizeof(ring_bytes)); /* write_index = 120 */
  assert_int_equal(sizeof(ring_bytes), 120);

  union {
    uint8_t b[256];
    struct vmpacket_descriptor d;
    struct vmtransfer_page_packet_header x;
    struct vmbus_gpa_direct_header g;
  } u;
  uint32_t len;
  assert_int_equal(ring_read_avail(&t->rx), 120);
  assert_int_equal(ring_read(&t->rx, u.b, sizeof(u.b), &len), 0);
  assert_int_equal(len, 32);
  assert_int_equal(u.d.type, VM_PKT_DATA_USING_XFER_PAGES);
  assert_int_equal(u.d.offset8, 4);
  assert_int_equal(u.d.flags, VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED);
  assert_true(u.d.trans_id == 0x0102030405060708ull);
  assert_int_equal(u.x.xfer_pageset_id, 0xcafe);
  assert_int_equal(u.x.sender_owns_set, 1);
  assert_int_equal(u.x.range_cnt, 1);
  assert_int_equal(u.x.ranges[0].byte_count, 1514);
  assert_int_equal(u.x.ranges[0].byte_offset, 0x10000);

  assert_int_equal(ring_read(&t->rx, u.b, sizeof(u.b), &len), 0);
  assert_int_equal(len, 40);
  assert_int_equal(u.d.type, VM_PKT_DATA_USING_GPA_DIRECT);
  assert_int_equal(u.g.range_cnt, 1);
  struct vmbus_page_buffer pb;
  memcpy(&pb, u.b + sizeof(u.g), sizeof(pb));
  assert_int_equal(pb.len, 100);
  assert_int_equal(pb.offset, 0xf80);
  assert_true(pb.pfn == 0x12345);

  struct vmpacket_descriptor pd;
  assert_int_equal(ring_peek(&t->rx, &pd, &len), 0);
  assert_int_equal(pd.type, VM_PKT_COMP);
  assert_int_equal(len, 24);
  assert_int_equal(ring_read(&t->rx, u.b, 23, &len), -EMSGSIZE); /* left in place */
  assert_int_equal(len, 24);
  assert_int_equal(ring_read(&t->rx, u.b, 24, &len), 0);
  assert_true(u.d.trans_id == 9);
  static const uint8_t dead[4] = {0xde, 0xad, 0xbe, 0xef};
  assert_memory_equal(u.b + 16, dead, 4);

  assert_int_equal(ring_read(&t->rx, u.b, sizeof(u.b), &len), -EAGAIN);
  assert_false(t->rx.r_corrupt);
  ring_read_commit(&t->rx);
  assert_int_equal(get32(t->ctl + 4), 120);
}

/* A hand-built packet that wraps (descriptor split 8/8 across the end). */
static void test_golden_parse_wrap(void **state) {
  struct tring *t = *state;
  static const uint8_t pkt[32] = {0x06, 0, 0x02, 0, 0x03, 0,   0,    0,    0x77, 0, 0,
                                  0,    0, 0,    0, 0,    'w', 'r',  'a',  'p',  0, 0,
                                  0,    0, 0,    0, 0,    0,   0xf8, 0x0f, 0,    0};
  memcpy(t->data + 0xff8, pkt, 8);
  memcpy(t->data, pkt + 8, 24);
  put32(t->ctl + 0, 24);    /* write_index */
  put32(t->ctl + 4, 0xff8); /* read_index */
  tring_reattach(t);
  uint8_t buf[32];
  uint32_t len;
  assert_int_equal(ring_read(&t->rx, buf, sizeof(buf), &len), 0);
  assert_int_equal(len, 24);
  assert_memory_equal(buf, pkt, 24);
  assert_int_equal(ring_read(&t->rx, buf, sizeof(buf), &len), -EAGAIN);
}

/* ---- full ring ---------------------------------------------------------------- */

static void test_full_ring(void **state) {
  struct tring *t = *state;
  uint8_t pay[40] = {0};
  /* 16 + 40 = 56, + 8 trailer = 64: 64 of them would fill 4096 exactly. */
  for (int i = 0; i < 63; i++) {
    pay[0] = (uint8_t)i;
    assert_int_equal(send_pkt(&t->tx, 6, 0, (uint64_t)i, pay, 40, NULL), 0);
  }
  assert_int_equal(ring_write_avail(&t->tx), 56);
  assert_int_equal(send_pkt(&t->tx, 6, 0, 63, pay, 40, NULL), -EAGAIN);
  assert_int_equal(t->tx.r_stat_full, 1);
  assert_int_equal(get32(t->ctl), 63 * 64); /* never write == read */
  /* A packet of exactly 56 bytes of space (40 + 16 - 8 = payload 32 -> 48 +
   * 8) fits; then the ring has 8 bytes free and nothing fits. */
  assert_int_equal(send_pkt(&t->tx, 6, 0, 63, pay, 32, NULL), 0);
  assert_int_equal(ring_write_avail(&t->tx), 0);
  assert_int_equal(send_pkt(&t->tx, 0xb, 0, 64, NULL, 0, NULL), -EAGAIN);
  assert_int_equal(get32(t->ctl), 4088);
  assert_int_equal(ring_read_avail(&t->rx), 4088);

  uint8_t buf[64];
  uint32_t len;
  assert_int_equal(ring_read(&t->rx, buf, sizeof(buf), &len), 0);
  assert_int_equal(buf[16], 0);
  /* Not committed: still full for the producer. */
  assert_int_equal(send_pkt(&t->tx, 0xb, 0, 64, NULL, 0, NULL), -EAGAIN);
  ring_read_commit(&t->rx);
  assert_int_equal(send_pkt(&t->tx, 0xb, 0, 64, NULL, 0, NULL), 0);
  /* Everything comes out in order. */
  for (int i = 1; i < 63; i++) {
    assert_int_equal(ring_read(&t->rx, buf, sizeof(buf), &len), 0);
    assert_int_equal(len, 56);
    assert_int_equal(buf[16], i);
  }
  assert_int_equal(ring_read(&t->rx, buf, sizeof(buf), &len), 0);
  assert_int_equal(len, 48);
  assert_int_equal(ring_read(&t->rx, buf, sizeof(buf), &len), 0);
  assert_int_equal(len, 16);
  assert_int_equal(ring_read(&t->rx, buf, sizeof(buf), &len), -EAGAIN);
}

static void test_write_einval(void **state) {
  struct tring *t = *state;
  bool sig;
  struct vmpacket_descriptor d = {.type = 6, .offset8 = 2, .len8 = 3, .flags = 0, .trans_id = 0};
  static const uint8_t pay[16];
  struct ring_iov iov[2] = {{&d, 16}, {pay, 16}}; /* 32 bytes but len8 3 */
  assert_int_equal(ring_write(&t->tx, iov, 2, &sig), -EINVAL);
  d.len8 = 4;
  d.offset8 = 5;
  assert_int_equal(ring_write(&t->tx, iov, 2, &sig), -EINVAL);
  d.offset8 = 1;
  assert_int_equal(ring_write(&t->tx, iov, 2, &sig), -EINVAL);
  d.offset8 = 2;
  iov[0].ri_len = 8; /* descriptor split */
  iov[1].ri_len = 24;
  assert_int_equal(ring_write(&t->tx, iov, 2, &sig), -EINVAL);
  assert_int_equal(ring_write(&t->tx, iov, 0, &sig), -EINVAL);
  /* Larger than len8 can describe. */
  static uint8_t big[VMBUS_PKT_MAX_LEN];
  iov[0].ri_len = 16;
  iov[1] = (struct ring_iov){big, VMBUS_PKT_MAX_LEN};
  assert_int_equal(ring_write(&t->tx, iov, 2, &sig), -EINVAL);
  /* Larger than the ring: fits the wire format, never the ring. */
  d.len8 = (uint16_t)((16 + PAGE) / 8);
  iov[1].ri_len = PAGE;
  assert_int_equal(ring_write(&t->tx, iov, 2, &sig), -EMSGSIZE);
  /* The largest packet a 4 KiB ring can ever take: space 4088. */
  d.len8 = (uint16_t)((PAGE - 16) / 8);
  iov[1].ri_len = PAGE - 16 - 16;
  assert_int_equal(ring_write(&t->tx, iov, 2, &sig), 0);
  d.len8++;
  iov[1].ri_len += 8;
  assert_int_equal(ring_write(&t->tx, iov, 2, &sig), -EMSGSIZE);
  assert_false(t->tx.r_corrupt);
  assert_int_equal(get32(t->ctl), PAGE - 8);

  struct ring r;
  uint8_t ctl[PAGE] __attribute__((aligned(8)));
  assert_int_equal(ring_init(&r, ctl, t->data, 0), -EINVAL);
  assert_int_equal(ring_init(&r, ctl, t->data, 100), -EINVAL);
  assert_int_equal(ring_init(&r, NULL, t->data, PAGE), -EINVAL);
}

/* ---- signalling ------------------------------------------------------------------- */

static void test_pending_send(void **state) {
  struct tring *t = *state;
  uint8_t pay[40] = {0};
  uint8_t buf[256];
  uint32_t len;
  for (int i = 0; i < 63; i++)
    assert_int_equal(send_pkt(&t->tx, 6, 0, 0, pay, 40, NULL), 0);
  /* Blocked on a 200-byte packet: needs free space > RING_PKT_SPACE(216). */
  static uint8_t p200[200];
  uint32_t need = RING_PKT_SPACE(16 + 200);
  assert_int_equal(need, 224);
  assert_int_equal(send_pkt(&t->tx, 6, 0, 0, p200, 200, NULL), -EAGAIN);
  assert_false(ring_set_pending_send(&t->tx, need));
  assert_int_equal(get32(t->ctl + 12), 224);

  /* Free is 64 now. Each read frees 64: 128, 192, 256. Only the commit
   * that moves free from <= 224 to > 224 signals. */
  for (int i = 0; i < 2; i++) {
    assert_int_equal(ring_read(&t->rx, buf, sizeof(buf), &len), 0);
    assert_false(ring_read_commit(&t->rx));
  }
  assert_int_equal(ring_read(&t->rx, buf, sizeof(buf), &len), 0);
  assert_true(ring_read_commit(&t->rx));
  assert_int_equal(ring_read(&t->rx, buf, sizeof(buf), &len), 0);
  assert_false(ring_read_commit(&t->rx)); /* already above: no second signal */

  /* The producer wakes, clears, writes. */
  assert_false(ring_set_pending_send(&t->tx, 0));
  assert_int_equal(get32(t->ctl + 12), 0);
  assert_int_equal(send_pkt(&t->tx, 6, 0, 0, p200, 200, NULL), 0);

  /* A batch that crosses in one commit signals once. */
  assert_int_equal(ring_write_avail(&t->tx), 320 - 224 - 8);
  assert_false(ring_set_pending_send(&t->tx, 1000));
  for (int i = 0; i < 15; i++) /* free 96 -> 1056 */
    assert_int_equal(ring_read(&t->rx, buf, sizeof(buf), &len), 0);
  assert_true(ring_read_commit(&t->rx));

  /* Space already there when asking: true, and the request is withdrawn. */
  assert_true(ring_set_pending_send(&t->tx, 100));
  assert_int_equal(get32(t->ctl + 12), 0);

  /* Hostile pending_send_sz values cost at most a signal, never a crash:
   * larger than the ring never signals; ring - 1 signals once, at empty. */
  while (send_pkt(&t->tx, 6, 0, 0, pay, 40, NULL) == 0)
    ;
  put32(t->ctl + 12, 0xffffffffu);
  assert_int_equal(ring_read(&t->rx, buf, sizeof(buf), &len), 0);
  assert_false(ring_read_commit(&t->rx));
  put32(t->ctl + 12, PAGE - 1);
  while (ring_read(&t->rx, buf, sizeof(buf), &len) == 0)
    ;
  assert_true(ring_read_commit(&t->rx));
  assert_int_equal(ring_read_avail(&t->rx), 0);
  put32(t->ctl + 12, 0);

  /* Without the feature bit the consumer never signals. */
  put32(t->ctl + 64, 0);
  while (send_pkt(&t->tx, 6, 0, 0, pay, 40, NULL) == 0)
    ;
  assert_false(ring_set_pending_send(&t->tx, 1000));
  while (ring_read(&t->rx, buf, sizeof(buf), &len) == 0)
    ;
  assert_int_equal(ring_read_avail(&t->rx), 0);
  assert_false(ring_read_commit(&t->rx));
}

static void test_interrupt_mask(void **state) {
  struct tring *t = *state;
  uint8_t buf[64];
  uint32_t len;
  bool sig;
  assert_int_equal(send_pkt(&t->tx, 6, 0, 1, "a", 1, &sig), 0);
  assert_true(sig); /* empty -> non-empty */
  assert_int_equal(send_pkt(&t->tx, 6, 0, 2, "b", 1, &sig), 0);
  assert_false(sig); /* not empty */
  /* Reader drained but not committed: the producer still sees it non-empty. */
  assert_int_equal(ring_read(&t->rx, buf, sizeof(buf), &len), 0);
  assert_int_equal(ring_read(&t->rx, buf, sizeof(buf), &len), 0);
  assert_int_equal(send_pkt(&t->tx, 6, 0, 3, "c", 1, &sig), 0);
  assert_false(sig);
  assert_int_equal(ring_read(&t->rx, buf, sizeof(buf), &len), 0);
  ring_read_commit(&t->rx);
  assert_false(ring_unmask_interrupts(&t->rx)); /* nothing waiting */

  /* Masked: the consumer is draining, no signal. */
  ring_mask_interrupts(&t->rx);
  assert_int_equal(get32(t->ctl + 8), 1);
  assert_int_equal(send_pkt(&t->tx, 6, 0, 4, "d", 1, &sig), 0);
  assert_false(sig);
  /* Unmask sees the packet that raced with it. */
  assert_true(ring_unmask_interrupts(&t->rx));
  assert_int_equal(get32(t->ctl + 8), 0);
  assert_int_equal(ring_read(&t->rx, buf, sizeof(buf), &len), 0);
  assert_int_equal(buf[16], 'd');
  ring_read_commit(&t->rx);
  assert_false(ring_unmask_interrupts(&t->rx));
  /* Empty and unmasked again: signal. */
  assert_int_equal(send_pkt(&t->tx, 6, 0, 5, "e", 1, &sig), 0);
  assert_true(sig);
  assert_int_equal(t->tx.r_stat_signals, 2);
  ring_dump(&t->tx, "tx");
  ring_dump(&t->rx, "rx");
}

/* ---- random traffic ---------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s) {
  /* xorshift64* */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 0x2545f4914f6cdd1dull;
}

/* Payload of packet `seq`: its length and bytes derive from seq alone, so the
 * reader can check order, length and contents. */
static uint32_t pkt_len_of(uint64_t seq, uint32_t max) {
  uint64_t s = seq * 0x9e3779b97f4a7c15ull + 1;
  uint64_t v = rng_next(&s);
  /* Mostly small, some large, a few maximal. */
  switch (v & 3) {
  case 0:
    return (uint32_t)(v >> 8) % 64;
  case 1:
    return (uint32_t)(v >> 8) % 512;
  default:
    return (uint32_t)(v >> 8) % (max + 1);
  }
}

static void fill_payload(uint8_t *p, uint32_t len, uint64_t seq) {
  uint8_t x = (uint8_t)(seq * 31 + 7);
  for (uint32_t i = 0; i < len; i++)
    p[i] = (uint8_t)(x + i * 13);
}

static bool check_payload(const uint8_t *p, uint32_t len, uint64_t seq) {
  uint8_t x = (uint8_t)(seq * 31 + 7);
  for (uint32_t i = 0; i < len; i++)
    if (p[i] != (uint8_t)(x + i * 13))
      return false;
  return true;
}

#define RANDOM_PKTS 1000000u
#define RANDOM_MAXPAY 1500u

/* Reads the next packet into `in` and checks it is packet `seq` of the
 * random traffic (trans_id, length, payload). Returns its payload length,
 * or -1 when the ring is empty. */
static int read_checked(struct ring *rx, uint8_t *in, uint32_t size, uint64_t seq) {
  uint32_t len;
  int rc = ring_read(rx, in, size, &len);
  if (rc == -EAGAIN)
    return -1;
  assert_int_equal(rc, 0);
  struct vmpacket_descriptor d;
  memcpy(&d, in, sizeof(d));
  if (d.trans_id != seq)
    fail_msg("packet %llu arrived as %llu", (unsigned long long)seq,
             (unsigned long long)d.trans_id);
  uint32_t plen = pkt_len_of(seq, RANDOM_MAXPAY);
  assert_int_equal(len, RING_ALIGN8(16 + plen));
  if (!check_payload(in + 16, plen, seq))
    fail_msg("packet %llu payload differs", (unsigned long long)seq);
  return (int)plen;
}

/* Reads and checks up to `n` packets from *seq on (read_checked), then
 * commits. Advances *seq; returns the payload bytes read. */
static uint64_t read_batch_checked(struct ring *rx, uint8_t *in, uint32_t size, unsigned n,
                                   uint64_t *seq) {
  uint64_t bytes = 0;
  for (unsigned i = 0; i < n; i++) {
    int plen = read_checked(rx, in, size, *seq);
    if (plen < 0)
      break;
    bytes += (unsigned)plen;
    (*seq)++;
  }
  ring_read_commit(rx);
  return bytes;
}

/* After a random run of `pkts` packets: the ring is empty and both ends
 * counted the same packets and bytes. */
static void check_drained(struct tring *t, uint8_t *in, uint32_t size, uint64_t pkts) {
  uint32_t len;
  assert_int_equal(ring_read(&t->rx, in, size, &len), -EAGAIN);
  assert_true(t->tx.r_stat_pkts == pkts && t->rx.r_stat_pkts == pkts);
  assert_true(t->tx.r_stat_bytes == t->rx.r_stat_bytes);
}

static void test_random_traffic(void **state) {
  (void)state;
  struct tring t;
  tring_open(&t, 2 * PAGE); /* 8 KiB: wraps constantly */
  uint64_t rs = 12345;
  uint64_t wseq = 0, rseq = 0, sum_w = 0, sum_r = 0;
  static uint8_t out[16 + RANDOM_MAXPAY + 8], in[16 + RANDOM_MAXPAY + 8];
  unsigned signals_tx = 0;
  while (rseq < RANDOM_PKTS) {
    /* Producer: a random burst until full. */
    unsigned burst = (unsigned)(rng_next(&rs) % 8);
    for (unsigned i = 0; i < burst && wseq < RANDOM_PKTS; i++) {
      uint32_t plen = pkt_len_of(wseq, RANDOM_MAXPAY);
      fill_payload(out, plen, wseq);
      bool sig;
      int rc = send_pkt(&t.tx, 6, 0, wseq, out, plen, &sig);
      if (rc == -EAGAIN)
        break;
      assert_int_equal(rc, 0);
      signals_tx += sig;
      sum_w += plen;
      wseq++;
    }
    /* Consumer: a random batch, then commit. */
    sum_r += read_batch_checked(&t.rx, in, sizeof(in), (unsigned)(rng_next(&rs) % 8), &rseq);
  }
  check_drained(&t, in, sizeof(in), RANDOM_PKTS);
  assert_true(sum_w == sum_r);
  assert_true(signals_tx > 0);
  tring_close(&t);
}

/* ---- two threads --------------------------------------------------------------------- */

#define THREAD_PKTS 200000u

static void *producer_thread(void *arg) {
  struct tring *t = arg;
  static uint8_t out[16 + 1024];
  for (uint64_t seq = 0; seq < THREAD_PKTS; seq++) {
    uint32_t plen = pkt_len_of(seq, 1024);
    fill_payload(out, plen, seq);
    int rc;
    while ((rc = send_pkt(&t->tx, 6, 0, seq, out, plen, NULL)) == -EAGAIN)
      __builtin_ia32_pause();
    if (rc)
      return (void *)1;
  }
  return NULL;
}

/* Runs `producer` on a second thread against a fresh ring while this thread
 * reads THREAD_PKTS packets, committing every 8, and checks each one's
 * sequence number, length and payload; the producer returns NULL on success. */
static void run_two_threads(void *(*producer)(void *)) {
  struct tring t;
  tring_open(&t, PAGE);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, producer, &t), 0);
  static uint8_t in[16 + 1024 + 8];
  uint64_t seq = 0;
  bool bad = false;
  while (seq < THREAD_PKTS && !bad) {
    uint32_t len;
    int rc = ring_read(&t.rx, in, sizeof(in), &len);
    if (rc == -EAGAIN) {
      ring_read_commit(&t.rx);
      __builtin_ia32_pause();
      continue;
    }
    if (rc != 0) {
      bad = true;
      break;
    }
    struct vmpacket_descriptor d;
    memcpy(&d, in, sizeof(d));
    uint32_t plen = pkt_len_of(seq, 1024);
    if (d.trans_id != seq || len != RING_ALIGN8(16 + plen) || !check_payload(in + 16, plen, seq))
      bad = true;
    seq++;
    if ((seq & 7) == 0)
      ring_read_commit(&t.rx);
  }
  ring_read_commit(&t.rx);
  void *ret;
  pthread_join(th, &ret);
  assert_false(bad);
  assert_null(ret);
  assert_true(seq == THREAD_PKTS);
  tring_close(&t);
}

static void test_two_threads(void **state) {
  (void)state;
  run_two_threads(producer_thread);
}

/* ---- hostile peer ------------------------------------------------------------------- */

/* Each case starts from a ring holding one valid 32-byte inband packet at 0
 * (desc + 16 payload; trailer; write_index 40) and breaks one thing. */
struct hostile_case {
  const char *name;
  uint32_t write_index; /* 0: leave as written (40) */
  int desc_off;         /* byte offset of a descriptor u16 to patch, -1 none */
  uint16_t desc_val;
};

static const struct hostile_case hostile[] = {
    {"write_index == size", PAGE, -1, 0},
    {"write_index far out of range", 0xfffffff8u, -1, 0},
    {"write_index misaligned", 36, -1, 0},
    {"fewer bytes than a descriptor", 8, -1, 0},
    {"descriptor but no trailer", 16, -1, 0},
    {"len8 0", 0, 4, 0},
    {"len8 smaller than the descriptor", 0, 4, 1},
    {"offset8 > len8", 0, 2, 5},
    {"offset8 < 2 (inside the descriptor)", 0, 2, 1},
    {"offset8 0", 0, 2, 0},
    {"len8 past written bytes", 0, 4, 6},
    {"len8 eats the trailer", 0, 4, 5},
    {"len8 huge", 0, 4, 0xffff},
    {"packet ok, trailer short", 32, -1, 0},
};

static void test_hostile_peer(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
    const struct hostile_case *c = &hostile[i];
    struct tring t;
    tring_open(&t, PAGE);
    static const uint8_t pay[16] = {1, 2, 3};
    assert_int_equal(send_pkt(&t.tx, 6, 0, 1, pay, 16, NULL), 0);
    assert_int_equal(get32(t.ctl), 40);
    if (c->write_index)
      put32(t.ctl, c->write_index);
    if (c->desc_off >= 0) {
      t.data[c->desc_off] = (uint8_t)c->desc_val;
      t.data[c->desc_off + 1] = (uint8_t)(c->desc_val >> 8);
    }
    uint8_t buf[128];
    uint32_t len = 0;
    int rc = ring_read(&t.rx, buf, sizeof(buf), &len);
    if (rc != -EPROTO)
      fail_msg("case '%s': ring_read gave %d, want -EPROTO", c->name, rc);
    assert_true(t.rx.r_corrupt);
    assert_int_equal(get32(t.ctl + 4), 0); /* nothing consumed */
    /* Sticky: even a repaired ring stays dead. */
    tring_close(&t);
    tring_open(&t, PAGE);
    t.rx.r_corrupt = true;
    assert_int_equal(send_pkt(&t.tx, 6, 0, 1, pay, 16, NULL), 0);
    assert_int_equal(ring_read(&t.rx, buf, sizeof(buf), &len), -EPROTO);
    assert_int_equal(ring_peek(&t.rx, NULL, NULL), -EPROTO);
    assert_int_equal(ring_skip(&t.rx), -EPROTO);
    assert_int_equal(ring_read_avail(&t.rx), 0);
    tring_close(&t);
  }
}

/* The same view stays dead after the peer repairs its index. */
static void test_hostile_sticky(void **state) {
  (void)state;
  struct tring t;
  tring_open(&t, PAGE);
  uint8_t buf[64];
  uint32_t len;
  assert_int_equal(send_pkt(&t.tx, 6, 0, 1, "x", 1, NULL), 0);
  put32(t.ctl, 12); /* misaligned */
  assert_int_equal(ring_read(&t.rx, buf, sizeof(buf), &len), -EPROTO);
  put32(t.ctl, 32); /* repaired */
  assert_int_equal(ring_read(&t.rx, buf, sizeof(buf), &len), -EPROTO);
  assert_true(ring_unmask_interrupts(&t.rx)); /* "go read", which fails */
  assert_int_equal(ring_read(&t.rx, buf, sizeof(buf), &len), -EPROTO);
  tring_close(&t);

  /* A bad write_index seen by ring_read_commit's pending_send_sz check. */
  tring_open(&t, PAGE);
  assert_int_equal(send_pkt(&t.tx, 6, 0, 1, "x", 1, NULL), 0);
  assert_int_equal(ring_read(&t.rx, buf, sizeof(buf), &len), 0);
  put32(t.ctl + 12, 8);
  put32(t.ctl, PAGE + 8);
  assert_false(ring_read_commit(&t.rx));
  assert_true(t.rx.r_corrupt);
  assert_int_equal(ring_read(&t.rx, buf, sizeof(buf), &len), -EPROTO);
  /* and by ring_read_avail */
  tring_close(&t);
  tring_open(&t, PAGE);
  put32(t.ctl, 3);
  assert_int_equal(ring_read_avail(&t.rx), 0);
  assert_true(t.rx.r_corrupt);
  tring_close(&t);
}

/* The producer meets a bad read_index. */
static void test_hostile_read_index(void **state) {
  (void)state;
  static const uint32_t bad[] = {PAGE, 0x80000000u, 4, 4095};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    struct tring t;
    tring_open(&t, PAGE);
    /* Seen after publishing (the ring is dead either way). */
    put32(t.ctl + 4, bad[i]);
    assert_int_equal(send_pkt(&t.tx, 6, 0, 1, "x", 1, NULL), -EPROTO);
    assert_true(t.tx.r_corrupt);
    put32(t.ctl + 4, 0);
    assert_int_equal(send_pkt(&t.tx, 6, 0, 1, "x", 1, NULL), -EPROTO);
    assert_int_equal(ring_write_avail(&t.tx), 0);
    assert_true(ring_set_pending_send(&t.tx, 64)); /* "retry" -> -EPROTO */
    /* Attaching to such a ring fails too. */
    struct ring r;
    put32(t.ctl + 4, bad[i]);
    assert_int_equal(ring_init(&r, t.ctl, t.data, PAGE), -EPROTO);
    assert_true(r.r_corrupt);
    assert_int_equal(ring_read(&r, NULL, 0, NULL), -EPROTO);
    tring_close(&t);

    /* Seen before writing: the cached read_index shows no room, the re-read
     * is bad, nothing is published. */
    tring_open(&t, PAGE);
    static const uint8_t big[2000];
    assert_int_equal(send_pkt(&t.tx, 6, 0, 1, big, sizeof(big), NULL), 0);
    assert_int_equal(send_pkt(&t.tx, 6, 0, 2, big, sizeof(big), NULL), 0);
    uint32_t wr = get32(t.ctl);
    put32(t.ctl + 4, bad[i]);
    assert_int_equal(send_pkt(&t.tx, 6, 0, 3, big, 40, NULL), -EPROTO); /* 64 > 48 free */
    assert_int_equal(get32(t.ctl), wr);
    assert_true(t.tx.r_corrupt);
    tring_close(&t);
  }
}

/* ring_peek shows the next descriptor without consuming it; ring_skip drops
 * a packet (what a caller does after -EMSGSIZE). */
static void test_peek_skip(void **state) {
  struct tring *t = *state;
  static const uint8_t pay[8] = {9, 9, 9, 9, 9, 9, 9, 9};
  assert_int_equal(send_pkt(&t->tx, 6, 0, 1, pay, 8, NULL), 0);
  struct vmpacket_descriptor d;
  uint32_t len;
  assert_int_equal(ring_peek(&t->rx, &d, &len), 0);
  assert_int_equal(d.len8, 3);
  assert_int_equal(len, 24);
  /* Skip it, then a second packet is read. */
  assert_int_equal(send_pkt(&t->tx, 0xb, 0, 2, NULL, 0, NULL), 0);
  assert_int_equal(ring_skip(&t->rx), 0);
  uint8_t buf[32];
  assert_int_equal(ring_read(&t->rx, buf, sizeof(buf), &len), 0);
  memcpy(&d, buf, sizeof(d));
  assert_true(d.trans_id == 2);
}

/* ---- batched writes ------------------------------------------------------------------ */

/* A packet for the batch tests: descriptor (type 6, offset8 2) and `len`
 * payload bytes from `pay`, split in two pieces when `split` (gathered
 * iov), so batches mix one-, two- and three-piece packets. */
struct bpkt {
  struct vmpacket_descriptor d;
  struct ring_iov iov[3];
  unsigned n;
};

static void bpkt_make(struct bpkt *p, uint64_t xid, const uint8_t *pay, uint32_t len, bool split) {
  memset(&p->d, 0, sizeof(p->d));
  p->d.type = 6;
  p->d.offset8 = 2;
  p->d.len8 = (uint16_t)(RING_ALIGN8(16 + len) / 8);
  p->d.trans_id = xid;
  p->iov[0] = (struct ring_iov){&p->d, sizeof(p->d)};
  p->n = 1;
  if (len && split && len > 1) {
    p->iov[1] = (struct ring_iov){pay, len / 2};
    p->iov[2] = (struct ring_iov){pay + len / 2, len - len / 2};
    p->n = 3;
  } else if (len) {
    p->iov[1] = (struct ring_iov){pay, len};
    p->n = 2;
  }
}

/* The same packets written one by one (ring_write), staged and committed
 * once (ring_write_stage + ring_write_commit) and by ring_write_batch give
 * byte-identical rings (data and control page), across the wrap and with
 * every padding length; staged packets stay invisible until the commit. */
static void test_batch_golden(void **state) {
  (void)state;
  static const uint32_t starts[] = {0, 0xf00, 0xfe8, 0xff0, 0xff8};
  uint8_t pay[300];
  for (unsigned i = 0; i < sizeof(pay); i++)
    pay[i] = (uint8_t)(i * 7 + 1);
  for (size_t si = 0; si < sizeof(starts) / sizeof(starts[0]); si++) {
    struct tring a, b, c;
    tring_open(&a, PAGE);
    tring_open(&b, PAGE);
    tring_open(&c, PAGE);
    struct tring *all[3] = {&a, &b, &c};
    for (int k = 0; k < 3; k++) {
      put32(all[k]->ctl + 0, starts[si]);
      put32(all[k]->ctl + 4, starts[si]);
      tring_reattach(all[k]);
    }
    /* 12 packets, payloads 0..11 * 23 bytes: all 8 paddings, some split. */
    enum { N = 12 };
    struct bpkt pk[N];
    struct ring_pkt rp[N];
    for (unsigned i = 0; i < N; i++) {
      bpkt_make(&pk[i], 100 + i, pay, i * 23, i % 3 == 1);
      rp[i] = (struct ring_pkt){pk[i].iov, pk[i].n};
    }
    bool sig, any_a = false;
    for (unsigned i = 0; i < N; i++) {
      assert_int_equal(ring_write(&a.tx, pk[i].iov, pk[i].n, &sig), 0);
      any_a |= sig;
    }
    assert_true(any_a); /* the first one: empty -> non-empty */

    for (unsigned i = 0; i < N; i++) {
      assert_int_equal(ring_write_stage(&b.tx, pk[i].iov, pk[i].n), 0);
      /* Nothing visible yet: write_index unchanged, the reader sees none. */
      assert_int_equal(get32(b.ctl), starts[si]);
      uint32_t len;
      uint8_t buf[512];
      assert_int_equal(ring_read(&b.rx, buf, sizeof(buf), &len), -EAGAIN);
    }
    assert_int_equal(ring_write_commit(&b.tx, &sig), 0);
    assert_true(sig); /* one signal for the batch */
    assert_int_equal(ring_write_commit(&b.tx, &sig), 0);
    assert_false(sig); /* nothing staged: no-op */

    unsigned done = 99;
    assert_int_equal(ring_write_batch(&c.tx, rp, N, &done, &sig), 0);
    assert_int_equal(done, N);
    assert_true(sig);

    assert_memory_equal(a.data, b.data, PAGE);
    assert_memory_equal(a.data, c.data, PAGE);
    assert_memory_equal(a.ctl, b.ctl, PAGE);
    assert_memory_equal(a.ctl, c.ctl, PAGE);
    assert_true(a.tx.r_stat_pkts == N && b.tx.r_stat_pkts == N && c.tx.r_stat_pkts == N);
    assert_true(a.tx.r_stat_bytes == b.tx.r_stat_bytes && a.tx.r_stat_bytes == c.tx.r_stat_bytes);
    assert_int_equal(b.tx.r_stat_signals, 1);

    /* And they read back in order, with their payloads. */
    for (unsigned i = 0; i < N; i++) {
      uint8_t buf[512];
      uint32_t len;
      assert_int_equal(ring_read(&c.rx, buf, sizeof(buf), &len), 0);
      struct vmpacket_descriptor d;
      memcpy(&d, buf, sizeof(d));
      assert_true(d.trans_id == 100 + i);
      assert_int_equal(len, RING_ALIGN8(16 + i * 23));
      assert_memory_equal(buf + 16, pay, i * 23);
    }
    assert_false(ring_read_commit(&c.rx));
    for (int k = 0; k < 3; k++)
      tring_close(all[k]);
  }
}

/* The signalling rule once per batch: signal when the consumer had read
 * everything published before the batch and its mask is 0. */
static void test_batch_signal(void **state) {
  struct tring *t = *state;
  static const uint8_t pay[40];
  struct bpkt p;
  bool sig;
  uint8_t buf[64];
  uint32_t len;

  bpkt_make(&p, 1, pay, 40, false);
  assert_int_equal(ring_write_stage(&t->tx, p.iov, p.n), 0);
  assert_int_equal(ring_write_stage(&t->tx, p.iov, p.n), 0);
  assert_int_equal(ring_write_commit(&t->tx, &sig), 0);
  assert_true(sig); /* empty before the batch */
  assert_int_equal(get32(t->ctl), 128);

  /* Consumer has not read them: no signal for the next batch. */
  assert_int_equal(ring_write_stage(&t->tx, p.iov, p.n), 0);
  assert_int_equal(ring_write_commit(&t->tx, &sig), 0);
  assert_false(sig);

  /* Consumer reads all but does not commit: still no signal. */
  for (int i = 0; i < 3; i++)
    assert_int_equal(ring_read(&t->rx, buf, sizeof(buf), &len), 0);
  assert_int_equal(ring_write_stage(&t->tx, p.iov, p.n), 0);
  assert_int_equal(ring_write_commit(&t->tx, &sig), 0);
  assert_false(sig);

  /* Consumer reads and commits everything: the next batch signals. */
  assert_int_equal(ring_read(&t->rx, buf, sizeof(buf), &len), 0);
  ring_read_commit(&t->rx);
  assert_false(ring_unmask_interrupts(&t->rx));
  assert_int_equal(ring_write_stage(&t->tx, p.iov, p.n), 0);
  assert_int_equal(ring_write_stage(&t->tx, p.iov, p.n), 0);
  assert_int_equal(ring_write_commit(&t->tx, &sig), 0);
  assert_true(sig);

  /* Masked consumer: no signal even though it was empty. */
  while (ring_read(&t->rx, buf, sizeof(buf), &len) == 0)
    ;
  ring_read_commit(&t->rx);
  ring_mask_interrupts(&t->rx);
  assert_int_equal(ring_write_stage(&t->tx, p.iov, p.n), 0);
  assert_int_equal(ring_write_commit(&t->tx, &sig), 0);
  assert_false(sig);
  assert_true(ring_unmask_interrupts(&t->rx)); /* sees the batch that raced */

  /* ring_write after staged packets publishes them all, and judges the
   * signal by the index before the first staged one. */
  while (ring_read(&t->rx, buf, sizeof(buf), &len) == 0)
    ;
  ring_read_commit(&t->rx);
  uint32_t before = get32(t->ctl);
  assert_int_equal(ring_write_stage(&t->tx, p.iov, p.n), 0);
  assert_int_equal(get32(t->ctl), before);
  assert_int_equal(ring_write(&t->tx, p.iov, p.n, &sig), 0);
  assert_true(sig);
  assert_int_equal(get32(t->ctl), before + 128);
  assert_int_equal(ring_read_avail(&t->rx), 128);
  assert_int_equal(t->tx.r_stat_signals, 3);
}

/* Full ring and caller errors in a batch: the packets before the one that
 * stopped it are published, the rest are not; bad arguments. */
static void test_batch_full_einval(void **state) {
  (void)state;
  struct tring t;
  tring_open(&t, PAGE);
  static const uint8_t pay[40];
  enum { N = 70 };
  struct bpkt pk[N];
  struct ring_pkt rp[N];
  for (unsigned i = 0; i < N; i++) {
    bpkt_make(&pk[i], i, pay, 40, i & 1);
    rp[i] = (struct ring_pkt){pk[i].iov, pk[i].n};
  }
  /* 64-byte packets: 63 fit a 4 KiB ring. */
  unsigned done = 0;
  bool sig = false;
  assert_int_equal(ring_write_batch(&t.tx, rp, N, &done, &sig), -EAGAIN);
  assert_int_equal(done, 63);
  assert_true(sig);
  assert_int_equal(get32(t.ctl), 63 * 64);
  assert_int_equal(t.tx.r_stat_full, 1);
  assert_int_equal(ring_write_avail(&t.tx), 56);

  /* A stage that does not fit leaves earlier staged packets staged. */
  uint8_t buf[64];
  uint32_t len;
  assert_int_equal(ring_read(&t.rx, buf, sizeof(buf), &len), 0);
  assert_int_equal(ring_read(&t.rx, buf, sizeof(buf), &len), 0);
  ring_read_commit(&t.rx);
  assert_int_equal(ring_write_stage(&t.tx, pk[0].iov, pk[0].n), 0);
  assert_int_equal(ring_write_stage(&t.tx, pk[1].iov, pk[1].n), 0);
  assert_int_equal(ring_write_stage(&t.tx, pk[2].iov, pk[2].n), -EAGAIN);
  assert_int_equal(get32(t.ctl), 63 * 64);
  assert_int_equal(ring_write_commit(&t.tx, &sig), 0);
  assert_false(sig); /* the consumer had not read everything */
  assert_int_equal(get32(t.ctl), (65 * 64) % PAGE);
  tring_close(&t);

  /* An invalid packet in the middle: the ones before it are published. */
  tring_open(&t, PAGE);
  pk[3].d.len8++; /* does not describe its bytes */
  assert_int_equal(ring_write_batch(&t.tx, rp, 6, &done, &sig), -EINVAL);
  assert_int_equal(done, 3);
  assert_true(sig);
  assert_int_equal(get32(t.ctl), 3 * 64);
  pk[3].d.len8--;
  pk[3].d.offset8 = 9; /* offset8 > len8 */
  assert_int_equal(ring_write_batch(&t.tx, rp + 3, 3, &done, &sig), -EINVAL);
  assert_int_equal(done, 0);
  assert_false(sig);
  assert_int_equal(get32(t.ctl), 3 * 64);
  pk[3].d.offset8 = 2;
  struct ring_iov nobuf[2] = {{&pk[3].d, 16}, {NULL, 40}};
  assert_int_equal(ring_write_stage(&t.tx, nobuf, 2), -EINVAL);
  assert_int_equal(ring_write_stage(&t.tx, NULL, 1), -EINVAL);
  assert_int_equal(ring_write_stage(&t.tx, pk[3].iov, 0), -EINVAL);
  /* A packet that can never fit. */
  static uint8_t big[PAGE];
  struct bpkt huge;
  bpkt_make(&huge, 7, big, PAGE - 16, false);
  assert_int_equal(ring_write_stage(&t.tx, huge.iov, huge.n), -EMSGSIZE);
  assert_int_equal(ring_write_commit(&t.tx, NULL), -EINVAL);
  assert_int_equal(ring_write_batch(&t.tx, rp, 1, NULL, &sig), -EINVAL);
  assert_int_equal(ring_write_batch(&t.tx, rp, 1, &done, NULL), -EINVAL);
  assert_int_equal(ring_write_batch(&t.tx, NULL, 1, &done, &sig), -EINVAL);
  assert_int_equal(ring_write_batch(&t.tx, NULL, 0, &done, &sig), 0);
  assert_int_equal(done, 0);
  assert_false(sig);
  assert_int_equal(get32(t.ctl), 3 * 64);
  assert_false(t.tx.r_corrupt);
  tring_close(&t);
}

/* A hostile read_index met by the batch path: while looking for space
 * (nothing published), and after the commit's publish; both sticky. */
static void test_batch_hostile(void **state) {
  (void)state;
  static const uint32_t bad[] = {PAGE, 0x80000000u, 4, 4095};
  static const uint8_t big[2000];
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    struct tring t;
    struct bpkt p, q;
    bool sig;
    unsigned done;
    /* Found by a stage that needs a fresh read_index: nothing published,
     * and the commit of the packets staged before refuses too. */
    tring_open(&t, PAGE);
    bpkt_make(&p, 1, big, sizeof(big), false);
    bpkt_make(&q, 2, big, 40, false);
    assert_int_equal(ring_write_stage(&t.tx, p.iov, p.n), 0);
    assert_int_equal(ring_write_stage(&t.tx, p.iov, p.n), 0);
    put32(t.ctl + 4, bad[i]);
    assert_int_equal(ring_write_stage(&t.tx, q.iov, q.n), -EPROTO); /* 64 > 48 free */
    assert_true(t.tx.r_corrupt);
    assert_int_equal(ring_write_commit(&t.tx, &sig), -EPROTO);
    assert_int_equal(get32(t.ctl), 0);
    assert_int_equal(ring_write_stage(&t.tx, q.iov, q.n), -EPROTO);
    assert_int_equal(ring_write_batch(&t.tx, NULL, 0, &done, &sig), -EPROTO);
    tring_close(&t);

    /* The same through ring_write_batch. */
    tring_open(&t, PAGE);
    struct ring_pkt rp[3] = {{p.iov, p.n}, {p.iov, p.n}, {q.iov, q.n}};
    put32(t.ctl + 4, bad[i]);
    /* The cached read_index (0) shows room for the first two. */
    assert_int_equal(ring_write_batch(&t.tx, rp, 3, &done, &sig), -EPROTO);
    assert_int_equal(done, 2);
    assert_true(t.tx.r_corrupt);
    assert_int_equal(get32(t.ctl), 0);
    tring_close(&t);

    /* Seen by the commit, after publishing (the ring is dead either way). */
    tring_open(&t, PAGE);
    assert_int_equal(ring_write_stage(&t.tx, q.iov, q.n), 0);
    put32(t.ctl + 4, bad[i]);
    assert_int_equal(ring_write_commit(&t.tx, &sig), -EPROTO);
    assert_true(t.tx.r_corrupt);
    put32(t.ctl + 4, 0);
    assert_int_equal(ring_write_stage(&t.tx, q.iov, q.n), -EPROTO);
    assert_int_equal(ring_write_commit(&t.tx, &sig), -EPROTO);
    assert_int_equal(ring_write_avail(&t.tx), 0);
    tring_close(&t);
  }
}

/* Random batch sizes and packet sizes through a small ring, written by
 * ring_write_batch or stage/commit, read in random batches: nothing lost,
 * nothing duplicated, payloads intact. */
#define BATCH_RANDOM_PKTS 200000u

static void test_batch_random(void **state) {
  struct tring *t = *state;
  uint64_t rs = 777;
  uint64_t wseq = 0, rseq = 0;
  enum { MAXB = 12 };
  static uint8_t out[MAXB][16 + RANDOM_MAXPAY], in[16 + RANDOM_MAXPAY + 8];
  struct bpkt pk[MAXB];
  struct ring_pkt rp[MAXB];
  unsigned signals = 0;
  while (rseq < BATCH_RANDOM_PKTS) {
    unsigned b = (unsigned)(rng_next(&rs) % MAXB) + 1;
    if (b > BATCH_RANDOM_PKTS - wseq)
      b = (unsigned)(BATCH_RANDOM_PKTS - wseq);
    for (unsigned i = 0; i < b; i++) {
      uint32_t plen = pkt_len_of(wseq + i, RANDOM_MAXPAY);
      fill_payload(out[i], plen, wseq + i);
      bpkt_make(&pk[i], wseq + i, out[i], plen, (wseq + i) % 5 == 0);
      rp[i] = (struct ring_pkt){pk[i].iov, pk[i].n};
    }
    unsigned done = 0;
    bool sig = false;
    if (rng_next(&rs) & 1) {
      int rc = ring_write_batch(&t->tx, rp, b, &done, &sig);
      assert_true(rc == 0 || rc == -EAGAIN);
    } else {
      while (done < b && ring_write_stage(&t->tx, rp[done].rp_iov, rp[done].rp_n) == 0)
        done++;
      assert_int_equal(ring_write_commit(&t->tx, &sig), 0);
    }
    signals += sig;
    wseq += done;
    read_batch_checked(&t->rx, in, sizeof(in), (unsigned)(rng_next(&rs) % (2 * MAXB)), &rseq);
  }
  check_drained(t, in, sizeof(in), BATCH_RANDOM_PKTS);
  assert_true(wseq == BATCH_RANDOM_PKTS);
  assert_true(signals > 0);
}

/* Two threads, the producer writing in batches (one publish each). */
static void *batch_producer_thread(void *arg) {
  struct tring *t = arg;
  static uint8_t out[8][16 + 1024];
  struct bpkt pk[8];
  for (uint64_t seq = 0; seq < THREAD_PKTS;) {
    unsigned b = (unsigned)(seq % 8) + 1, done = 0;
    if (b > THREAD_PKTS - seq)
      b = (unsigned)(THREAD_PKTS - seq);
    for (unsigned i = 0; i < b; i++) {
      uint32_t plen = pkt_len_of(seq + i, 1024);
      fill_payload(out[i], plen, seq + i);
      bpkt_make(&pk[i], seq + i, out[i], plen, false);
    }
    while (done < b) {
      int rc = ring_write_stage(&t->tx, pk[done].iov, pk[done].n);
      if (rc == 0) {
        done++;
        continue;
      }
      if (rc != -EAGAIN)
        return (void *)1;
      bool sig;
      if (ring_write_commit(&t->tx, &sig))
        return (void *)1;
      __builtin_ia32_pause();
    }
    bool sig;
    if (ring_write_commit(&t->tx, &sig))
      return (void *)1;
    seq += b;
  }
  return NULL;
}

static void test_batch_two_threads(void **state) {
  (void)state;
  run_two_threads(batch_producer_thread);
}

static const struct CMUnitTest tests[] = {
    TRING_TEST(test_golden_write),
    TRING_TEST(test_golden_write_wrap),
    TRING2_TEST(test_golden_parse),
    TRING_TEST(test_golden_parse_wrap),
    TRING_TEST(test_full_ring),
    TRING_TEST(test_write_einval),
    TRING_TEST(test_pending_send),
    TRING_TEST(test_interrupt_mask),
    cmocka_unit_test(test_random_traffic),
    cmocka_unit_test(test_two_threads),
    cmocka_unit_test(test_hostile_peer),
    cmocka_unit_test(test_hostile_sticky),
    cmocka_unit_test(test_hostile_read_index),
    TRING_TEST(test_peek_skip),
    cmocka_unit_test(test_batch_golden),
    TRING_TEST(test_batch_signal),
    cmocka_unit_test(test_batch_full_einval),
    cmocka_unit_test(test_batch_hostile),
    TRING2_TEST(test_batch_random),
    cmocka_unit_test(test_batch_two_threads),
};

UNIT_MAIN("ring", tests)
