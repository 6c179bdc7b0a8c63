/* tests/unit/kmcl_packet_test.c: KMCL packets end to end, client <-> server
 * over the loopback bus: inband, GPA direct (MDL and PFNs), transfer pages,
 * completions, queueing on a full ring and its drain, synchronous requests,
 * pipe mode, and a hostile peer (unknown and duplicate completions,
 * malformed packets, a corrupt ring), each giving a failed channel. Wire
 * bytes are compared with layouts written out by hand from
 * PROTOCOL-REFERENCE.md section 3. */
#include "tests/unit/unit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/event.h"
#include "kernel/hw.h"
#include "kernel/page.h"
#include "kernel/timer.h"
#include "tests/unit/lib/kmcl_harness.h"
#include "tests/unit/lib/le_bytes.h"

#define WAIT VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION

static uint8_t msg[24] = "0123456789abcdefghijklm";

/* ---- helpers --------------------------------------------------------------------- */

/** Write raw bytes as one packet into `from`'s outgoing ring (a hostile
 * peer's view), then interrupt the other side. */
static void inject(VMBCHANNEL from, VMBCHANNEL to, const uint8_t *pkt, uint32_t len) {
  struct ring_iov iov = {pkt, len};
  bool sig = false;
  assert_int_equal(ring_write(&from->ch_out, &iov, 1, &sig), 0);
  kmcl_bus_interrupt(to);
  lb_pump();
}

/** A raw descriptor: type, offset8, len8, flags, trans_id. */
static void desc(uint8_t *p, uint16_t type, uint16_t off8, uint16_t len8, uint16_t flags,
                 uint64_t tid) {
  put16(p, type);
  put16(p + 2, off8);
  put16(p + 4, len8);
  put16(p + 6, flags);
  put64(p + 8, tid);
}

/** The channel failed with -EPROTO and stays failed: a send from the peer
 * delivers nothing more. */
static void expect_failed_sticky(struct kh_pair *p, VMBCHANNEL ch, uint32_t rx_before) {
  assert_true(kmcl_channel_failed(ch));
  assert_int_equal(kmcl_channel_fail_reason(ch), -EPROTO);
  /* Sticky: nothing more is delivered. */
  struct kh_end *e = VmbChannelGetPointer(ch);
  struct kh_end *peer = e == &p->c ? &p->s : &p->c;
  kh_send(peer, msg, sizeof(msg), 0);
  lb_pump();
  assert_int_equal(e->rx_count, rx_before);
}

/* ---- tests ----------------------------------------------------------------------- */

static void test_inband_round_trip(void **state) {
  struct kh_pair *p = *state;
  uint8_t big[1000];
  for (unsigned i = 0; i < sizeof(big); i++)
    big[i] = (uint8_t)(i * 7);
  assert_int_equal(kh_send(&p->c, big, 1000, WAIT), STATUS_SUCCESS);
  assert_true(kh_wait_comp(&p->c, 1));
  assert_int_equal(p->s.rx_count, 1);
  assert_int_equal(p->s.rx_last_len, 1000); /* already a multiple of 8 */
  assert_memory_equal(p->s.rx_last, big, 1000);
  assert_int_equal(p->s.rx_last_flags, 0);
  /* The completion carries the server's payload (an echo here). */
  assert_int_equal(p->c.comp_status, STATUS_SUCCESS);
  assert_int_equal(p->c.comp_len, 1000);
  assert_memory_equal(p->c.comp_buf, big, 1000);
  /* Server to client too; the length the peer sees is padded to 8. */
  assert_int_equal(kh_send(&p->s, msg, 21, WAIT), STATUS_SUCCESS);
  assert_true(kh_wait_comp(&p->s, 1));
  assert_int_equal(p->c.rx_last_len, 24);
  assert_memory_equal(p->c.rx_last, msg, 21);
  assert_int_equal(p->c.rx_last[21], 0);
}

static void test_no_wait_completes_when_in_ring(void **state) {
  struct kh_pair *p = *state;
  VmbChannelPause(p->s.ch); /* nobody reads */
  assert_int_equal(kh_send(&p->c, msg, sizeof(msg), 0), STATUS_SUCCESS);
  lb_pump();
  assert_int_equal(p->c.comp_count, 1); /* in the ring is enough */
  assert_int_equal(p->s.rx_count, 0);
  VmbChannelStart(p->s.ch);
  assert_true(kh_wait_rx(&p->s, 1));
}

static void test_wire_format_inband(void **state) {
  struct kh_pair *p = *state;
  VmbChannelPause(p->s.ch);
  struct ring *r = &p->c.ch->ch_out;
  uint32_t w0 = r->r_ctl->write_index;
  assert_int_equal(kh_send(&p->c, "hello", 5, WAIT), STATUS_SUCCESS);
  assert_int_equal(kh_send(&p->c, "abcdefgh", 8, 0), STATUS_SUCCESS);
  uint64_t tid = p->c.ch->ch_xids[0].xs_tid;
  assert_true(tid != 0);
  /* PROTOCOL-REFERENCE.md 3.2, by hand: descriptor {type 6, offset8 2,
   * len8 3 (16 + 5 rounded to 24), flags 1, trans_id}, payload, zero pad,
   * trailer = start index << 32; then the second packet at +32. */
  uint8_t want[32 + 32];
  memset(want, 0, sizeof(want));
  const uint8_t d1[16] = {6, 0, 2, 0, 3, 0, 1, 0};
  memcpy(want, d1, 16);
  put64(want + 8, tid);
  memcpy(want + 16, "hello", 5);
  put64(want + 24, (uint64_t)w0 << 32);
  const uint8_t d2[16] = {6, 0, 2, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  memcpy(want + 32, d2, 16);
  memcpy(want + 48, "abcdefgh", 8);
  put64(want + 56, (uint64_t)(w0 + 32) << 32);
  assert_memory_equal(r->r_data + w0, want, sizeof(want));
  assert_int_equal(r->r_ctl->write_index, w0 + 64);
  VmbChannelStart(p->s.ch);
  assert_true(kh_wait_comp(&p->c, 2));
}

static void test_gpa_direct_mdl(void **state) {
  struct kh_pair *p = *state;
  uint8_t *buf = page_alloc(2);
  for (int i = 0; i < 8192; i++)
    buf[i] = (uint8_t)(i ^ 0x5a);
  PMDL mdl = kmcl_mdl_alloc(buf + 100, 5000);
  assert_non_null(mdl);
  assert_int_equal(kmcl_mdl_page_count(mdl), 2);
  VmbChannelPause(p->s.ch);
  VMBPACKET pkt = VmbPacketAllocate(p->c.ch);
  VmbPacketSetPointer(pkt, &p->c);
  VmbPacketSetCompletionRoutine(pkt, kh_comp_free);
  struct ring *r = &p->c.ch->ch_out;
  uint32_t w0 = r->r_ctl->write_index;
  assert_int_equal(VmbPacketSendWithExternalMdl(pkt, msg, 16, mdl, 0, 0, WAIT), STATUS_SUCCESS);
  /* By hand: type 9, offset8 6 (16 desc + 8 hdr + 8 range + 2*8 pfns = 48),
   * len8 8 (48 + 16 payload), flags 1; reserved 0, range_cnt 1; range
   * {5000, 100, pfn0, pfn1}. */
  uint8_t want[64];
  memset(want, 0, sizeof(want));
  desc(want, 9, 6, 8, 1, p->c.ch->ch_xids[0].xs_tid);
  put32(want + 20, 1);
  put32(want + 24, 5000);
  put32(want + 28, 100);
  put64(want + 32, hw_virt_to_phys(buf) >> 12);
  put64(want + 40, hw_virt_to_phys(buf + 4096) >> 12);
  memcpy(want + 48, msg, 16);
  assert_memory_equal(r->r_data + w0, want, sizeof(want));
  p->s.get_ext = true;
  VmbChannelStart(p->s.ch);
  assert_true(kh_wait_comp(&p->c, 1));
  assert_int_equal(p->s.rx_last_flags, VMBUS_CHANNEL_PROCESS_PACKET_FLAG_EXTERNAL_DATA);
  assert_int_equal(p->s.rx_ext_bytes, 5000);
  assert_int_equal(p->s.rx_ext_first, buf[100]);
  assert_int_equal(p->s.rx_last_len, 16);
  /* A sub-range (offset 10, length 20) and the PFN form. */
  p->c.comp_count = 0;
  pkt = VmbPacketAllocate(p->c.ch);
  VmbPacketSetPointer(pkt, &p->c);
  VmbPacketSetCompletionRoutine(pkt, kh_comp_free);
  assert_int_equal(VmbPacketSendWithExternalMdl(pkt, msg, 8, mdl, 10, 20, WAIT), STATUS_SUCCESS);
  assert_true(kh_wait_comp(&p->c, 1));
  assert_int_equal(p->s.rx_ext_bytes, 20);
  assert_int_equal(p->s.rx_ext_first, buf[110]);
  PFN_NUMBER pfns[2] = {hw_virt_to_phys(buf) >> 12, hw_virt_to_phys(buf + 4096) >> 12};
  pkt = VmbPacketAllocate(p->c.ch);
  VmbPacketSetPointer(pkt, &p->c);
  VmbPacketSetCompletionRoutine(pkt, kh_comp_free);
  assert_int_equal(VmbPacketSendWithExternalPfns(pkt, msg, 8, pfns, 2, WAIT), STATUS_SUCCESS);
  assert_true(kh_wait_comp(&p->c, 2));
  assert_int_equal(p->s.rx_ext_bytes, 8192);
  assert_int_equal(p->s.rx_ext_first, buf[0]);
  /* FORCE_MDL_LENGTH: up to the end of the first MDL's last page. */
  pkt = VmbPacketAllocate(p->c.ch);
  VmbPacketSetPointer(pkt, &p->c);
  VmbPacketSetCompletionRoutine(pkt, kh_comp_free);
  assert_int_equal(VmbPacketSendWithExternalMdl(pkt, msg, 8, mdl, 0, 8192 - 100,
                                                WAIT | VMBUS_CHANNEL_FORMAT_FLAG_FORCE_MDL_LENGTH),
                   STATUS_SUCCESS);
  assert_true(kh_wait_comp(&p->c, 3));
  assert_int_equal(p->s.rx_ext_bytes, 8192 - 100);
  /* Past the page end, or without FORCE, is refused. */
  pkt = VmbPacketAllocate(p->c.ch);
  assert_int_equal(VmbPacketSendWithExternalMdl(pkt, msg, 8, mdl, 0, 8192 - 99,
                                                WAIT | VMBUS_CHANNEL_FORMAT_FLAG_FORCE_MDL_LENGTH),
                   STATUS_INVALID_PARAMETER);
  assert_int_equal(VmbPacketSendWithExternalMdl(pkt, msg, 8, mdl, 0, 5001, WAIT),
                   STATUS_INVALID_PARAMETER);
  /* External data needs WAIT_FOR_COMPLETION (section (e), Q13). */
  assert_int_equal(VmbPacketSend(pkt, msg, 8, mdl, 0), STATUS_INVALID_PARAMETER);
  assert_int_equal(VmbPacketSendWithExternalMdl(pkt, msg, 8, mdl, 0, 0, 0),
                   STATUS_INVALID_PARAMETER);
  assert_int_equal(VmbPacketSendWithExternalPfns(pkt, msg, 8, pfns, 2, 0),
                   STATUS_INVALID_PARAMETER);
  assert_int_equal(VmbPacketSendWithExternalPfns(pkt, msg, 8, pfns, 0, WAIT),
                   STATUS_INVALID_PARAMETER);
  VmbPacketFree(pkt);
  kmcl_mdl_free(mdl);
  page_free(buf, 2);
}

static void test_mdl_chain(void **state) {
  struct kh_pair *p = *state;
  uint8_t *a = page_alloc(1), *b = page_alloc(1);
  memset(a, 0x11, 4096);
  memset(b, 0x22, 4096);
  PMDL m1 = kmcl_mdl_alloc(a + 4000, 96), m2 = kmcl_mdl_alloc(b, 300);
  m1->Next = m2;
  p->s.get_ext = true;
  VMBPACKET pkt = VmbPacketAllocate(p->c.ch);
  VmbPacketSetPointer(pkt, &p->c);
  VmbPacketSetCompletionRoutine(pkt, kh_comp_free);
  assert_int_equal(VmbPacketSend(pkt, msg, 8, m1, WAIT), STATUS_SUCCESS);
  assert_true(kh_wait_comp(&p->c, 1));
  /* Two ranges, one per MDL of the chain. */
  assert_int_equal(p->s.rx_ext_bytes, 396);
  assert_int_equal(p->s.rx_ext_nmdl, 2);
  assert_int_equal(p->s.rx_ext_off0, 4000);
  kmcl_mdl_free(m1);
  kmcl_mdl_free(m2);
  page_free(a, 1);
  page_free(b, 1);
}

static void test_xfer_pages_receive(void **state) {
  struct kh_pair *p = *state;
  /* The client's receive buffer: 4 pages, as a GPADL bound to pageset 0xCAFE. */
  uint8_t *rb = page_alloc(4);
  for (int i = 0; i < 4 * 4096; i++)
    rb[i] = (uint8_t)(i / 16);
  UINT32 gh = 0;
  assert_int_equal(VmbChannelCreateGpadlFromBuffer(p->c.ch, 0, rb, 4 * 4096, &gh), STATUS_SUCCESS);
  assert_int_equal(kmcl_channel_bind_xfer_pageset(p->c.ch, 0xcafe, gh), STATUS_SUCCESS);
  assert_int_equal(kmcl_channel_bind_xfer_pageset(p->c.ch, 0xcafe, gh + 99),
                   STATUS_INVALID_PARAMETER_3);
  /* The host sends: type 7, offset8 5 (24 + 2 ranges), 8 bytes of payload. */
  uint8_t pkt[48];
  memset(pkt, 0, sizeof(pkt));
  desc(pkt, 7, 5, 6, 0, 0x77);
  put16(pkt + 16, 0xcafe);
  put32(pkt + 20, 2);
  put32(pkt + 24, 100);  /* byte_count */
  put32(pkt + 28, 4090); /* byte_offset: crosses a page */
  put32(pkt + 32, 16);
  put32(pkt + 36, 8192);
  memcpy(pkt + 40, "payload!", 8);
  p->c.get_ext = true;
  inject(p->s.ch, p->c.ch, pkt, sizeof(pkt));
  assert_int_equal(p->c.rx_count, 1);
  assert_int_equal(p->c.rx_last_flags, VMBUS_CHANNEL_PROCESS_PACKET_FLAG_EXTERNAL_DATA);
  assert_memory_equal(p->c.rx_last, "payload!", 8);
  assert_int_equal(p->c.rx_ext_bytes, 116);
  assert_int_equal(p->c.rx_ext_first, rb[4090]);
  assert_int_equal(p->c.rx_ext_off0, 4090);
  assert_int_equal(p->c.rx_ext_pages0, 2);
  assert_int_equal(p->c.rx_ext_nmdl, 2);
  assert_int_equal(p->c.rx_ext_cnt1, 16);
  assert_false(kmcl_channel_failed(p->c.ch));
  /* A range outside the page set: defined error and a failed channel. */
  put32(pkt + 36, 4 * 4096 - 8);
  inject(p->s.ch, p->c.ch, pkt, sizeof(pkt));
  assert_true(kmcl_channel_failed(p->c.ch));
  VmbChannelDeleteGpadl(p->c.ch, gh);
  page_free(rb, 4);
}

static void test_full_ring_queue_and_drain(void **state) {
  struct kh_pair *p = *state;
  /* 2 pages per direction: 4 KiB of data each way. */
  kh_pair_small_rings(p, 1024, 2, 1024);
  kh_pair_enable(p, false);
  assert_int_equal(p->c.ch->ch_out.r_size, 4096);
  /* Server not started: nothing is read. 20 x 1000 bytes cannot fit. */
  uint8_t b[1000];
  for (uint32_t i = 0; i < 20; i++) {
    memset(b, (int)i, sizeof(b));
    assert_int_equal(kh_send(&p->c, b, sizeof(b), 0), STATUS_SUCCESS);
  }
  lb_pump();
  assert_true(p->c.ch->ch_txq_len > 0);
  assert_true(p->c.comp_count < 20);
  assert_int_equal(p->c.comp_count + p->c.ch->ch_txq_len, 20);
  /* The blocked writer asked for exactly one packet's space. */
  assert_int_equal(p->c.ch->ch_out.r_ctl->pending_send_sz, RING_PKT_SPACE(16 + 1000));
  VmbChannelStart(p->s.ch);
  assert_true(kh_wait_rx(&p->s, 20));
  assert_true(kh_wait_comp(&p->c, 20));
  assert_int_equal(p->c.ch->ch_txq_len, 0);
  assert_int_equal(p->c.ch->ch_out.r_ctl->pending_send_sz, 0);
  assert_int_equal(p->s.rx_last[0], 19);              /* in order: the last one last */
  assert_true(lb_stats(p->lb)->st_sig_to_client > 0); /* pending_send_sz wake-ups */
}

static void test_random_sizes_through_small_ring(void **state) {
  struct kh_pair *p = *state;
  kh_pair_small_rings(p, 3000, 3, 3000);
  kh_pair_enable(p, true);
  uint8_t *b = malloc(3000);
  uint64_t sum = 0;
  uint32_t seed = 12345, n = 20000;
  for (uint32_t i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    uint32_t len = 8 * (1 + (seed >> 16) % 375); /* 8..3000, multiples of 8 */
    for (uint32_t j = 0; j < len; j++) {
      b[j] = (uint8_t)(seed >> (j % 24));
      sum += b[j];
    }
    assert_int_equal(kh_send(&p->c, b, len, WAIT), STATUS_SUCCESS);
    if ((i & 63) == 0)
      lb_pump();
  }
  assert_true(kh_wait_comp(&p->c, n));
  assert_int_equal(p->s.rx_count, n);
  assert_true(p->s.rx_sum == sum);
  assert_int_equal(p->c.comp_status, STATUS_SUCCESS);
  assert_int_equal(p->c.ch->ch_xid_busy, 0);
  free(b);
}

static void test_sync_request(void **state) {
  struct kh_pair *p = *state;
  uint8_t resp[64];
  UINT32 rl = sizeof(resp);
  LARGE_INTEGER to = {.QuadPart = -10000000}; /* 1 s relative */
  assert_int_equal(VmbChannelSendSynchronousRequest(p->c.ch, msg, 24, NULL, WAIT, resp, &rl, &to),
                   STATUS_SUCCESS);
  assert_int_equal(rl, 24);
  assert_memory_equal(resp, msg, 24);
  /* Size must be a multiple of 8. */
  rl = 12;
  assert_int_equal(VmbChannelSendSynchronousRequest(p->c.ch, msg, 24, NULL, WAIT, resp, &rl, &to),
                   STATUS_INVALID_PARAMETER);
  /* The peer never answers: cancelled at the timeout; the late completion
   * is then absorbed, not taken for an unknown id. */
  p->s.hold = true;
  rl = sizeof(resp);
  to.QuadPart = -500000; /* 50 ms */
  assert_int_equal(VmbChannelSendSynchronousRequest(p->c.ch, msg, 24, NULL, WAIT, resp, &rl, &to),
                   STATUS_CANCELLED);
  assert_int_equal(p->s.nheld, 1);
  kh_complete_held(&p->s);
  lb_pump();
  assert_false(kmcl_channel_failed(p->c.ch));
  assert_int_equal(p->c.ch->ch_xid_busy, 0);
  p->s.hold = false;
  /* Timeout 0 without WAIT: in the ring now, or STATUS_BUFFER_OVERFLOW. */
  to.QuadPart = 0;
  assert_int_equal(VmbChannelSendSynchronousRequest(p->c.ch, msg, 24, NULL, 0, NULL, NULL, &to),
                   STATUS_SUCCESS);
  assert_true(kh_wait_rx(&p->s, 3)); /* the echo, the held one, this one */
}

static void test_sync_request_no_room(void **state) {
  struct kh_pair *p = *state;
  kh_pair_small_rings(p, 1024, 2, 1024);
  kh_pair_enable(p, false);
  uint8_t b[1000] = {0};
  LARGE_INTEGER zero = {.QuadPart = 0};
  NTSTATUS st;
  int ok = 0;
  while ((st = VmbChannelSendSynchronousRequest(p->c.ch, b, sizeof(b), NULL, 0, NULL, NULL,
                                                &zero)) == STATUS_SUCCESS)
    ok++;
  assert_int_equal(st, STATUS_BUFFER_OVERFLOW); /* did not fit, not queued */
  assert_int_equal(ok, 3);
  assert_int_equal(p->c.ch->ch_txq_len, 0);
}

static void test_sync_request_device_removed(void **state) {
  struct kh_pair *p = *state;
  UINT32 rl = 0;
  assert_int_equal(VmbChannelSendSynchronousRequest(p->c.ch, msg, 8, NULL, WAIT, NULL, &rl, NULL),
                   STATUS_DEVICE_REMOVED); /* Disabled */
}

static void test_packet_initialize(void **state) {
  struct kh_pair *p = *state;
  UINT32 sz = VmbChannelSizeofPacket(p->c.ch);
  assert_true(sz > KMCL_DEFAULT_MAX_PACKET + sizeof(void *));
  void *mem = aligned_alloc(8, sz);
  assert_int_equal(VmbPacketInitialize(NULL, mem, sz), STATUS_INVALID_PARAMETER_1);
  assert_int_equal(VmbPacketInitialize(p->c.ch, NULL, sz), STATUS_INVALID_PARAMETER_2);
  assert_int_equal(VmbPacketInitialize(p->c.ch, mem, KMCL_DEFAULT_MAX_PACKET + 8),
                   STATUS_INVALID_PARAMETER_3);
  assert_int_equal(VmbPacketInitialize(p->c.ch, mem, sz - 1), STATUS_INVALID_PARAMETER_3);
  assert_int_equal(VmbPacketInitialize(p->c.ch, mem, sz), STATUS_SUCCESS);
  VMBPACKET pkt = mem;
  /* No completion routine yet: sending is refused. */
  assert_int_equal(VmbPacketSend(pkt, msg, 8, NULL, 0), STATUS_INVALID_PARAMETER_1);
  VmbPacketSetCompletionRoutine(pkt, kh_comp_free);
  VmbPacketSetPointer(pkt, &p->c);
  assert_ptr_equal(VmbPacketGetPointer(pkt), &p->c);
  assert_ptr_equal(VmbPacketGetChannel(pkt), p->c.ch);
  assert_int_equal(VmbPacketSend(pkt, msg, 8, NULL, 0x8), STATUS_INVALID_PARAMETER);
  assert_int_equal(VmbPacketSend(pkt, NULL, 8, NULL, 0), STATUS_INVALID_PARAMETER_2);
  assert_int_equal(VmbPacketSend(pkt, msg, KMCL_DEFAULT_MAX_PACKET + 1, NULL, 0),
                   STATUS_INVALID_PARAMETER_3);
  VmbChannelPause(p->s.ch);
  assert_int_equal(VmbPacketSend(pkt, msg, 8, NULL, WAIT), STATUS_SUCCESS);
  /* In flight: a second send and a free are refused. */
  assert_int_equal(VmbPacketSend(pkt, msg, 8, NULL, WAIT), STATUS_INVALID_DEVICE_STATE);
  VmbChannelStart(p->s.ch);
  assert_true(kh_wait_comp(&p->c, 1)); /* kh_comp_free "frees" it: forgotten */
  free(mem);
}

static void test_packet_reuse_and_pool(void **state) {
  struct kh_pair *p = *state;
  VMBPACKET a = VmbPacketAllocate(p->c.ch);
  VmbPacketFree(a);
  VMBPACKET b = VmbPacketAllocate(p->c.ch);
  assert_ptr_equal(a, b); /* the lookaside list hands it back */
  assert_int_equal(p->c.ch->ch_pkts_live, 1);
  VmbPacketFree(b);
  assert_int_equal(p->c.ch->ch_pkts_live, 0);
  /* Default completion routine frees an allocated packet. */
  b = VmbPacketAllocate(p->c.ch);
  assert_int_equal(VmbPacketSend(b, msg, 8, NULL, WAIT), STATUS_SUCCESS);
  assert_true(kh_wait_rx(&p->s, 1));
  lb_pump();
  assert_int_equal(p->c.ch->ch_pkts_live, 0);
  assert_int_equal(p->c.ch->ch_pool_len, 1);
}

static void test_client_context(void **state) {
  struct kh_pair *p = *state;
  assert_int_equal(VmbChannelInitSetClientContextSize(p->s.ch, 64), STATUS_SUCCESS);
  kh_pair_enable(p, true);
  kh_held_requests(p, msg, 8, 1);
  uint8_t *ctx = VmbChannelPacketGetClientContext(p->s.held[0]);
  assert_non_null(ctx);
  for (int i = 0; i < 64; i++)
    assert_int_equal(ctx[i], 0);
  memset(ctx, 0xee, 64); /* ours to use until completion */
  kh_complete_held(&p->s);
  assert_true(kh_wait_comp(&p->c, 1));
}

static void test_pipe_mode(void **state) {
  struct kh_pair *p = *state;
  assert_int_equal(VmbChannelInitSetFlags(p->s.ch, VMBUS_CHANNEL_INIT_FLAG_IS_PIPE),
                   STATUS_SUCCESS);
  assert_int_equal(VmbChannelInitSetFlags(p->c.ch, VMBUS_CHANNEL_INIT_FLAG_IS_PIPE),
                   STATUS_SUCCESS);
  kh_pair_enable(p, true);
  struct ring *r = &p->c.ch->ch_out;
  uint32_t w0 = r->r_ctl->write_index;
  VmbChannelPause(p->s.ch);
  assert_int_equal(kh_send(&p->c, msg, 13, 0), STATUS_SUCCESS);
  /* Pipe header {type 1, size 13} after the descriptor. */
  uint8_t want[16];
  put32(want, 1);
  put32(want + 4, 13);
  memcpy(want + 8, msg, 8);
  assert_memory_equal(r->r_data + w0 + 16, want, 16);
  VmbChannelStart(p->s.ch);
  assert_true(kh_wait_rx(&p->s, 1));
  assert_int_equal(p->s.rx_last_len, 13); /* exact datagram size */
  assert_memory_equal(p->s.rx_last, msg, 13);
}

/* ---- hostile peer ------------------------------------------------------------------ */

static void test_hostile_unknown_completion(void **state) {
  struct kh_pair *p = *state;
  uint8_t pkt[16];
  desc(pkt, VM_PKT_COMP, 2, 2, 0, 0x500000007ull);
  inject(p->s.ch, p->c.ch, pkt, sizeof(pkt));
  expect_failed_sticky(p, p->c.ch, 0);
}

static void test_hostile_duplicate_completion(void **state) {
  struct kh_pair *p = *state;
  kh_held_requests(p, msg, 8, 1);
  uint64_t tid = p->s.held[0]->in_tid;
  kh_complete_held(&p->s);
  assert_true(kh_wait_comp(&p->c, 1));
  assert_false(kmcl_channel_failed(p->c.ch));
  uint8_t pkt[16];
  desc(pkt, VM_PKT_COMP, 2, 2, 0, tid); /* the same id again */
  inject(p->s.ch, p->c.ch, pkt, sizeof(pkt));
  assert_int_equal(p->c.comp_count, 1);
  expect_failed_sticky(p, p->c.ch, 0);
}

static void test_hostile_stale_completion(void **state) {
  struct kh_pair *p = *state;
  kh_held_requests(p, msg, 8, 1);
  uint64_t tid = p->s.held[0]->in_tid;
  uint8_t pkt[16];
  desc(pkt, VM_PKT_COMP, 2, 2, 0, tid + (1ull << 32)); /* right slot, wrong sequence */
  inject(p->s.ch, p->c.ch, pkt, sizeof(pkt));
  assert_int_equal(p->c.comp_count, 0);
  p->s.hold = false;
  kh_complete_held(&p->s);
  expect_failed_sticky(p, p->c.ch, 0);
}

/* A malformed packet: its descriptor, up to three 32-bit fields after it
 * (offset `at`, 0 = none) and the bytes written. */
struct bad_case {
  const char *name;
  uint16_t type, off8, len8, flags;
  uint64_t tid;
  struct {
    uint8_t at;
    uint32_t v;
  } put[3];
  uint32_t len;
};

static const struct bad_case bad_cases[] = {
    /* unknown packet type */
    {"type SYNCH", 0x1, 2, 2, 0, 0, {{0, 0}}, 16},
    /* unknown descriptor flag bits */
    {"flags", 6, 2, 3, 0x8, 0, {{0, 0}}, 24},
    /* GPA direct with more ranges than bytes */
    {"range_cnt", 9, 4, 4, 1, 1, {{20, 1000}}, 32},
    /* GPA direct whose range needs more PFNs than present */
    {"pfn count", 9, 5, 5, 0, 1, {{20, 1}, {24, 8192}, {28, 0}}, 40},
    /* GPA direct with offset8 below its header */
    {"offset8 < header", 9, 2, 4, 0, 1, {{0, 0}}, 32},
    /* transfer pages: range_cnt overflows */
    {"xfer range_cnt", 7, 3, 3, 0, 1, {{20, 0xffffffffu}}, 24},
};

static void test_hostile_malformed_packets(void **state) {
  (void)state;
  const int n = (int)(sizeof(bad_cases) / sizeof(bad_cases[0]));
  for (int i = 0; i < n; i++) {
    kh_setup();
    struct kh_pair p;
    assert_true(kh_pair_open(&p));
    const struct bad_case *c = &bad_cases[i];
    uint8_t bytes[64] = {0};
    desc(bytes, c->type, c->off8, c->len8, c->flags, c->tid);
    for (int k = 0; k < 3; k++)
      if (c->put[k].at)
        put32(bytes + c->put[k].at, c->put[k].v);
    inject(p.s.ch, p.c.ch, bytes, c->len);
    if (!kmcl_channel_failed(p.c.ch))
      fail_msg("case %s: channel not failed", c->name);
    expect_failed_sticky(&p, p.c.ch, 0);
    kh_pair_done(&p);
  }
}

static void test_hostile_corrupt_ring(void **state) {
  struct kh_pair *p = *state;
  /* The server side (the "host") writes a misaligned write_index. */
  p->c.ch->ch_in.r_ctl->write_index = 13;
  kmcl_bus_interrupt(p->c.ch);
  lb_pump();
  assert_true(kmcl_channel_failed(p->c.ch));
  assert_int_equal(kmcl_channel_fail_reason(p->c.ch), -EPROTO);
  p->c.ch->ch_in.r_ctl->write_index = 0;
}

static void test_hostile_len8_past_written(void **state) {
  struct kh_pair *p = *state;
  /* A valid 24-byte write whose descriptor claims 64 bytes. */
  uint8_t pkt[24];
  desc(pkt, 6, 2, 3, 0, 0);
  struct ring_iov iov = {pkt, 24};
  bool sig;
  assert_int_equal(ring_write(&p->s.ch->ch_out, &iov, 1, &sig), 0);
  uint32_t w = p->s.ch->ch_out.r_ctl->write_index;
  put16(p->s.ch->ch_out.r_data + w - 32 + 4, 8); /* len8 = 8 after the fact */
  kmcl_bus_interrupt(p->c.ch);
  lb_pump();
  expect_failed_sticky(p, p->c.ch, 0);
}

/* Random descriptors and bodies from a hostile host, each on a fresh pair:
 * whatever arrives, the client either delivers a well-formed packet or
 * fails the channel; ASan checks that no parsing reads out of bounds. */
static void test_hostile_random_packets(void **state) {
  (void)state;
  uint32_t seed = 777, failed = 0, delivered = 0;
  for (int it = 0; it < 300; it++) {
    kh_setup();
    struct kh_pair p;
    assert_true(kh_pair_open(&p));
    p.c.get_ext = true;
    uint8_t pkt[256];
    for (unsigned i = 0; i < sizeof(pkt); i++) {
      seed = seed * 1103515245u + 12345u;
      pkt[i] = (uint8_t)(seed >> 16);
    }
    seed = seed * 1103515245u + 12345u;
    uint16_t len8 = (uint16_t)(2 + (seed >> 16) % 31);
    uint16_t off8 = (uint16_t)(2 + (seed >> 8) % (len8 - 1));
    static const uint16_t types[] = {6, 7, 9, 11, 1, 0, 13};
    uint16_t type = types[(seed >> 4) % 7];
    /* Small counts half of the time, so parsing gets past the first check. */
    if (seed & 1)
      put32(pkt + 20, (seed >> 20) % 4);
    if (seed & 2)
      put32(pkt + 28, (seed >> 12) % 4096);
    desc(pkt, type, off8, len8, (uint16_t)((seed >> 24) & 3), seed);
    inject(p.s.ch, p.c.ch, pkt, len8 * 8u);
    if (kmcl_channel_failed(p.c.ch))
      failed++;
    else
      delivered += p.c.rx_count;
    kh_pair_done(&p);
  }
  assert_true(failed > 100);   /* most random input is rejected */
  assert_true(delivered > 10); /* and well-formed inband data still works */
}

static void test_packet_fail_stops_queue(void **state) {
  (void)state;
  kh_setup();
  struct kh_pair p;
  assert_true(kh_pair_open(&p));
  p.s.fail_next = true;
  assert_int_equal(kh_send(&p.c, msg, 8, WAIT), STATUS_SUCCESS);
  lb_pump();
  assert_true(kmcl_channel_failed(p.s.ch));
  assert_int_equal(kmcl_channel_fail_reason(p.s.ch), -ECANCELED);
  assert_int_equal(p.s.ch->ch_outstanding, 0);
  assert_int_equal(kh_send(&p.c, msg, 8, 0), STATUS_SUCCESS);
  lb_pump();
  assert_int_equal(p.s.rx_count, 0); /* the queue stopped */
  kh_pair_close(&p);
  assert_int_equal(p.c.comp_cancelled, 1); /* never completed by the peer */
  assert_true(kh_no_leaks());
}

/* A peer that writes the next packet whenever we read one (hvhost's host
 * runs on each of our signals, so the ring never looks empty): the
 * server's receive callback has the client send again, until `limit`. */
static struct kh_pair *refill_pair;
static uint32_t refill_rx, refill_limit, refill_rx_at_timer;
static bool refill_timer_ran;
static void refill_process(VMBCHANNEL ch, VMBPACKETCOMPLETION pkt, PVOID buf, UINT32 len,
                           UINT32 flags) {
  (void)ch;
  (void)buf;
  (void)len;
  (void)flags;
  refill_rx++;
  VmbChannelPacketComplete(pkt, NULL, 0);
  if (refill_rx < refill_limit)
    assert_int_equal(kh_send(&refill_pair->c, msg, 8, 0), STATUS_SUCCESS);
}
static void refill_timer(void *arg) {
  (void)arg;
  refill_timer_ran = true;
  refill_rx_at_timer = refill_rx;
}
static bool refill_quiet(void *arg) {
  struct kh_pair *p = arg;
  return refill_rx >= refill_limit && p->c.ch->ch_txq_len == 0 && p->s.ch->ch_outstanding == 0 &&
         !ev_run_pending();
}

static void test_refilled_ring_yields_to_timers(void **state) {
  struct kh_pair *p = *state;
  assert_int_equal(VmbChannelInitSetProcessPacketCallbacks(p->s.ch, refill_process, NULL),
                   STATUS_SUCCESS);
  kh_pair_enable(p, true);
  refill_pair = p;
  refill_rx = 0;
  refill_limit = 3000;
  refill_timer_ran = false;
  /* No timer: one turn reads what the ring held when its run began, here
   * the one packet, however fast the peer refills. It was 1024 per run,
   * and the turn re-ran the re-queued DPC until the peer stopped (3000);
   * then the per-run budget (64, Linux NAPI's weight), each packet written
   * while the run read the one before. */
  assert_int_equal(kh_send(&p->c, msg, 8, 0), STATUS_SUCCESS);
  ev_run_pending();
  assert_int_equal(refill_rx, 1);
  /* A due timer: the run yields after its first packet, the timer runs in
   * the same turn, long before the peer stops. */
  uint32_t before = refill_rx;
  struct timer t;
  timer_init(&t, refill_timer, NULL);
  timer_arm_ns(&t, 0);
  ev_run_pending();
  assert_true(refill_timer_ran);
  assert_true(refill_rx_at_timer > before && refill_rx_at_timer <= before + 1);
  /* Every packet is still read, in later turns. */
  assert_true(kh_wait(refill_quiet, p, 10000));
  assert_int_equal(refill_rx, refill_limit);
}

static const struct CMUnitTest tests[] = {
    KH_TEST_OPEN(test_inband_round_trip),
    KH_TEST_OPEN(test_no_wait_completes_when_in_ring),
    KH_TEST_OPEN(test_wire_format_inband),
    KH_TEST_OPEN(test_gpa_direct_mdl),
    KH_TEST_OPEN(test_mdl_chain),
    KH_TEST_OPEN(test_xfer_pages_receive),
    KH_TEST_ALLOC(test_full_ring_queue_and_drain),
    KH_TEST_ALLOC(test_random_sizes_through_small_ring),
    KH_TEST_OPEN(test_sync_request),
    KH_TEST_ALLOC(test_sync_request_no_room),
    KH_TEST_ALLOC(test_sync_request_device_removed),
    KH_TEST_OPEN(test_packet_initialize),
    KH_TEST_OPEN(test_packet_reuse_and_pool),
    KH_TEST_ALLOC(test_client_context),
    KH_TEST_ALLOC(test_pipe_mode),
    KH_TEST_OPEN(test_hostile_unknown_completion),
    KH_TEST_OPEN(test_hostile_duplicate_completion),
    KH_TEST_OPEN(test_hostile_stale_completion),
    cmocka_unit_test(test_hostile_malformed_packets),
    KH_TEST_OPEN(test_hostile_corrupt_ring),
    KH_TEST_OPEN(test_hostile_len8_past_written),
    cmocka_unit_test(test_hostile_random_packets),
    cmocka_unit_test(test_packet_fail_stops_queue),
    KH_TEST_ALLOC(test_refilled_ring_yields_to_timers),
};

UNIT_MAIN("kmcl_packet", tests)
