/* tests/unit/kmcl_channel_test.c: the KMCL channel state machine, both
 * endpoints over the loopback bus: callback order for every transition of
 * KMCL-REFERENCE.md sections (a)-(b) and (e), compared with the documented
 * order, plus the waits of Pause/Disable, quota, passive processing and
 * leak checks. */
#include "tests/unit/unit.h"

#include <string.h>

#include "kernel/event.h"
#include "kernel/hw.h"
#include "kernel/timer.h"
#include "tests/unit/lib/kmcl_harness.h"

static const uint8_t msg[24] = "0123456789abcdefghijklm";

static bool is_disabled(void *arg) { return ((VMBCHANNEL)arg)->ch_conn == KC_DISABLED; }

/* A timer that completes the held tokens of an endpoint later, so a
 * blocking Pause/Disable has something to wait for. */
static struct timer later;
static void later_fn(void *arg) { kh_complete_held(arg); }

static void test_open_order(void **state) {
  struct kh_pair *p = *state;
  /* Server (a) 5: Opened, Started, queue, PostStarted when the guest opens;
   * client (a) 4: the same after OPENCHANNEL_RESULT. */
  assert_string_equal(kh_log_str(0), "S:Opened S:Started S:PostStarted "
                                     "C:Opened C:Started C:PostStarted");
  assert_int_equal(p->c.ch->ch_conn, KC_OPEN);
  assert_int_equal(p->s.ch->ch_conn, KC_OPEN);
}

static void test_client_disable_and_reopen(void **state) {
  struct kh_pair *p = *state;
  unsigned mark = kh_log_len();
  VmbChannelDisable(p->c.ch);
  lb_pump();
  /* Client (a) 5: Suspend, Closed, always Disabled; server (a) 6: the guest
   * closed: Suspend, Closed, still offered. */
  assert_string_equal(kh_log_str(mark), "C:Suspend C:Closed S:Suspend S:Closed");
  assert_int_equal(p->c.ch->ch_conn, KC_DISABLED);
  assert_int_equal(p->s.ch->ch_conn, KC_ENABLED);
  /* Reopen: step 5 repeats on the server. */
  mark = kh_log_len();
  assert_int_equal(VmbChannelEnable(p->c.ch), STATUS_SUCCESS);
  lb_pump();
  assert_string_equal(kh_log_str(mark), "S:Opened S:Started S:PostStarted "
                                        "C:Opened C:Started C:PostStarted");
  assert_int_equal(kh_send(&p->c, msg, sizeof(msg), 0), STATUS_SUCCESS);
  assert_true(kh_wait_rx(&p->s, 1));
}

static void test_server_disable_rescinds(void **state) {
  struct kh_pair *p = *state;
  unsigned mark = kh_log_len();
  VmbChannelDisable(p->s.ch);
  assert_true(kh_wait(is_disabled, p->c.ch, 1000));
  /* Server (a) 8: Suspend, Closed, offer revoked; the client sees the
   * rescind: Suspend, Closed, Disabled. */
  assert_string_equal(kh_log_str(mark), "S:Suspend S:Closed C:Suspend C:Closed");
  assert_int_equal(p->s.ch->ch_conn, KC_DISABLED);
  assert_int_equal(lb_stats(p->lb)->st_rescinds, 1);
  /* A new offer and a new Enable on the client connect them again. */
  mark = kh_log_len();
  kh_pair_enable(p, true);
  assert_string_equal(kh_log_str(mark), "S:Opened S:Started S:PostStarted "
                                        "C:Opened C:Started C:PostStarted");
  assert_int_equal(kh_send(&p->c, msg, sizeof(msg), VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION),
                   STATUS_SUCCESS);
  assert_true(kh_wait_comp(&p->c, 1));
}

static void test_host_rescind(void **state) {
  struct kh_pair *p = *state;
  unsigned mark = kh_log_len();
  lb_host_rescind(p->lb, p->c.ch);
  assert_true(kh_wait(is_disabled, p->c.ch, 1000));
  lb_pump();
  /* Each endpoint in its documented order; the two interleave freely. */
  assert_string_equal(kh_log_tag('S', mark), "S:Suspend S:Closed");
  assert_string_equal(kh_log_tag('C', mark), "C:Suspend C:Closed");
}

static void test_pause_start_server(void **state) {
  struct kh_pair *p = *state;
  unsigned mark = kh_log_len();
  VmbChannelPause(p->s.ch);
  assert_string_equal(kh_log_str(mark), "S:Suspend");
  /* Paused: packets wait in the ring. */
  assert_int_equal(kh_send(&p->c, msg, sizeof(msg), VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION),
                   STATUS_SUCCESS);
  lb_pump();
  assert_int_equal(p->s.rx_count, 0);
  mark = kh_log_len();
  VmbChannelStart(p->s.ch);
  assert_string_equal(kh_log_str(mark), "S:Started S:PostStarted");
  assert_true(kh_wait_comp(&p->c, 1));
  assert_int_equal(p->s.rx_count, 1);
  assert_int_equal(p->c.comp_status, STATUS_SUCCESS);
}

static void test_pause_waits_for_outstanding(void **state) {
  struct kh_pair *p = *state;
  kh_held_requests(p, msg, sizeof(msg), 3);
  assert_int_equal(p->s.ch->ch_outstanding, 3);
  timer_init(&later, later_fn, &p->s);
  timer_arm_ms(&later, 50);
  uint64_t t0 = hw_now_ns();
  VmbChannelPause(p->s.ch); /* blocks until the timer completed all three */
  assert_true(hw_now_ns() - t0 >= 40000000ull);
  assert_int_equal(p->s.ch->ch_outstanding, 0);
  assert_true(kh_wait_comp(&p->c, 3));
  assert_int_equal(p->c.comp_len, 16); /* kh_complete_held's response */
  assert_int_equal(p->c.comp_buf[1], 0xc1);
  p->s.hold = false;
  VmbChannelStart(p->s.ch);
}

static void test_server_start_after_open(void **state) {
  struct kh_pair *p = *state;
  kh_pair_enable(p, false);
  /* The server never called Start: only Opened on its side (a) 5. */
  assert_string_equal(kh_log_str(0), "S:Opened C:Opened C:Started C:PostStarted");
  assert_int_equal(kh_send(&p->c, msg, sizeof(msg), 0), STATUS_SUCCESS);
  lb_pump();
  assert_int_equal(p->s.rx_count, 0);
  unsigned mark = kh_log_len();
  VmbChannelStart(p->s.ch);
  assert_string_equal(kh_log_str(mark), "S:Started S:PostStarted");
  assert_true(kh_wait_rx(&p->s, 1));
  assert_memory_equal(p->s.rx_last, msg, sizeof(msg));
}

static void test_client_pause_armed_before_enable(void **state) {
  struct kh_pair *p = *state;
  VmbChannelPause(p->c.ch); /* Disabled: arms an automatic pause */
  assert_int_equal(kh_log_len(), 0);
  kh_pair_enable(p, true);
  assert_string_equal(kh_log_str(0), "S:Opened S:Started S:PostStarted C:Opened");
  unsigned mark = kh_log_len();
  VmbChannelStart(p->c.ch);
  assert_string_equal(kh_log_str(mark), "C:Started C:PostStarted");
}

/** Both enabled, the server started; the client's open fails: it is
 * Disabled again, and the loop is pumped. */
static void open_fails(struct kh_pair *p) {
  kh_pair_enable(p, true);
  assert_true(kh_wait(is_disabled, p->c.ch, 1000));
  lb_pump();
}

static void test_server_opened_fails(void **state) {
  struct kh_pair *p = *state;
  p->s.opened_status = STATUS_INSUFFICIENT_RESOURCES;
  open_fails(p);
  /* The server rolled back (no traffic, still offered); the client's open
   * failed asynchronously: PnpFailure with the status, Disabled. */
  assert_string_equal(kh_log_str(0), "S:Opened C:PnpFailure");
  assert_int_equal(p->c.pnp_status, STATUS_INSUFFICIENT_RESOURCES);
  assert_int_equal(p->s.ch->ch_conn, KC_ENABLED);
  /* Second try succeeds. */
  p->s.opened_status = STATUS_SUCCESS;
  unsigned mark = kh_log_len();
  assert_int_equal(VmbChannelEnable(p->c.ch), STATUS_SUCCESS);
  lb_pump();
  assert_string_equal(kh_log_str(mark), "S:Opened S:Started S:PostStarted "
                                        "C:Opened C:Started C:PostStarted");
}

static void test_client_opened_fails(void **state) {
  struct kh_pair *p = *state;
  p->c.opened_status = STATUS_DEVICE_NOT_CONNECTED;
  open_fails(p);
  /* Section (e): the open is undone, the client closes with the host,
   * returns to Disabled, and PnpFailure runs with the returned status. */
  assert_string_equal(kh_log_tag('C', 0), "C:Opened C:PnpFailure");
  assert_string_equal(kh_log_tag('S', 0), "S:Opened S:Started S:PostStarted S:Suspend S:Closed");
  assert_int_equal(p->c.pnp_status, STATUS_DEVICE_NOT_CONNECTED);
  assert_int_equal(p->s.ch->ch_conn, KC_ENABLED);
}

static void test_host_refuses_open(void **state) {
  struct kh_pair *p = *state;
  lb_set_refuse_open(p->lb, STATUS_ACCESS_DENIED);
  assert_int_equal(VmbChannelEnable(p->s.ch), STATUS_SUCCESS);
  assert_int_equal(VmbChannelEnable(p->c.ch), STATUS_SUCCESS);
  assert_true(kh_wait(is_disabled, p->c.ch, 1000));
  assert_string_equal(kh_log_str(0), "C:PnpFailure");
  assert_int_equal(p->c.pnp_status, STATUS_ACCESS_DENIED);
}

static void test_disable_cancels_and_waits(void **state) {
  struct kh_pair *p = *state;
  kh_held_requests(p, msg, sizeof(msg), 4);
  /* Server holds 4 tokens; the client disables: its 4 sends complete with
   * STATUS_CANCELLED before Disable returns (section (e), Q10), and the
   * server's Closed waits until its driver completes the tokens. */
  timer_init(&later, later_fn, &p->s);
  timer_arm_ms(&later, 30);
  unsigned mark = kh_log_len();
  VmbChannelDisable(p->c.ch);
  assert_int_equal(p->c.comp_count, 4);
  assert_int_equal(p->c.comp_cancelled, 4);
  lb_pump();
  assert_string_equal(kh_log_str(mark), "C:Suspend C:Closed S:Suspend S:holding4 S:Closed");
  assert_int_equal(p->s.ch->ch_outstanding, 0);
}

static void test_queued_before_open_sent_after(void **state) {
  struct kh_pair *p = *state;
  assert_int_equal(VmbChannelEnable(p->s.ch), STATUS_SUCCESS);
  VmbChannelStart(p->s.ch);
  assert_int_equal(VmbChannelEnable(p->c.ch), STATUS_SUCCESS);
  /* Not open yet: queued, STATUS_SUCCESS (section (e)). */
  assert_int_equal(kh_send(&p->c, msg, sizeof(msg), 0), STATUS_SUCCESS);
  assert_int_equal(p->c.ch->ch_txq_len, 1);
  assert_int_equal(p->c.comp_count, 0);
  assert_true(kh_wait_rx(&p->s, 1));
  assert_true(kh_wait_comp(&p->c, 1));
}

static void test_queued_never_sent_cancelled(void **state) {
  struct kh_pair *p = *state;
  assert_int_equal(VmbChannelEnable(p->c.ch), STATUS_SUCCESS); /* no server: waits */
  assert_int_equal(kh_send(&p->c, msg, sizeof(msg), 0), STATUS_SUCCESS);
  lb_pump();
  VmbChannelDisable(p->c.ch);
  assert_int_equal(p->c.comp_cancelled, 1);
  assert_string_equal(kh_log_str(0), "");
}

static void test_interface_instance_and_mmio(void **state) {
  struct kh_pair *p = *state;
  GUID g;
  memset(&g, 0xff, sizeof(g));
  VmbChannelGetInterfaceInstance(p->c.ch, &g);
  const GUID zero = {0};
  assert_memory_equal(&g, &zero, sizeof(g)); /* targeted NULL: zeros */
  assert_int_equal(VmbServerChannelInitSetMmioMegabytes(p->s.ch, 4, 2), STATUS_SUCCESS);
  kh_pair_enable(p, true);
  VmbChannelGetInterfaceInstance(p->c.ch, &g);
  assert_memory_equal(&g, &kh_instance, sizeof(g));
  VmbChannelGetInterfaceInstance(p->s.ch, &g);
  assert_memory_equal(&g, &kh_instance, sizeof(g));
  UINT64 a = 0, s = 0;
  VmbChannelGetMmioSpace(p->c.ch, &a, &s);
  assert_true(a != 0);
  assert_int_equal(s, 6u << 20);
}

static void test_interrupt_latency(void **state) {
  (void)state;
  kh_setup();
  struct kh_pair p;
  UINT16 old = 7;
  kh_pair_alloc(&p);
  assert_int_equal(VmbChannelSetInterruptLatency(p.c.ch, 10, &old), STATUS_INVALID_DEVICE_STATE);
  kh_pair_close(&p);
  /* Not monitored: not supported. */
  assert_true(kh_pair_open(&p));
  assert_int_equal(VmbChannelSetInterruptLatency(p.c.ch, 10, &old), STATUS_NOT_SUPPORTED);
  assert_int_equal(VmbChannelSetInterruptLatency(p.c.ch, 10, NULL), STATUS_INVALID_PARAMETER_3);
  kh_pair_close(&p);
  /* Monitored offer: the previous value comes back. */
  kh_pair_alloc(&p);
  lb_set_monitored(p.lb, true);
  kh_pair_enable(&p, true);
  assert_int_equal(VmbChannelSetInterruptLatency(p.c.ch, 100, &old), STATUS_SUCCESS);
  assert_int_equal(old, 0);
  assert_int_equal(VmbChannelSetInterruptLatency(p.c.ch, 200, &old), STATUS_SUCCESS);
  assert_int_equal(old, 100);
  kh_pair_done(&p);
}

static void test_passive_processing(void **state) {
  struct kh_pair *p = *state;
  VmbChannelSetIncomingProcessingAtPassive(p->s.ch, TRUE);
  kh_pair_enable(p, true);
  for (int i = 0; i < 5; i++)
    assert_int_equal(kh_send(&p->c, msg, sizeof(msg), 0), STATUS_SUCCESS);
  assert_true(kh_wait_rx(&p->s, 5));
  assert_true(p->s.rx_at_passive);
  /* The client stays at dispatch: deliveries there are not passive. */
  assert_int_equal(kh_send(&p->s, msg, sizeof(msg), 0), STATUS_SUCCESS);
  assert_true(kh_wait_rx(&p->c, 1));
  assert_false(p->c.rx_at_passive);
}

static void test_defer_to_passive(void **state) {
  struct kh_pair *p = *state;
  p->s.defer_once = true;
  assert_int_equal(kh_send(&p->c, msg, sizeof(msg), VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION),
                   STATUS_SUCCESS);
  assert_true(kh_wait_rx(&p->s, 1));
  assert_false(p->s.defer_once);
  assert_true(p->s.rx_at_passive); /* redelivered at passive level */
  assert_true(kh_wait_comp(&p->c, 1));
}

static void test_transaction_quota(void **state) {
  struct kh_pair *p = *state;
  p->s.hold = true;
  VmbChannelSetTransactionQuota(p->s.ch, 2);
  for (int i = 0; i < 5; i++)
    assert_int_equal(
        kh_send(&p->c, msg, sizeof(msg), VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION),
        STATUS_SUCCESS);
  lb_pump();
  assert_int_equal(p->s.rx_count, 2); /* quota reached: reading stops */
  /* Raising the quota alone does not restart the queue (reference 2.3). */
  VmbChannelSetTransactionQuota(p->s.ch, 10);
  lb_pump();
  assert_int_equal(p->s.rx_count, 2);
  /* A completion does. */
  VmbChannelPacketComplete(p->s.held[--p->s.nheld], NULL, 0);
  assert_true(kh_wait_rx(&p->s, 5));
  kh_complete_held(&p->s);
  assert_true(kh_wait_comp(&p->c, 5));
}

static void test_cleanup_needs_disabled(void **state) {
  struct kh_pair *p = *state;
  VmbChannelCleanup(p->c.ch); /* ignored: still enabled */
  assert_true(chan_valid(p->c.ch));
  assert_int_equal(kmcl_live_channels, 2);
}

static void test_processing_complete(void **state) {
  struct kh_pair *p = *state;
  VmbChannelPause(p->s.ch);
  for (int i = 0; i < 6; i++)
    assert_int_equal(kh_send(&p->c, msg, sizeof(msg), 0), STATUS_SUCCESS);
  lb_pump();
  VmbChannelStart(p->s.ch);
  assert_true(kh_wait_rx(&p->s, 6));
  lb_pump();
  /* One batch of six: one ProcessingComplete(6) once the ring is empty. */
  assert_int_equal(p->s.proc_done_calls, 1);
  assert_int_equal(p->s.proc_done_total, 6);
}

static const struct CMUnitTest tests[] = {
    KH_TEST_OPEN(test_open_order),
    KH_TEST_OPEN(test_client_disable_and_reopen),
    KH_TEST_OPEN(test_server_disable_rescinds),
    KH_TEST_OPEN(test_host_rescind),
    KH_TEST_OPEN(test_pause_start_server),
    KH_TEST_OPEN(test_pause_waits_for_outstanding),
    KH_TEST_ALLOC(test_server_start_after_open),
    KH_TEST_ALLOC(test_client_pause_armed_before_enable),
    KH_TEST_ALLOC(test_server_opened_fails),
    KH_TEST_ALLOC(test_client_opened_fails),
    KH_TEST_ALLOC(test_host_refuses_open),
    KH_TEST_OPEN(test_disable_cancels_and_waits),
    KH_TEST_ALLOC(test_queued_before_open_sent_after),
    KH_TEST_ALLOC(test_queued_never_sent_cancelled),
    KH_TEST_ALLOC(test_interface_instance_and_mmio),
    cmocka_unit_test(test_interrupt_latency),
    KH_TEST_ALLOC(test_passive_processing),
    KH_TEST_OPEN(test_defer_to_passive),
    KH_TEST_OPEN(test_transaction_quota),
    KH_TEST_OPEN(test_cleanup_needs_disabled),
    KH_TEST_OPEN(test_processing_complete),
};

UNIT_MAIN("kmcl_channel", tests)
