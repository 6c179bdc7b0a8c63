/* tests/unit/hostile_ring_test.c: the hostile-host suite for the ring
 * buffer (PERF-RELIABILITY-REFERENCE.md 2.4 row C; docs/SECURITY.md).
 *
 * A real guest KMCL client channel, opened through hv/vmbus.c on the
 * in-process host's echo device, receives bytes the "host" writes straight
 * into its inbound ring (data and control page) or finds its outbound
 * ring's control page rewritten. Policy (ring.h, kmcl/packet.c): a
 * malformed ring or packet fails the channel with -EPROTO, for good (no
 * further delivery, however often the host signals); the rest of the guest
 * keeps working (a second echo channel round-trips). Abuse of the
 * signalling fields only costs performance.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv/hv.h"
#include "hv/vmbus.h"
#include "kernel/event.h"
#include "kernel/hw.h"
#include "kernel/page.h"
#include "kmcl/kmcl_priv.h"
#include "tests/unit/lib/hostile_env.h"
#include "tests/unit/unit.h"

static struct kmcl_channel *kc(struct hclient *c) { return (struct kmcl_channel *)c->ch; }
static struct ring *rin(struct hclient *c) { return &kc(c)->ch_in; }

/** Echo device 0 and an open client whose incoming limit is the whole
 * MTU (these tests are about the ring; C4 tests the limit itself). */
static void up(struct sim *h, struct hclient *c) {
  if (!hclient_next_max_incoming)
    hclient_next_max_incoming = KMCL_RING_MTU;
  henv_up(h, VMBUS_VERSION_WIN10_V5_3, 2);
  assert_int_equal(henv_connect(h, 300), 0);
  assert_true(hclient_open_echo(c, h, 0, 2000));
}

/** The channel failed with -EPROTO and stays failed: more signals deliver
 * nothing; then it closes cleanly and echo device 1 still round-trips. */
static void expect_failed(struct sim *h, struct hclient *c) {
  assert_true(kmcl_channel_failed(c->ch));
  assert_int_equal(kmcl_channel_fail_reason(c->ch), -EPROTO);
  uint32_t rx = c->rx;
  hring_signal(h, c);
  hring_signal(h, c);
  assert_true(kmcl_channel_failed(c->ch));
  assert_int_equal(c->rx, rx);
  hclient_close(c);
  struct hclient other;
  assert_true(hclient_open_echo(&other, h, 1, 2000));
  assert_int_equal(hclient_round_trip(&other, 100, 5000), 100);
  assert_int_equal(other.mismatches, 0);
  hclient_close(&other);
}

/** expect_failed, then everything down. */
static void expect_failed_then_down(struct sim *h, struct hclient *c) {
  expect_failed(h, c);
  henv_down(h);
}

/** Close the client, then everything down. */
static void close_down(struct sim *h, struct hclient *c) {
  hclient_close(c);
  henv_down(h);
}

/* cmocka fixture: the host and the open client (up) as the test's *state
 * (a struct hfix); after the test, the client is closed (if the test did
 * not) and everything goes down. */
struct hfix {
  struct sim h;
  struct hclient c;
};
static struct hfix fixture;
static int fix_up(void **state) {
  up(&fixture.h, &fixture.c);
  *state = &fixture;
  return 0;
}
static int fix_down(void **state) {
  struct hfix *f = *state;
  close_down(&f->h, &f->c);
  return 0;
}
#define HRING_TEST(f) cmocka_unit_test_setup_teardown(f, fix_up, fix_down)

/** A fresh channel (up) receives the `len` bytes at `pkt` as one packet:
 * it must fail for good (expect_failed_then_down). */
static void expect_packet_fails(const uint8_t *pkt, uint32_t len) {
  struct sim h;
  struct hclient c;
  up(&h, &c);
  hring_inject(&h, &c, pkt, len, 0);
  expect_failed_then_down(&h, &c);
}

/** An inband packet of `body` bytes (a multiple of 8), body bytes i + seed. */
static uint32_t inband(uint8_t *buf, uint32_t body, uint8_t seed, uint16_t flags) {
  uint32_t len = hring_pkt(buf, VM_PKT_DATA_INBAND, 2, (uint16_t)((16 + body) / 8), flags, 0);
  for (uint32_t i = 0; i < body; i++)
    buf[16 + i] = (uint8_t)(i + seed);
  return len;
}

/* C1: inbound write_index beyond the data area or unaligned; outbound
 * read_index likewise (found when the guest next writes). */
static void test_C1_ring_index_out_of_range_or_unaligned(void **state) {
  (void)state;
  struct sim h;
  struct hclient c;
  up(&h, &c);
  hring_set_write_index(&h, &c, rin(&c)->r_size);
  expect_failed_then_down(&h, &c);

  up(&h, &c);
  hring_set_write_index(&h, &c, 12);
  expect_failed_then_down(&h, &c);

  up(&h, &c);
  kc(&c)->ch_out.r_ctl->read_index = kc(&c)->ch_out.r_size + 8;
  hclient_round_trip(&c, 1, 50);
  expect_failed_then_down(&h, &c);
}

/* C2: fewer bytes published than a descriptor and trailer. */
static void test_C2_available_bytes_below_minimum(void **state) {
  struct hfix *f = *state;
  struct sim *h = &f->h;
  struct hclient *c = &f->c;
  uint32_t wr = rin(c)->r_ctl->write_index;
  hring_set_write_index(h, c, (wr + 8) % rin(c)->r_size);
  expect_failed(h, c);
}

/* C3: len8 claims bytes past the write index; offset8 < 2; offset8 > len8. */
static void test_C3_descriptor_lengths_inconsistent(void **state) {
  (void)state;
  uint8_t p[64];
  memset(p, 0, sizeof(p));
  hring_pkt(p, VM_PKT_DATA_INBAND, 2, 10, 0, 0); /* 80 bytes claimed, 16 written */
  expect_packet_fails(p, 16);
  expect_packet_fails(p, hring_pkt(p, VM_PKT_DATA_INBAND, 1, 4, 0, 0));
  expect_packet_fails(p, hring_pkt(p, VM_PKT_DATA_INBAND, 5, 4, 0, 0));
}

/* C4: a packet as large as the ring allows is copied whole into a private
 * buffer sized from the validated length; one larger than the ring fails. */
static void test_C4_packet_larger_than_buffers(void **state) {
  (void)state;
  struct sim h;
  struct hclient c;
  /* Above the channel's incoming limit (kmcl_channel_init_set_max_incoming,
   * here 4 KiB): the channel fails before any copy is made. */
  hclient_next_max_incoming = 4096;
  up(&h, &c);
  uint32_t size = rin(&c)->r_size;
  uint32_t body = size - 64;
  uint8_t *p = calloc(1, size);
  assert_non_null(p);
  uint32_t len = inband(p, body, 3, 0);
  hring_inject(&h, &c, p, len, 0);
  assert_true(kmcl_channel_failed(c.ch));
  assert_int_equal(kmcl_channel_fail_reason(c.ch), -EMSGSIZE);
  assert_int_equal(c.rx, 0);
  close_down(&h, &c);

  /* With the limit raised to the ring, the copy is sized from the packet. */
  hclient_next_max_incoming = size;
  up(&h, &c);
  hring_inject(&h, &c, p, len, 0);
  assert_false(kmcl_channel_failed(c.ch));
  assert_int_equal(c.rx, 1);
  assert_int_equal(c.rx_len[0], body);
  assert_int_equal(c.rx_first[0][5], 5 + 3);
  close_down(&h, &c);

  memset(p, 0, size);
  hring_pkt(p, VM_PKT_DATA_INBAND, 2, 0xffff, 0, 0); /* 512 KiB claimed */
  expect_packet_fails(p, 64);
  free(p);
}

/* C5: unknown type, reserved flags, completions with trans_id 0 or naming
 * no transaction. (A duplicate completion: kmcl_packet_test's
 * test_hostile_duplicate_completion, on the loopback bus.) */
static void test_C5_unknown_type_flags_or_transaction(void **state) {
  (void)state;
  uint8_t p[64];
  const struct {
    uint16_t type, flags;
    uint64_t tid;
  } bad[] = {
      {0x55, 0, 0},
      {VM_PKT_DATA_INBAND, 0x8000, 0},
      {VM_PKT_DATA_INBAND, 0x0002, 0},
      {VM_PKT_COMP, 0, 0},
      {VM_PKT_COMP, 0, 0x12345},
      {VM_PKT_COMP, 0, ((uint64_t)7 << 32) | 1},
  };
  for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    memset(p, 0, sizeof(p));
    expect_packet_fails(p, hring_pkt(p, bad[i].type, 2, 4, bad[i].flags, bad[i].tid));
  }
}

/* C6: GPA-direct with no range; transfer-page header beyond offset8;
 * range_count that does not fit before the payload. */
static void test_C6_external_data_headers_inconsistent(void **state) {
  (void)state;
  uint8_t p[128];
  const struct {
    uint16_t type, off8;
    uint32_t count;
  } bad[] = {
      {VM_PKT_DATA_USING_GPA_DIRECT, 4, 0},
      {VM_PKT_DATA_USING_XFER_PAGES, 2, 0},
      {VM_PKT_DATA_USING_XFER_PAGES, 4, 100},
      {VM_PKT_DATA_USING_GPA_DIRECT, 4, 1},    /* range header needs 8 more */
      {VM_PKT_DATA_USING_GPA_DIRECT, 8, 1000}, /* more ranges than bytes */
  };
  for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    memset(p, 0, sizeof(p));
    uint32_t len = hring_pkt(p, bad[i].type, bad[i].off8, 12, 0, 0);
    memcpy(p + 20, &bad[i].count, 4);
    if (bad[i].off8 == 8) { /* one plausible range: 1 page */
      uint32_t cnt = 4096, off = 0;
      memcpy(p + 24, &cnt, 4);
      memcpy(p + 28, &off, 4);
    }
    expect_packet_fails(p, len);
  }
}

/* C7: packets that wrap the end of the data area, one whose descriptor
 * itself straddles the end: delivered intact. C11: the trailer ("previous
 * index") is garbage every time and never used. */
static void test_C7_C11_wrapping_packets_and_garbage_trailer(void **state) {
  struct hfix *f = *state;
  struct sim *h = &f->h;
  struct hclient *c = &f->c;
  uint32_t size = rin(c)->r_size;
  uint32_t wr = rin(c)->r_ctl->write_index;
  uint8_t *p = calloc(1, size);
  assert_non_null(p);
  /* a filler that leaves the write index 8 bytes before the end */
  uint32_t fill = (size - wr) - 8 - 8;
  uint32_t len = inband(p, fill - 16, 1, 0);
  hring_inject(h, c, p, len, 0xdeadbeefcafef00dull);
  assert_int_equal(rin(c)->r_ctl->write_index, size - 8);
  /* descriptor: 8 bytes at the end, 8 at the start; body wraps too */
  len = inband(p, 40, 9, 0);
  hring_inject(h, c, p, len, 0xffffffffffffffffull);
  assert_false(kmcl_channel_failed(c->ch));
  assert_int_equal(c->rx, 2);
  assert_int_equal(c->rx_len[0], fill - 16);
  assert_int_equal(c->rx_len[1], 40);
  for (int i = 0; i < 8; i++)
    assert_int_equal(c->rx_first[1][i], (uint8_t)(i + 9));
  /* a third packet straddling nothing, trailer garbage again */
  len = inband(p, 24, 77, 0);
  hring_inject(h, c, p, len, 0x1);
  assert_int_equal(c->rx, 3);
  assert_false(kmcl_channel_failed(c->ch));
  free(p);
}

/* C8: the host rewrites the packet after the guest validated it. The
 * driver sees a private copy (not ring memory) that the rewrite does not
 * change. */
static const uint8_t *c8_ring_lo, *c8_ring_hi;
static int c8_ok;
static void c8_rewrite(struct hclient *c, const void *buf, uint32_t len) {
  const uint8_t *b = buf;
  struct ring *r = rin(c);
  if (b >= c8_ring_lo && b < c8_ring_hi)
    return;                           /* not a copy */
  memset(r->r_data, 0xaa, r->r_size); /* the host rewrites everything */
  volatile uint8_t *ctl = (volatile uint8_t *)r->r_ctl;
  for (int i = 0; i < 64; i++)
    ctl[i] = 0x55;
  for (uint32_t i = 0; i < len; i++)
    if (b[i] != (uint8_t)(i + 5))
      return;
  c8_ok++;
}
static void test_C8_host_rewrites_packet_after_validation(void **state) {
  struct hfix *f = *state;
  struct sim *h = &f->h;
  struct hclient *c = &f->c;
  struct ring *r = rin(c);
  c8_ring_lo = r->r_data;
  c8_ring_hi = r->r_data + r->r_size;
  c8_ok = 0;
  c->on_rx = c8_rewrite;
  uint8_t p[256];
  hring_inject(h, c, p, inband(p, 200, 5, 0), 0);
  assert_int_equal(c->rx, 1);
  assert_int_equal(c8_ok, 1);
  /* the rewritten control page is then found invalid: the channel fails */
  hring_signal(h, c);
  expect_failed(h, c);
}

/* C9: the host plays with the signalling fields: pending_send_sz 0, huge
 * or ring - 1 on the inbound ring, feature_bits cleared, the outbound
 * interrupt_mask toggled. Traffic still flows; nothing fails. */
static void test_C9_control_page_signalling_abuse(void **state) {
  struct hfix *f = *state;
  struct hclient *c = &f->c;
  volatile struct vmbus_ring_ctl *in = rin(c)->r_ctl, *out = kc(c)->ch_out.r_ctl;
  const uint32_t pend[] = {0, 0xffffffffu, rin(c)->r_size - 1, 7};
  for (unsigned i = 0; i < 4; i++) {
    in->pending_send_sz = pend[i];
    in->feature_bits = i & 1 ? 0 : in->feature_bits;
    out->interrupt_mask = i & 1;
    out->interrupt_mask = 0;
    assert_int_equal(hclient_round_trip(c, 200, 5000), 200);
    assert_false(kmcl_channel_failed(c->ch));
  }
  assert_int_equal(c->mismatches, 0);
}

/* C10: the host never consumes the outbound ring (it keeps its interrupt
 * mask set): sends queue, nothing spins or fails; once it reads again
 * everything completes. A burst of inbound packets is delivered in bounded
 * batches. */
static void test_C10_host_never_consumes_or_floods(void **state) {
  (void)state;
  struct sim h;
  struct hclient c;
  up(&h, &c);
  volatile struct vmbus_ring_ctl *out = kc(&c)->ch_out.r_ctl;
  out->interrupt_mask = 1;
  uint64_t t0 = hw_now_ns();
  uint32_t n = hclient_round_trip(&c, 2000, 200);
  assert_true((hw_now_ns() - t0) / 1000000u < 2000);
  assert_true(n < 2000);
  assert_false(kmcl_channel_failed(c.ch));
  out->interrupt_mask = 0;
  kmcl_bus_interrupt(echo_dev_channel(h.s_echo[0])); /* the host looks again */
  struct {
    struct hclient *c;
    uint32_t n;
  } w = {&c, 2000};
  (void)w;
  for (int i = 0; i < 200 && c.completions < 2000; i++) {
    kmcl_bus_interrupt(echo_dev_channel(h.s_echo[0]));
    sim_settle();
    ev_loop_once(false);
  }
  assert_int_equal(c.completions, 2000);
  assert_int_equal(c.mismatches, 0);
  close_down(&h, &c);

  /* flood: 300 packets published at once are all delivered */
  up(&h, &c);
  uint8_t p[32];
  struct ring *r = rin(&c);
  for (int i = 0; i < 300; i++) {
    uint32_t len = inband(p, 16, (uint8_t)i, 0);
    uint32_t wr = r->r_ctl->write_index;
    for (uint32_t b = 0; b < len; b++)
      r->r_data[(wr + b) % r->r_size] = p[b];
    for (uint32_t b = 0; b < 8; b++)
      r->r_data[(wr + len + b) % r->r_size] = 0;
    r->r_ctl->write_index = (wr + len + 8) % r->r_size;
  }
  hring_signal(&h, &c);
  assert_int_equal(c.rx, 300);
  assert_false(kmcl_channel_failed(c.ch));
  close_down(&h, &c);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_C1_ring_index_out_of_range_or_unaligned),
    HRING_TEST(test_C2_available_bytes_below_minimum),
    cmocka_unit_test(test_C3_descriptor_lengths_inconsistent),
    cmocka_unit_test(test_C4_packet_larger_than_buffers),
    cmocka_unit_test(test_C5_unknown_type_flags_or_transaction),
    cmocka_unit_test(test_C6_external_data_headers_inconsistent),
    HRING_TEST(test_C7_C11_wrapping_packets_and_garbage_trailer),
    HRING_TEST(test_C8_host_rewrites_packet_after_validation),
    HRING_TEST(test_C9_control_page_signalling_abuse),
    cmocka_unit_test(test_C10_host_never_consumes_or_floods),
};

UNIT_MAIN("hostile_ring", tests)
