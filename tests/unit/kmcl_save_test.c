/* tests/unit/kmcl_save_test.c: server channel save and restore for real
 * (KMCL-REFERENCE.md section (c)): a server with N packets in flight is
 * paused and saved in chunks, disabled and cleaned up without the client
 * noticing, a fresh channel is restored from the chunks and enabled, and
 * the client's N completions all arrive at the restored packets. Also the
 * checks on the chunks (magic, version, order, checksum) and the errors. */
#include "tests/unit/unit.h"

#include <stdlib.h>
#include <string.h>

#include "tests/unit/lib/kmcl_harness.h"

#define N 5
#define WAIT VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION

struct vsp_pkt {
  uint32_t id;
};

static uint32_t done_ok[N], done_cancel[N];
static uint32_t save_calls, restore_calls;
static uint8_t done_resp0;

static void vsp_done(VMBPACKET pkt, NTSTATUS st, PVOID buf, UINT32 len) {
  struct vsp_pkt *v = VmbPacketGetPointer(pkt);
  if (st == STATUS_SUCCESS) {
    done_ok[v->id]++;
    if (buf && len)
      done_resp0 = *(uint8_t *)buf;
  } else if (st == STATUS_CANCELLED) {
    done_cancel[v->id]++;
  }
  free(v);
  VmbPacketFree(pkt);
}

/** The VSP's per-packet state is its id: 4 bytes. */
static NTSTATUS vsp_save(VMBCHANNEL ch, VMBPACKET pkt, PVOID buf, UINT32 size, PUINT32 need) {
  (void)ch;
  save_calls++;
  struct vsp_pkt *v = VmbPacketGetPointer(pkt);
  if (size < 4) {
    *need = 4;
    return STATUS_BUFFER_TOO_SMALL;
  }
  memcpy(buf, &v->id, 4);
  *need = 4;
  return STATUS_SUCCESS;
}

static NTSTATUS vsp_restore(VMBCHANNEL ch, PVOID lib, UINT32 liblen, PVOID sbuf, UINT32 slen) {
  restore_calls++;
  if (slen != 4)
    return STATUS_DATA_ERROR;
  VMBPACKET pkt = VmbPacketAllocate(ch);
  if (!pkt)
    return STATUS_INSUFFICIENT_RESOURCES;
  NTSTATUS st = VmbPacketRestore(pkt, lib, liblen);
  if (!NT_SUCCESS(st)) {
    VmbPacketFree(pkt);
    return st;
  }
  struct vsp_pkt *v = malloc(sizeof(*v));
  memcpy(&v->id, sbuf, 4);
  VmbPacketSetPointer(pkt, v);
  VmbPacketSetCompletionRoutine(pkt, vsp_done);
  return STATUS_SUCCESS;
}

static VMBCHANNEL alloc_server(struct kh_pair *p, struct kh_end *e) {
  VMBCHANNEL ch = kh_alloc(p, e, true);
  assert_int_equal(VmbServerChannelInitSetSaveRestorePacketCallbacks(ch, vsp_save, vsp_restore),
                   STATUS_SUCCESS);
  return ch;
}

struct chunks {
  uint8_t *c[64];
  uint32_t len[64];
  uint32_t n;
};

static void save_all(VMBCHANNEL ch, struct chunks *k, ULONG size) {
  memset(k, 0, sizeof(*k));
  uint8_t *buf = malloc(4096);
  ULONG filled = 0, req = 0;
  /* Too small to make progress: asks for more. */
  assert_int_equal(VmbChannelSaveContinue(ch, buf, 16, &filled, &req), STATUS_BUFFER_TOO_SMALL);
  assert_true(req > 16);
  assert_int_equal(filled, 0);
  NTSTATUS st;
  do {
    st = VmbChannelSaveContinue(ch, buf, size, &filled, &req);
    if (st == STATUS_BUFFER_TOO_SMALL) {
      assert_true(req <= 4096);
      size = req;
      continue;
    }
    assert_true(st == STATUS_SUCCESS || st == STATUS_BUFFER_OVERFLOW);
    k->c[k->n] = malloc(filled);
    memcpy(k->c[k->n], buf, filled);
    k->len[k->n++] = filled;
  } while (st != STATUS_SUCCESS);
  free(buf);
}

static void free_chunks(struct chunks *k) {
  for (uint32_t i = 0; i < k->n; i++)
    free(k->c[i]);
}

static bool all_done(void *arg) {
  (void)arg;
  for (int i = 0; i < N; i++)
    if (!done_ok[i])
      return false;
  return true;
}

/* N packets of `len` bytes (at most 1000), packet i filled with i, each
 * with a vsp_pkt recording its id for vsp_done. */
static void send_n(struct kh_end *s, uint32_t len) {
  for (uint32_t i = 0; i < N; i++) {
    VMBPACKET pkt = VmbPacketAllocate(s->ch);
    struct vsp_pkt *v = malloc(sizeof(*v));
    v->id = i;
    VmbPacketSetPointer(pkt, v);
    VmbPacketSetCompletionRoutine(pkt, vsp_done);
    uint8_t body[1000];
    memset(body, (int)i, len);
    assert_int_equal(VmbPacketSend(pkt, body, len, NULL, WAIT), STATUS_SUCCESS);
  }
}

/* kh_setup, the completion records cleared, and a pair on bus `id` whose
 * server saves and restores its packets (alloc_server); not enabled. */
static void save_pair_alloc(struct kh_pair *p, uint32_t id) {
  kh_setup();
  memset(done_ok, 0, sizeof(done_ok));
  memset(done_cancel, 0, sizeof(done_cancel));
  memset(p, 0, sizeof(*p));
  p->lb = lb_create(id);
  alloc_server(p, &p->s);
  kh_alloc(p, &p->c, false);
}

/* save_pair_alloc, enabled, and N server packets of 40 bytes in flight:
 * received by the client, which holds them (no completions yet). */
static void save_pair_in_flight(struct kh_pair *p, uint32_t id) {
  save_pair_alloc(p, id);
  kh_pair_enable(p, true);
  p->c.hold = true;
  send_n(&p->s, 40);
  assert_true(kh_wait_rx(&p->c, N));
}

/* Feed the saved chunks to `ch` in order: each but the last asks for more. */
static void restore_chunks(VMBCHANNEL ch, const struct chunks *k) {
  for (uint32_t i = 0; i < k->n; i++)
    assert_int_equal(VmbChannelRestoreFromBuffer(ch, k->c[i], k->len[i]),
                     i + 1 < k->n ? STATUS_MORE_PROCESSING_REQUIRED : STATUS_SUCCESS);
}

/* The saved server is done with: end the save, disable and clean it up. */
static void retire_saved(VMBCHANNEL ch) {
  VmbChannelSaveEnd(ch);
  VmbChannelDisable(ch);
  VmbChannelCleanup(ch);
}

/* The restored server `s2` becomes the pair's server; the chunks are freed
 * and the pair closed, nothing leaked. */
static void adopt_and_done(struct kh_pair *p, const struct kh_end *s2, struct chunks *k) {
  p->s = *s2;
  VmbChannelSetPointer(p->s.ch, &p->s);
  free_chunks(k);
  kh_pair_done(p);
}

static void test_save_restore_in_flight(void **state) {
  (void)state;
  struct kh_pair p;
  save_pair_in_flight(&p, 9);
  save_calls = restore_calls = 0;

  /* Save: paused first (section (e)). */
  assert_int_equal(VmbChannelSaveBegin(p.s.ch), STATUS_INVALID_DEVICE_STATE);
  VmbChannelPause(p.s.ch);
  assert_int_equal(VmbChannelSaveBegin(p.s.ch), STATUS_SUCCESS);
  assert_int_equal(save_calls, 2 * N); /* probe with size 0, then the real call */
  assert_int_equal(VmbChannelSaveBegin(p.s.ch), STATUS_INVALID_DEVICE_STATE);
  struct chunks k;
  save_all(p.s.ch, &k, 200); /* small chunks: several of them */
  assert_true(k.n >= 3);
  VmbChannelSaveEnd(p.s.ch);

  /* Hand over: the old channel goes; the client is not told. */
  unsigned mark = kh_log_len();
  VmbChannelDisable(p.s.ch);
  VmbChannelCleanup(p.s.ch);
  p.s.ch = NULL;
  lb_pump();
  for (int i = 0; i < N; i++)
    assert_int_equal(done_cancel[i], 1); /* the old objects were retired */
  assert_string_equal(kh_log_tag('C', mark), "");
  assert_int_equal(p.c.ch->ch_conn, KC_OPEN);

  /* Restore into a fresh channel, chunk by chunk. */
  struct kh_end s2;
  alloc_server(&p, &s2);
  restore_chunks(s2.ch, &k);
  assert_int_equal(restore_calls, N);
  assert_int_equal(s2.ch->ch_xid_busy, N);
  mark = kh_log_len();
  assert_int_equal(VmbChannelEnable(s2.ch), STATUS_SUCCESS);
  VmbChannelStart(s2.ch);
  lb_pump();
  assert_string_equal(kh_log_str(mark), "S:Opened S:Started S:PostStarted");

  /* The client answers now; every completion reaches a restored packet. */
  kh_complete_held(&p.c);
  assert_true(kh_wait(all_done, NULL, 2000));
  for (int i = 0; i < N; i++)
    assert_int_equal(done_ok[i], 1);
  assert_int_equal(done_resp0, 0xc0);
  assert_false(kmcl_channel_failed(s2.ch));
  assert_false(kmcl_channel_failed(p.c.ch));
  /* And traffic goes on both ways. */
  p.c.hold = false;
  assert_int_equal(kh_send(&p.c, "ping0000", 8, WAIT), STATUS_SUCCESS);
  assert_true(kh_wait_comp(&p.c, 1));
  assert_int_equal(s2.rx_count, 1);
  adopt_and_done(&p, &s2, &k);
}

static void test_restore_rejects_bad_chunks(void **state) {
  (void)state;
  struct kh_pair p;
  save_pair_in_flight(&p, 10);
  VmbChannelPause(p.s.ch);
  ULONG f0, r0;
  uint8_t b0[64];
  assert_int_equal(VmbChannelSaveBegin(NULL), STATUS_INVALID_PARAMETER_1);
  assert_int_equal(VmbChannelSaveContinue(p.s.ch, b0, sizeof(b0), &f0, &r0),
                   STATUS_INVALID_DEVICE_STATE); /* no SaveBegin yet */
  assert_int_equal(VmbChannelSaveBegin(p.s.ch), STATUS_SUCCESS);
  assert_int_equal(VmbChannelSaveContinue(NULL, b0, sizeof(b0), &f0, &r0),
                   STATUS_INVALID_PARAMETER_1);
  assert_int_equal(VmbChannelSaveContinue(p.s.ch, NULL, sizeof(b0), &f0, &r0),
                   STATUS_INVALID_PARAMETER_2);
  assert_int_equal(VmbChannelSaveContinue(p.s.ch, b0, sizeof(b0), NULL, &r0),
                   STATUS_INVALID_PARAMETER);
  /* Init calls are refused while a save is in progress. */
  assert_int_equal(VmbChannelInitSetFlags(p.s.ch, 0), STATUS_INVALID_PARAMETER_1);
  struct chunks k;
  save_all(p.s.ch, &k, 4096); /* one chunk */
  assert_int_equal(k.n, 1);
  /* Once everything is out, SaveContinue says so with nothing filled. */
  uint8_t tmp[64];
  ULONG f = 1, r = 1;
  assert_int_equal(VmbChannelSaveContinue(p.s.ch, tmp, sizeof(tmp), &f, &r), STATUS_SUCCESS);
  assert_int_equal(f, 0);
  VmbChannelSaveEnd(p.s.ch);

  struct kh_end s2;
  alloc_server(&p, &s2);
  uint8_t *bad = malloc(k.len[0]);
  restore_calls = 0;
  /* wrong magic */
  memcpy(bad, k.c[0], k.len[0]);
  bad[0] ^= 1;
  assert_int_equal(VmbChannelRestoreFromBuffer(s2.ch, bad, k.len[0]), STATUS_DATA_ERROR);
  /* wrong version */
  memcpy(bad, k.c[0], k.len[0]);
  bad[4] = 9;
  assert_int_equal(VmbChannelRestoreFromBuffer(s2.ch, bad, k.len[0]), STATUS_REVISION_MISMATCH);
  /* a flipped payload byte: checksum */
  memcpy(bad, k.c[0], k.len[0]);
  bad[k.len[0] - 3] ^= 0x40;
  assert_int_equal(VmbChannelRestoreFromBuffer(s2.ch, bad, k.len[0]), STATUS_DATA_ERROR);
  /* truncated */
  assert_int_equal(VmbChannelRestoreFromBuffer(s2.ch, k.c[0], k.len[0] - 8), STATUS_DATA_ERROR);
  assert_int_equal(VmbChannelRestoreFromBuffer(s2.ch, k.c[0], 10), STATUS_DATA_ERROR);
  /* out of order (sequence 1 first) */
  memcpy(bad, k.c[0], k.len[0]);
  bad[8] = 1;
  assert_int_equal(VmbChannelRestoreFromBuffer(s2.ch, bad, k.len[0]), STATUS_DATA_ERROR);
  assert_int_equal(VmbChannelRestoreFromBuffer(NULL, k.c[0], k.len[0]), STATUS_INVALID_PARAMETER_1);
  assert_int_equal(VmbChannelRestoreFromBuffer(s2.ch, NULL, k.len[0]), STATUS_INVALID_PARAMETER_2);
  assert_int_equal(restore_calls, 0);
  /* VmbPacketRestore checks its LibBuf too. */
  VMBPACKET pkt = VmbPacketAllocate(s2.ch);
  uint8_t junk[64] = {0};
  assert_int_equal(VmbPacketRestore(pkt, junk, sizeof(junk)), STATUS_INVALID_PARAMETER_3);
  assert_int_equal(VmbPacketRestore(pkt, NULL, 8), STATUS_INVALID_PARAMETER_2);
  assert_int_equal(VmbPacketRestore(NULL, junk, 8), STATUS_INVALID_PARAMETER_1);
  VmbPacketFree(pkt);
  /* The intact chunk still restores. */
  assert_int_equal(VmbChannelRestoreFromBuffer(s2.ch, k.c[0], k.len[0]), STATUS_SUCCESS);
  assert_int_equal(restore_calls, N);
  /* Not on an enabled channel. */
  assert_int_equal(VmbChannelRestoreFromBuffer(p.c.ch, k.c[0], k.len[0]),
                   STATUS_INVALID_DEVICE_STATE);
  free(bad);
  free_chunks(&k);
  /* s2 never enabled: its restored packets are cancelled at cleanup. */
  VmbChannelCleanup(s2.ch);
  for (int i = 0; i < N; i++)
    assert_int_equal(done_cancel[i] >= 1, 1);
  VmbChannelStart(p.s.ch);
  kh_pair_done(&p);
}

static bool is_disabled(void *arg) { return ((VMBCHANNEL)arg)->ch_conn == KC_DISABLED; }

static void test_restore_force_new_channel(void **state) {
  (void)state;
  struct kh_pair p;
  save_pair_in_flight(&p, 11);
  VmbChannelPause(p.s.ch);
  assert_int_equal(VmbChannelSaveBegin(p.s.ch), STATUS_SUCCESS);
  struct chunks k;
  save_all(p.s.ch, &k, 4096);
  retire_saved(p.s.ch);
  struct kh_end s2;
  alloc_server(&p, &s2);
  assert_int_equal(
      VmbServerChannelInitSetFlags(s2.ch, VMBUS_SERVER_CHANNEL_INIT_FLAG_FORCE_NEW_CHANNEL),
      STATUS_SUCCESS);
  restore_chunks(s2.ch, &k);
  unsigned mark = kh_log_len();
  /* A fresh offer: the old connection is rescinded, the restored in-flight
   * packets are cancelled (their ring is gone). */
  assert_int_equal(VmbChannelEnable(s2.ch), STATUS_SUCCESS);
  for (int i = 0; i < N; i++)
    assert_int_equal(done_cancel[i], 2);
  kh_complete_held(&p.c); /* the client owes its tokens before Closed */
  assert_true(kh_wait(is_disabled, p.c.ch, 2000));
  assert_string_equal(kh_log_tag('C', mark), "C:Suspend C:holding0 C:Closed");
  VmbChannelStart(s2.ch);
  assert_int_equal(VmbChannelEnable(p.c.ch), STATUS_SUCCESS);
  lb_pump();
  assert_string_equal(kh_log_tag('S', mark), "S:Opened S:Started S:PostStarted");
  p.c.hold = false;
  assert_int_equal(kh_send(&p.c, "ping0000", 8, WAIT), STATUS_SUCCESS);
  assert_true(kh_wait_comp(&p.c, 1));
  adopt_and_done(&p, &s2, &k);
}

/* Some packets in the ring, some still queued behind a full ring: both
 * kinds survive the save, the queued ones are sent by the restored channel.
 * `live_peer` (audit finding D1): the client runs and completes what it
 * received between SaveBegin and the end of the save, so the paused server
 * must not write its queued packets meanwhile; every packet then arrives
 * exactly once across the restore (5 sends, 5 receptions, 5 completions). */
static void save_restore_queued(bool live_peer) {
  struct kh_pair p;
  save_pair_alloc(&p, 12);
  kh_pair_small_rings(&p, 1024, 2, 1024);
  kh_pair_enable(&p, true);
  VmbChannelPause(p.c.ch); /* the client reads nothing: the ring fills */
  p.c.hold = !live_peer;
  send_n(&p.s, 1000);
  lb_pump();
  assert_int_equal(p.s.ch->ch_txq_len, 2); /* 3 x 1024 bytes fit in 4 KiB */
  VmbChannelPause(p.s.ch);
  assert_int_equal(VmbChannelSaveBegin(p.s.ch), STATUS_SUCCESS);
  if (live_peer) {
    /* The client reads and completes the 3; the ring has room again. */
    VmbChannelStart(p.c.ch);
    assert_true(kh_wait_rx(&p.c, 3));
    lb_pump();
    assert_int_equal(p.c.rx_count, 3); /* the queued two stay queued */
    assert_int_equal(p.s.ch->ch_txq_len, 2);
  }
  struct chunks k;
  save_all(p.s.ch, &k, 4096);
  retire_saved(p.s.ch);
  struct kh_end s2;
  alloc_server(&p, &s2);
  assert_int_equal(VmbChannelInitSetMaximumPacketSize(s2.ch, 1024), STATUS_SUCCESS);
  restore_chunks(s2.ch, &k);
  assert_int_equal(s2.ch->ch_txq_len, 2);
  assert_int_equal(VmbChannelEnable(s2.ch), STATUS_SUCCESS);
  VmbChannelStart(s2.ch);
  lb_pump();
  if (!live_peer)
    VmbChannelStart(p.c.ch); /* the client reads: 3, then the 2 queued ones */
  assert_true(kh_wait_rx(&p.c, N));
  assert_int_equal(p.c.rx_last[0], N - 1); /* in order */
  kh_complete_held(&p.c);
  assert_true(kh_wait(all_done, NULL, 2000));
  lb_pump();
  assert_int_equal(p.c.rx_count, N); /* exactly once each */
  for (int i = 0; i < N; i++)
    assert_int_equal(done_ok[i], 1);
  assert_false(kmcl_channel_failed(s2.ch));
  assert_false(kmcl_channel_failed(p.c.ch));
  p.c.hold = false;
  adopt_and_done(&p, &s2, &k);
}

static void test_save_restore_queued(void **state) {
  (void)state;
  save_restore_queued(false);
}

/* Audit D1. */
static void test_d1_save_is_a_snapshot(void **state) {
  (void)state;
  save_restore_queued(true);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_save_restore_queued),
    cmocka_unit_test(test_d1_save_is_a_snapshot),
    cmocka_unit_test(test_restore_force_new_channel),
    cmocka_unit_test(test_save_restore_in_flight),
    cmocka_unit_test(test_restore_rejects_bad_chunks),
};

UNIT_MAIN("kmcl_save", tests)
