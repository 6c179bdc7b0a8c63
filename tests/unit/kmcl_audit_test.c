/* tests/unit/kmcl_audit_test.c: the findings of the KMCL audit (issue 14,
 * docs/KMCL.md "Audit findings"), each reproduced on the loopback bus and
 * asserted against the behaviour Microsoft documents (KMCL-REFERENCE.md).
 * D1 lives in kmcl_save_test (test_d1_save_is_a_snapshot), D6 in
 * hostile_vmbus_test (test_d6_mmio_space_on_the_real_bus): they need the
 * save helpers and the real guest bus respectively. */
#include "tests/unit/unit.h"

#include <stdlib.h>
#include <string.h>

#include "kernel/page.h"
#include "kmcl/kmcl_test.h"
#include "tests/unit/lib/kmcl_harness.h"

#define WAIT VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION

static uint8_t msg[16] = {0x11, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static bool client_disabled(void *arg) { return ((VMBCHANNEL)arg)->ch_conn == KC_DISABLED; }

/** A pair whose client has rings of 2 pages each way (4 KiB of data: its
 * own packets are small enough not to grow them) and a server with
 * `server_max_pkt`; not enabled. */
static void small_rings_alloc(struct kh_pair *p, uint32_t server_max_pkt) {
  kh_pair_alloc(p);
  kh_pair_small_rings(p, 1024, 2, server_max_pkt);
}

/* D2: Disable gives up on a held packet; the next connection starts with
 * nothing outstanding, and the old token's completion reaches neither the
 * new ring nor the count. */
static void test_d2_timed_out_disable_stays_in_its_connection(void **state) {
  struct kh_pair *p = *state;
  kh_held_requests(p, msg, sizeof(msg), 1);
  kmcl_test_disable_wait_ms = 50;
  VmbChannelDisable(p->s.ch); /* gives up after 50 ms, closes anyway */
  kmcl_test_disable_wait_ms = KMCL_DISABLE_WAIT_MS;
  assert_true(kh_wait(client_disabled, p->c.ch, 2000)); /* rescinded */
  assert_int_equal(p->c.comp_cancelled, 1);
  p->s.hold = false;
  assert_true(kh_pair_start(p));
  assert_int_equal(p->s.ch->ch_outstanding, 0);
  /* The driver completes the old token now: valid, but not for this ring. */
  assert_int_equal(kmcl_packet_complete(p->s.held[0], msg, sizeof(msg)),
                   STATUS_INVALID_DEVICE_STATE);
  p->s.nheld = 0;
  lb_pump();
  assert_false(kmcl_channel_failed(p->c.ch));
  assert_int_equal(p->s.ch->ch_outstanding, 0);
  assert_int_equal(kh_send(&p->c, msg, sizeof(msg), WAIT), STATUS_SUCCESS);
  assert_true(kh_wait_comp(&p->c, 2)); /* the new connection works */
  assert_int_equal(p->c.comp_status, STATUS_SUCCESS);
}

/* D3: a packet that can never fit the peer's ring fails at the call, the
 * channel stays healthy; and the open refuses a maximum packet size the
 * client's ring cannot carry. */
static void test_d3_oversized_send_fails_at_the_call(void **state) {
  (void)state;
  kh_setup();
  struct kh_pair p;
  small_rings_alloc(&p, 65536);
  kh_pair_enable(&p, true);
  assert_false(p.c.open);
  assert_false(kmcl_channel_is_open(p.s.ch));
  assert_int_equal(p.c.pnp_calls, 1);
  assert_int_equal(p.c.pnp_status, STATUS_INVALID_BUFFER_SIZE);
  kh_pair_close(&p);

  small_rings_alloc(&p, 1024);
  assert_int_equal(VmbChannelInitSetMaximumExternalData(p.s.ch, 400u * PAGE_SIZE, 1),
                   STATUS_SUCCESS);
  assert_true(kh_pair_start(&p));
  assert_int_equal(p.s.ch->ch_out.r_size, 4096);
  assert_true(kmcl_channel_is_open(p.s.ch));
  /* 1000 inline bytes after 400 PFNs: 4,232 bytes for a 4,096-byte ring. */
  PFN_NUMBER *pfns = calloc(400, sizeof(*pfns));
  assert_non_null(pfns);
  VMBPACKET pkt = VmbPacketAllocate(p.s.ch);
  VmbPacketSetPointer(pkt, &p.s);
  VmbPacketSetCompletionRoutine(pkt, kh_comp_free);
  uint8_t body[1000] = {0x33};
  assert_int_equal(VmbPacketSendWithExternalPfns(pkt, body, sizeof(body), pfns, 400, WAIT),
                   STATUS_INVALID_BUFFER_SIZE);
  VmbPacketFree(pkt);
  free(pfns);
  assert_false(kmcl_channel_failed(p.s.ch));
  assert_int_equal(kh_send(&p.s, body, sizeof(body), 0), STATUS_SUCCESS);
  assert_true(kh_wait_rx(&p.c, 1)); /* later sends are delivered */
  assert_int_equal(p.c.rx_order[0], 0x33);
  kh_pair_done(&p);
}

/* D4: a completion too large for the requester's ring fails visibly to the
 * caller, and the requester's transaction still ends (empty completion). */
static void test_d4_oversized_completion_ends_the_transaction(void **state) {
  (void)state;
  kh_setup();
  struct kh_pair p;
  small_rings_alloc(&p, 1024);
  assert_true(kh_pair_start(&p));
  kh_held_requests(&p, msg, sizeof(msg), 1);
  uint8_t *big = calloc(1, 8000);
  assert_non_null(big);
  assert_int_equal(kmcl_packet_complete(p.s.held[0], big, 8000), STATUS_INVALID_BUFFER_SIZE);
  p.s.nheld = 0;
  free(big);
  assert_true(kh_wait_comp(&p.c, 1));
  assert_int_equal(p.c.comp_status, STATUS_SUCCESS);
  assert_int_equal(p.c.comp_len, 0);
  assert_false(kmcl_channel_failed(p.s.ch));
  assert_false(kmcl_channel_failed(p.c.ch));
  kh_pair_done(&p);
}

/* D5: an offer for VTL 2 is not shown to the (VTL 0) client. */
static void test_d5_target_vtl_reaches_the_offer(void **state) {
  struct kh_pair *p = *state;
  assert_int_equal(VmbServerChannelInitSetTargetVtl(p->s.ch, 2), STATUS_SUCCESS);
  kh_pair_enable(p, true);
  assert_int_equal(lb_stats(p->lb)->st_offers, 1);
  assert_int_equal(lb_stats(p->lb)->st_opens, 0);
  assert_false(p->c.open);
  assert_string_equal(kh_log_tag('C', 0), "");
  /* The same channel for VTL 0 is matched at once. */
  VmbChannelDisable(p->s.ch);
  assert_int_equal(VmbServerChannelInitSetTargetVtl(p->s.ch, 0), STATUS_SUCCESS);
  assert_int_equal(VmbChannelEnable(p->s.ch), STATUS_SUCCESS);
  VmbChannelStart(p->s.ch);
  assert_true(kh_wait(kh_pair_started, p, 2000));
}

/* D7: A deferred at dispatch level: nothing after it is delivered before
 * it ran; ProcessingComplete counts what the driver processed. */
static void test_d7_defer_keeps_order_and_counts(void **state) {
  struct kh_pair *p = *state;
  assert_int_equal(VmbChannelEnable(p->s.ch), STATUS_SUCCESS); /* not started: reads nothing */
  assert_int_equal(VmbChannelEnable(p->c.ch), STATUS_SUCCESS);
  lb_pump();
  uint8_t b[8] = {0};
  for (uint8_t i = 1; i <= 3; i++) {
    b[0] = i;
    assert_int_equal(kh_send(&p->c, b, sizeof(b), 0), STATUS_SUCCESS);
  }
  lb_pump();
  p->s.defer_once = true;
  VmbChannelStart(p->s.ch);
  assert_true(kh_wait_rx(&p->s, 3));
  lb_pump();
  assert_int_equal(p->s.rx_count, 3);
  assert_int_equal(p->s.rx_order[0], 1);
  assert_int_equal(p->s.rx_order[1], 2);
  assert_int_equal(p->s.rx_order[2], 3);
  assert_true(p->s.rx_passive_seen); /* A ran at passive level */
  assert_int_equal(p->s.proc_done_total, 3);
}

/* D8: completing a token again after it was completed is refused without
 * reading freed memory (AddressSanitizer would abort here otherwise). */
static void test_d8_second_completion_is_detected(void **state) {
  struct kh_pair *p = *state;
  kh_held_requests(p, msg, sizeof(msg), 1);
  VMBPACKETCOMPLETION t = p->s.held[0];
  assert_int_equal(kmcl_packet_complete(t, NULL, 0), STATUS_SUCCESS);
  p->s.nheld = 0;
  assert_int_equal(kmcl_packet_complete(t, NULL, 0), STATUS_INVALID_PARAMETER_1);
  VmbChannelPacketComplete(t, NULL, 0); /* the VOID form: logged, ignored */
  VmbChannelPacketFail(t);
  assert_false(kmcl_channel_failed(p->s.ch));
  assert_true(kh_wait_comp(&p->c, 1));
  lb_pump();
  assert_int_equal(p->c.comp_count, 1);
}

/* D9: Pause, Disable, Enable on a client: running again (Started and
 * PostStarted run); only a Pause issued while Disabled carries over. */
static void test_d9_pause_does_not_survive_disable(void **state) {
  struct kh_pair *p = *state;
  VmbChannelPause(p->c.ch);
  VmbChannelDisable(p->c.ch);
  unsigned from = kh_log_len();
  assert_int_equal(VmbChannelEnable(p->c.ch), STATUS_SUCCESS);
  assert_true(kh_wait(kh_pair_started, p, 2000));
  assert_string_equal(kh_log_tag('C', from), "C:Opened C:Started C:PostStarted");
  VmbChannelDisable(p->c.ch);
  VmbChannelPause(p->c.ch); /* while Disabled: armed */
  from = kh_log_len();
  assert_int_equal(VmbChannelEnable(p->c.ch), STATUS_SUCCESS);
  lb_pump();
  assert_string_equal(kh_log_tag('C', from), "C:Opened");
  VmbChannelStart(p->c.ch);
}

/* D10 (a): no completion packet is written unless the sender asked. */
static void test_d10_no_completion_unless_requested(void **state) {
  struct kh_pair *p = *state;
  p->s.hold = true;
  assert_int_equal(kh_send(&p->c, msg, sizeof(msg), 0), STATUS_SUCCESS);
  assert_true(kh_wait_rx(&p->s, 1));
  uint32_t w0 = p->s.ch->ch_out.r_ctl->write_index;
  kh_complete_held(&p->s); /* with a 16-byte response */
  lb_pump();
  assert_int_equal(p->s.ch->ch_out.r_ctl->write_index, w0); /* nothing written */
  assert_int_equal(p->s.ch->ch_outstanding, 0);
  assert_false(kmcl_channel_failed(p->c.ch));
}

/* D10 (b): VmbChannelInitSetMaximumExternalData's size and chain limits. */
static void test_d10_external_data_limits(void **state) {
  struct kh_pair *p = *state;
  assert_int_equal(VmbChannelInitSetMaximumExternalData(p->c.ch, 2 * PAGE_SIZE, 2), STATUS_SUCCESS);
  assert_true(kh_pair_start(p));
  p->s.get_ext = true;
  uint8_t *mem = page_alloc(3);
  assert_non_null(mem);
  PMDL m[3];
  for (int i = 0; i < 3; i++)
    m[i] = kmcl_mdl_alloc(mem + (size_t)i * PAGE_SIZE, PAGE_SIZE);
  PMDL three_pages = kmcl_mdl_alloc(mem, 3 * PAGE_SIZE);
  VMBPACKET pkt = VmbPacketAllocate(p->c.ch);
  VmbPacketSetPointer(pkt, &p->c);
  VmbPacketSetCompletionRoutine(pkt, kh_comp_free);
  /* 12 KiB in one MDL: above the 8 KiB size limit. */
  assert_int_equal(VmbPacketSend(pkt, msg, sizeof(msg), three_pages, WAIT),
                   STATUS_INVALID_PARAMETER);
  /* Three MDLs: above the chain limit of 2. */
  m[0]->Next = m[1];
  m[1]->Next = m[2];
  assert_int_equal(VmbPacketSend(pkt, msg, sizeof(msg), m[0], WAIT), STATUS_INVALID_PARAMETER);
  /* Two MDLs of 4 KiB: at both limits, delivered as a chain of two. */
  m[1]->Next = NULL;
  assert_int_equal(VmbPacketSend(pkt, msg, sizeof(msg), m[0], WAIT), STATUS_SUCCESS);
  assert_true(kh_wait_comp(&p->c, 1));
  assert_int_equal(p->s.rx_ext_nmdl, 2);
  assert_int_equal(p->s.rx_ext_bytes, 2 * PAGE_SIZE);
  for (int i = 0; i < 3; i++)
    kmcl_mdl_free(m[i]);
  kmcl_mdl_free(three_pages);
  page_free(mem, 3);
}

/* D10 (c): SendSynchronousRequest "waits for the response" also without
 * WAIT_FOR_COMPLETION (the flag is implied whenever it waits). */
static void test_d10_sync_request_waits_for_the_response(void **state) {
  struct kh_pair *p = *state;
  uint8_t resp[64] = {0};
  UINT32 n = sizeof(resp);
  assert_int_equal(
      VmbChannelSendSynchronousRequest(p->c.ch, msg, sizeof(msg), NULL, 0, resp, &n, NULL),
      STATUS_SUCCESS);
  assert_int_equal(n, sizeof(msg)); /* the server's echo */
  assert_memory_equal(resp, msg, sizeof(msg));
  assert_int_equal(p->s.rx_count, 1);
}

static const struct CMUnitTest tests[] = {
    KH_TEST_OPEN(test_d2_timed_out_disable_stays_in_its_connection),
    cmocka_unit_test(test_d3_oversized_send_fails_at_the_call),
    cmocka_unit_test(test_d4_oversized_completion_ends_the_transaction),
    KH_TEST_ALLOC(test_d5_target_vtl_reaches_the_offer),
    KH_TEST_ALLOC(test_d7_defer_keeps_order_and_counts),
    KH_TEST_OPEN(test_d8_second_completion_is_detected),
    KH_TEST_OPEN(test_d9_pause_does_not_survive_disable),
    KH_TEST_OPEN(test_d10_no_completion_unless_requested),
    KH_TEST_ALLOC(test_d10_external_data_limits),
    KH_TEST_OPEN(test_d10_sync_request_waits_for_the_response),
};

UNIT_MAIN("kmcl_audit", tests)
