/* tests/unit/hostile_vmbus_test.c: the hostile-host suite for the SynIC,
 * channel messages and lifecycle (PERF-RELIABILITY-REFERENCE.md 2.4 rows A,
 * B and F; docs/SECURITY.md). One test per row, named after it.
 *
 * The real guest (hv/synic.c, hv/vmbus.c, kmcl/) runs against the in-process
 * host with echo devices. Hostile input comes from the VMBus server's fault
 * hooks (drop, delay, duplicate, corrupt, rescind) or is written straight
 * into the SIMP slot and SIEFP bits, as a hostile hypervisor could. Each
 * test asserts the documented outcome (dropped and counted, refused, a
 * bounded wait that ends, pages kept from reuse) and that the rest of the
 * guest keeps working: an echo channel still round-trips afterwards.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/inproc_hw.h"
#include "hv/hv.h"
#include "hv/vmbus.h"
#include "kernel/event.h"
#include "kernel/hw.h"
#include "kernel/page.h"
#include "kmcl/kmcl_priv.h"
#include "tests/unit/lib/hostile_env.h"
#include "tests/unit/lib/kmcl_harness.h"
#include "tests/unit/unit.h"

#define WAIT_MS 300 /* every control wait of the guest, shortened */
/* What "bounded" means in these tests: well under the named waits (5-10 s)
 * they replace, with room for a loaded machine running ASan builds. */
#define BOUND_MS (10 * WAIT_MS)

static const struct vmbus_stats *st(void) { return vmbus_stats(); }

/** The rest of the guest still works: some echo channel opens and
 * round-trips 100 packets (tries each echo device once: a device the
 * hostile host left half-open on its side may refuse). */
static void still_works(struct sim *h) {
  for (unsigned i = 0; i < h->s_cfg.sc_echo; i++) {
    struct hclient c;
    bool up = hclient_open_echo(&c, h, i, 2000);
    uint32_t n = up ? hclient_round_trip(&c, 100, 5000) : 0;
    bool ok = up && n == 100 && c.mismatches == 0 && !kmcl_channel_failed(c.ch);
    hclient_close(&c);
    if (ok)
      return;
  }
  fail_msg("no echo channel works any more");
}

static void up_connected(struct sim *h, unsigned necho) {
  henv_up(h, VMBUS_VERSION_WIN10_V5_3, necho);
  assert_int_equal(henv_connect(h, WAIT_MS), 0);
}

/* cmocka fixtures: the guest connected to a host with one (or two) echo
 * devices as the test's *state; after the test, the rest of the guest
 * must still work (still_works), then everything goes down. */
static struct sim fixture_sim;
static int connected1(void **state) {
  up_connected(&fixture_sim, 1);
  *state = &fixture_sim;
  return 0;
}
static int connected2(void **state) {
  up_connected(&fixture_sim, 2);
  *state = &fixture_sim;
  return 0;
}
static int works_then_down(void **state) {
  still_works(*state);
  henv_down(*state);
  return 0;
}
#define HOSTILE_TEST1(f) cmocka_unit_test_setup_teardown(f, connected1, works_then_down)
#define HOSTILE_TEST2(f) cmocka_unit_test_setup_teardown(f, connected2, works_then_down)

static bool never(void *arg) {
  (void)arg;
  return false;
}

static uint64_t elapsed_ms(uint64_t t0) { return (hw_now_ns() - t0) / 1000000u; }

/* A small VMBus message of the given type and size (zero body). */
static void send_msg(struct sim *h, uint32_t type, uint32_t size) {
  uint8_t m[HV_MESSAGE_PAYLOAD_MAX];
  memset(m, 0, sizeof(m));
  memcpy(m, &type, 4);
  henv_slot_msg(h, m, size);
}

static void send_offer(struct sim *h, uint32_t relid, const GUID *type, uint16_t sub_index,
                       uint8_t monitor_alloc, uint8_t monitorid, uint32_t conn_id) {
  struct vmbus_msg_offer o;
  memset(&o, 0, sizeof(o));
  o.hdr.msgtype = VMBUS_MSG_OFFERCHANNEL;
  memcpy(&o.if_type, type, sizeof(o.if_type));
  o.if_instance.data1 = relid;
  o.if_instance.data4[7] = 0x77;
  o.sub_channel_index = sub_index;
  o.child_relid = relid;
  o.monitor_allocated = monitor_alloc;
  o.monitorid = monitorid;
  o.is_dedicated_interrupt = 1;
  o.connection_id = conn_id;
  henv_slot_msg(h, &o, sizeof(o));
}

static const GUID unknown_type = {0x12345678, 0x1234, 0x5678, {1, 2, 3, 4, 5, 6, 7, 8}};

/* ---- A. SynIC message page and event flags ---------------------------------- */

/* A1: a SINT with an empty slot takes nothing; a non-VMBus message type in
 * the slot is dropped and counted. */
static void test_A1_spurious_sint_and_unexpected_type(void **state) {
  struct sim *h = *state;
  uint64_t taken0 = hv_synic_stats()->ss_messages, bad0 = st()->vs_msgs_bad;
  uint64_t in0 = st()->vs_msgs_in;
  uint8_t body[16] = {VMBUS_MSG_UNLOAD_RESPONSE};
  henv_slot_raw(h, HVMSG_NONE, 16, 0, body, 16); /* spurious: type NONE */
  assert_int_equal(hv_synic_stats()->ss_messages, taken0);
  henv_slot_raw(h, 0x1234, 16, 0, body, 16);
  henv_slot_raw(h, HVMSG_TIMER_EXPIRED, 16, 0, body, 16);
  henv_slot_raw(h, HVMSG_UNMAPPED_GPA, 16, 0, body, 16);
  assert_int_equal(hv_synic_stats()->ss_messages, taken0 + 3);
  assert_int_equal(st()->vs_msgs_bad, bad0 + 3);
  assert_int_equal(st()->vs_msgs_in, in0);
}

/* A2: payload_size above 240, or below the minimum of its msgtype. */
static void test_A2_payload_size_over_240_or_under_minimum(void **state) {
  struct sim *h = *state;
  uint64_t bad0 = st()->vs_msgs_bad, in0 = st()->vs_msgs_in;
  unsigned offers0 = vmbus_offer_count();
  uint8_t body[HV_MESSAGE_PAYLOAD_MAX];
  memset(body, 0, sizeof(body));
  body[0] = VMBUS_MSG_ALLOFFERS_DELIVERED;
  henv_slot_raw(h, HVMSG_VMBUS, 241, 0, body, sizeof(body));
  henv_slot_raw(h, HVMSG_VMBUS, 255, 0, body, sizeof(body));
  henv_slot_raw(h, HVMSG_VMBUS, 0, 0, body, sizeof(body));
  henv_slot_raw(h, HVMSG_VMBUS, 3, 0, body, sizeof(body)); /* not even a header */
  send_msg(h, VMBUS_MSG_OFFERCHANNEL, 8);                  /* 196 needed */
  send_msg(h, VMBUS_MSG_OFFERCHANNEL, 195);
  send_msg(h, VMBUS_MSG_RESCIND_CHANNELOFFER, 11);
  send_msg(h, VMBUS_MSG_GPADL_CREATED, 19);
  send_msg(h, VMBUS_MSG_OPENCHANNEL_RESULT, 12);
  assert_int_equal(st()->vs_msgs_bad, bad0 + 9);
  assert_int_equal(st()->vs_msgs_in, in0);
  assert_int_equal(vmbus_offer_count(), offers0);
}

/* A3: msgtype out of range, INVALID, reserved or guest-to-host only. */
static void test_A3_msgtype_out_of_range_or_without_handler(void **state) {
  struct sim *h = *state;
  uint64_t bad0 = st()->vs_msgs_bad;
  send_msg(h, VMBUS_MSG_COUNT, 64);
  send_msg(h, 0xffffffffu, 64);
  send_msg(h, VMBUS_MSG_INVALID, 64);
  send_msg(h, VMBUS_MSG_OPEN_RESERVED_CHANNEL, 64);
  send_msg(h, VMBUS_MSG_PAUSE, 64);
  send_msg(h, VMBUS_MSG_INITIATE_CONTACT, 64); /* a host never sends it */
  send_msg(h, VMBUS_MSG_GPADL_HEADER, 64);
  assert_int_equal(st()->vs_msgs_bad, bad0 + 7);
  assert_true(vmbus_connected());
}

/* A4: the host rewrites payload_size, msgtype and message_type while the
 * guest reads the slot. Each message the SINT handler took is dispatched
 * from its private copy exactly once: as malformed, or as well formed (and
 * then unsolicited), never half of each, and nothing reads past the copy. */
struct racer {
  volatile struct hv_message *slot;
  volatile bool stop;
  volatile uint32_t rounds;
};
static void *race_slot(void *arg) {
  struct racer *r = arg;
  for (uint32_t i = 0; !r->stop; i++) {
    r->rounds = i + 1;
    r->slot->header.payload_size = (i & 1) ? 16 : 250;
    uint32_t t = (i & 2) ? VMBUS_MSG_UNLOAD_RESPONSE : 0xffffu;
    for (int b = 0; b < 4; b++)
      r->slot->payload[b] = (uint8_t)(t >> (8 * b));
    r->slot->header.message_type = (i & 4) ? HVMSG_VMBUS : 0x42;
  }
  return NULL;
}
static void test_A4_host_rewrites_slot_between_check_and_use(void **state) {
  struct sim *h = *state;
  uint64_t taken0 = hv_synic_stats()->ss_messages, bad0 = st()->vs_msgs_bad;
  uint64_t in0 = st()->vs_msgs_in, uns0 = st()->vs_msgs_unsolicited;
  uint64_t drop0 = hv_synic_stats()->ss_dropped;
  struct racer r = {&hv_vcpu_self()->hv_simp->sint_message[HV_VMBUS_SINT], false, 0};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, race_slot, &r), 0);
  while (r.rounds == 0)
    ;
  uint64_t t0 = hw_now_ns();
  for (int i = 0; i < 20000 && (i < 2000 || elapsed_ms(t0) < 200); i++) {
    part_inject(&h->s_part, 0, HV_SINT_VECTOR);
    sim_settle();
  }
  r.stop = true;
  pthread_join(t, NULL);
  r.slot->header.message_type = HVMSG_NONE;
  sim_settle();
  uint64_t taken = hv_synic_stats()->ss_messages - taken0;
  uint64_t in = st()->vs_msgs_in - in0;
  printf("A4: %lu messages taken under the race: %lu malformed, %lu well formed\n",
         (unsigned long)taken, (unsigned long)(st()->vs_msgs_bad - bad0), (unsigned long)in);
  assert_true(taken > 0);
  assert_int_equal(hv_synic_stats()->ss_dropped, drop0);
  assert_int_equal(st()->vs_msgs_bad - bad0 + in, taken);
  assert_int_equal(st()->vs_msgs_unsolicited - uns0, in); /* none acted upon */
}

/* A5: the pending flag set with nothing queued (EOM, nothing more), and a
 * slot the hypervisor refills as fast as it is emptied: one interrupt takes
 * at most SYNIC_MAX_PER_IRQ (16) messages, then yields; all are taken. */
static void test_A5_pending_flag_and_slot_never_empty(void **state) {
  struct sim *h = *state;
  uint64_t eom0 = hv_synic_stats()->ss_eoms, bad0 = st()->vs_msgs_bad;
  uint8_t body[16] = {0xff, 0xff}; /* msgtype 0xffff: dropped */
  henv_slot_raw(h, HVMSG_VMBUS, 16, HV_MESSAGE_FLAG_PENDING, body, 16);
  assert_int_equal(hv_synic_stats()->ss_eoms, eom0 + 1);
  assert_int_equal(st()->vs_msgs_bad, bad0 + 1);

  const unsigned n = 100;
  uint64_t irq0 = hv_synic_stats()->ss_interrupts, taken0 = hv_synic_stats()->ss_messages;
  for (unsigned i = 0; i < n; i++)
    assert_int_equal(hvemu_post_message(h->s_emu, HV_VMBUS_SINT, HVMSG_VMBUS, 0, body, 16), 0);
  sim_settle();
  assert_int_equal(hv_synic_stats()->ss_messages - taken0, n);
  assert_true(hv_synic_stats()->ss_interrupts - irq0 >= n / 16);
  assert_int_equal(st()->vs_msgs_bad, bad0 + 1 + n);
  assert_int_equal(hvemu_queued(h->s_emu, HV_VMBUS_SINT), 0);
}

/* A6: event bits for relids never offered, out of range, or set before the
 * channel table exists: cleared and counted, no channel runs. */
static void test_A6_event_bits_for_unknown_relids(void **state) {
  (void)state;
  struct sim h;
  henv_up(&h, VMBUS_VERSION_WIN10_V5_3, 1);
  henv_event_bit(&h, 5); /* before the client is connected: ignored */
  assert_int_equal(henv_connect(&h, WAIT_MS), 0);
  uint64_t stray0 = st()->vs_events_stray, ev0 = st()->vs_events;
  henv_event_bit(&h, 77);
  henv_event_bit(&h, 2047);
  henv_event_bit(&h, 1); /* offered but unclaimed */
  assert_true(st()->vs_events_stray - stray0 >= 3);
  assert_int_equal(st()->vs_events, ev0);
  volatile uint64_t *flags = hv_vcpu_self()->hv_siefp->sint_flags[HV_VMBUS_SINT];
  assert_int_equal(flags[77 / 64] & (1ull << (77 % 64)), 0);
  assert_int_equal(flags[2047 / 64] & (1ull << (2047 % 64)), 0);
  still_works(&h);
  henv_down(&h);
}

/* A7: interrupts before the SynIC handler exists, before the VMBus client
 * connects, and stale host messages and events after UNLOAD. */
static void test_A7_interrupts_before_init_and_after_unload(void **state) {
  (void)state;
  struct sim h;
  henv_up(&h, VMBUS_VERSION_WIN10_V5_3, 1);
  hv_shutdown(); /* no handler, SynIC off */
  uint64_t unhandled0 = inproc_irq_stats()->is_unhandled;
  part_inject(&h.s_part, 0, HV_SINT_VECTOR);
  sim_settle();
  assert_int_equal(inproc_irq_stats()->is_unhandled, unhandled0 + 1);
  bool earlier = false;
  assert_int_equal(hv_init(&earlier), 0);
  /* SynIC on, VMBus client not connected: host messages are dropped. */
  send_offer(&h, 9, &echo_dev_type, 0, 0, 0, 0x10009);
  send_msg(&h, VMBUS_MSG_VERSION_RESPONSE, 16);
  henv_event_bit(&h, 9);
  assert_int_equal(henv_connect(&h, WAIT_MS), 0);
  assert_int_equal(vmbus_offer_count(), 1);
  still_works(&h);
  /* After UNLOAD: stale offers, open results, GPADL answers and events. */
  assert_int_equal(vmbus_disconnect(), 0);
  send_offer(&h, 9, &echo_dev_type, 0, 0, 0, 0x10009);
  struct vmbus_msg_open_result orr = {{VMBUS_MSG_OPENCHANNEL_RESULT, 0}, 1, 1, 0};
  henv_slot_msg(&h, &orr, sizeof(orr));
  struct vmbus_msg_gpadl_created gc = {
      {VMBUS_MSG_GPADL_CREATED, 0}, 1, VMBUS_FIRST_GPADL_HANDLE, 0};
  henv_slot_msg(&h, &gc, sizeof(gc));
  henv_event_bit(&h, 1);
  assert_int_equal(vmbus_offer_count(), 0);
  assert_int_equal(henv_connect(&h, WAIT_MS), 0);
  assert_int_equal(vmbus_offer_count(), 1);
  still_works(&h);
  henv_down(&h);
}

/* ---- B. Channel-management messages ------------------------------------------ */

/* B1: VERSION_RESPONSE duplicated, unsolicited, late (must not answer the
 * next attempt), refusing every version, or naming a bad connection id. */
static void test_B1_version_response_hostile(void **state) {
  (void)state;
  struct sim h;
  /* duplicated: the first answer counts, the copy is unsolicited */
  henv_up(&h, 0, 1);
  henv_fault(&h, true, VMBUS_MSG_VERSION_RESPONSE, 1, VMBSRV_FAULT_DUPLICATE, 0);
  uint64_t uns0 = st()->vs_msgs_unsolicited;
  assert_int_equal(henv_connect(&h, WAIT_MS), 0);
  assert_int_equal(vmbus_version(), VMBUS_VERSION_WIN10_V6_0);
  assert_int_equal(st()->vs_msgs_unsolicited, uns0 + 1);
  /* unsolicited, accepting, with another connection id: nothing changes */
  struct vmbus_msg_version_response vr;
  memset(&vr, 0, sizeof(vr));
  vr.hdr.msgtype = VMBUS_MSG_VERSION_RESPONSE;
  vr.version_supported = 1;
  vr.msg_conn_id = 0x999;
  henv_slot_msg(&h, &vr, sizeof(vr));
  assert_int_equal(st()->vs_msgs_unsolicited, uns0 + 2);
  assert_int_equal(vmbus_version(), VMBUS_VERSION_WIN10_V6_0);
  still_works(&h);
  henv_down(&h);

  /* late: the 6.0 answer comes after the wait; it must not be taken as the
   * answer to anything else. The connect fails cleanly, then succeeds. */
  henv_up(&h, 0, 1);
  henv_fault(&h, true, VMBUS_MSG_VERSION_RESPONSE, 1, VMBSRV_FAULT_DELAY, 3 * WAIT_MS);
  uint64_t t0 = hw_now_ns();
  assert_int_equal(henv_connect(&h, WAIT_MS), -ETIMEDOUT);
  assert_true(elapsed_ms(t0) < BOUND_MS);
  uns0 = st()->vs_msgs_unsolicited;
  ev_wait(never, NULL, 4 * WAIT_MS); /* the late answer arrives meanwhile */
  assert_int_equal(st()->vs_msgs_unsolicited, uns0 + 1);
  assert_int_equal(henv_connect(&h, WAIT_MS), 0);
  still_works(&h);
  henv_down(&h);

  /* every version refused: a clean -EPROTONOSUPPORT, no hang */
  henv_up(&h, 0, 1);
  for (unsigned i = 0; i < vmbus_nversions; i++)
    vmbsrv_refuse_version(h.s_srv, vmbus_versions[i]);
  assert_int_equal(henv_connect(&h, WAIT_MS), -EPROTONOSUPPORT);
  assert_false(vmbus_connected());
  henv_down(&h);

  /* 5.0+: a message connection id beyond 24 bits is refused (-EPROTO) */
  henv_up(&h, 0, 1);
  henv_fault(&h, true, VMBUS_MSG_VERSION_RESPONSE, 1, VMBSRV_FAULT_CORRUPT, 15);
  assert_int_equal(henv_connect(&h, WAIT_MS), -EPROTO);
  assert_int_equal(henv_connect(&h, WAIT_MS), 0); /* the fault fired once */
  still_works(&h);
  henv_down(&h);
}

/* B2: offers with a relid out of range or already live, an unknown class,
 * a sub-channel never requested, a monitor id beyond 127, a connection id
 * beyond 24 bits. Refused ones are counted and never claimed. */
static void test_B2_offer_fields_hostile(void **state) {
  struct sim *h = *state;
  unsigned n0 = vmbus_offer_count();
  uint64_t ref0 = st()->vs_offers_refused;
  send_offer(h, 0, &unknown_type, 0, 0, 0, 0x10000);
  send_offer(h, VMBUS_MAX_RELID, &unknown_type, 0, 0, 0, 0x10000);
  send_offer(h, 0xffffffffu, &unknown_type, 0, 0, 0, 0x10000);
  send_offer(h, 1, &echo_dev_type, 0, 0, 0, 0x10001); /* relid 1 is live */
  send_offer(h, 41, &echo_dev_type, 1, 0, 0, 0x10029);
  send_offer(h, 42, &echo_dev_type, 0, 1, 200, 0x1002a);
  send_offer(h, 43, &echo_dev_type, 0, 0, 0, 0x1000000);
  assert_int_equal(st()->vs_offers_refused, ref0 + 7);
  assert_int_equal(vmbus_offer_count(), n0);
  /* an unknown class is recorded (hot-add is legal) but nobody claims it */
  send_offer(h, 40, &unknown_type, 0, 0, 0, 0x10028);
  assert_int_equal(vmbus_offer_count(), n0 + 1);
}

/* B3: more offers than the table holds; ALLOFFERS_DELIVERED never sent. */
static void test_B3_offer_flood_and_alloffers_never_arrives(void **state) {
  (void)state;
  struct sim h;
  up_connected(&h, 1);
  uint64_t ref0 = st()->vs_offers_refused;
  for (uint32_t r = 100; r < 100 + VMBUS_MAX_OFFERS + 6; r++)
    send_offer(&h, r, &unknown_type, 0, 0, 0, 0x10000 + r);
  assert_int_equal(vmbus_offer_count(), VMBUS_MAX_OFFERS);
  assert_int_equal(st()->vs_offers_refused, ref0 + 7); /* 1 echo + 63 fit */
  still_works(&h);
  henv_down(&h);

  henv_up(&h, VMBUS_VERSION_WIN10_V5_3, 1);
  henv_fault(&h, true, VMBUS_MSG_ALLOFFERS_DELIVERED, 1, VMBSRV_FAULT_DROP, 0);
  uint64_t t0 = hw_now_ns();
  assert_int_equal(henv_connect(&h, WAIT_MS), -ETIMEDOUT);
  assert_true(elapsed_ms(t0) < BOUND_MS);
  henv_down(&h);
}

/* B4: rescind of an unknown relid, a second rescind, a rescind while the
 * ring GPADL is being created, and one while it is torn down. */
static void test_B4_rescind_unknown_double_and_racing(void **state) {
  (void)state;
  struct sim h;
  up_connected(&h, 2);
  uint64_t uns0 = st()->vs_msgs_unsolicited;
  struct vmbus_msg_relid rm = {{VMBUS_MSG_RESCIND_CHANNELOFFER, 0}, 99};
  henv_slot_msg(&h, &rm, sizeof(rm));
  assert_int_equal(st()->vs_msgs_unsolicited, uns0 + 1);

  /* rescind while the guest creates the ring GPADL: the wait ends, the open
   * fails, nothing leaks, nothing hangs */
  uint64_t pages0 = page_free_count();
  uint32_t gp0 = kmcl_live_gpadls;
  henv_fault(&h, false, VMBUS_MSG_GPADL_HEADER, 1, VMBSRV_FAULT_RESCIND, 1);
  struct hclient c;
  uint64_t t0 = hw_now_ns();
  assert_false(hclient_open(&c, 2 * WAIT_MS));
  assert_true(elapsed_ms(t0) < BOUND_MS);
  assert_true(c.pnp_failed);
  /* the same rescind again: ignored */
  rm.child_relid = 1;
  henv_slot_msg(&h, &rm, sizeof(rm));
  hclient_close(&c);
  assert_int_equal(page_free_count(), pages0);
  assert_int_equal(kmcl_live_gpadls, gp0);

  /* rescind while the guest tears the ring GPADL down */
  assert_true(hclient_open(&c, 2000));
  henv_fault(&h, false, VMBUS_MSG_GPADL_TEARDOWN, 1, VMBSRV_FAULT_RESCIND,
             ((struct kmcl_channel *)c.ch)->ch_offer.bo_relid);
  t0 = hw_now_ns();
  hclient_close(&c);
  assert_true(elapsed_ms(t0) < BOUND_MS);
  assert_int_equal(kmcl_live_gpadls, gp0);
  henv_down(&h);
}

/** The host corrupts byte `byte` of its next `type` message (a failure
 * status): the open fails with PnpFailure, no hang; closing gives back
 * every GPADL and every page. */
static void open_fails_on_corrupt(struct sim *h, uint32_t type, uint32_t byte) {
  uint64_t pages0 = page_free_count();
  uint32_t gp0 = kmcl_live_gpadls;
  henv_fault(h, true, type, 1, VMBSRV_FAULT_CORRUPT, byte);
  struct hclient c;
  assert_false(hclient_open(&c, 2000));
  assert_true(c.pnp_failed);
  hclient_close(&c);
  assert_int_equal(page_free_count(), pages0);
  assert_int_equal(kmcl_live_gpadls, gp0);
}

/* B5: OPENCHANNEL_RESULT unsolicited, with a wrong openid, or failing. */
static void test_B5_open_result_unsolicited_wrong_id_or_failing(void **state) {
  struct sim *h = *state;
  struct hclient c;
  assert_true(hclient_open(&c, 2000));
  uint32_t relid = ((struct kmcl_channel *)c.ch)->ch_offer.bo_relid;
  uint32_t ring_pages = ((struct kmcl_channel *)c.ch)->ch_ring_pages;
  uint64_t uns0 = st()->vs_msgs_unsolicited;
  struct vmbus_msg_open_result orr = {{VMBUS_MSG_OPENCHANNEL_RESULT, 0}, relid, relid, 0};
  henv_slot_msg(h, &orr, sizeof(orr)); /* not opening any more */
  orr.status = 0xc0000001u;
  henv_slot_msg(h, &orr, sizeof(orr));
  assert_int_equal(st()->vs_msgs_unsolicited, uns0 + 2);
  assert_int_equal(hclient_round_trip(&c, 50, 5000), 50);
  hclient_close(&c);

  /* wrong openid while opening: ignored; the open never completes and the
   * driver's Disable from "opening" returns and frees everything */
  uint64_t pages0 = page_free_count();
  uint32_t gp0 = kmcl_live_gpadls;
  uint64_t kept0 = st()->vs_gpadls_unanswered;
  henv_fault(h, true, VMBUS_MSG_OPENCHANNEL_RESULT, 1, VMBSRV_FAULT_CORRUPT, 12);
  assert_false(hclient_open(&c, WAIT_MS));
  assert_false(c.opened);
  hclient_close(&c);
  assert_int_equal(page_free_count(), pages0);
  assert_int_equal(kmcl_live_gpadls, gp0);

  /* A lying host: it opened the channel but its OPENCHANNEL_RESULT says it
   * failed (the fault flips the status on the wire only). The guest does
   * what Linux (__vmbus_open) and FreeBSD (vmbus_chan_open_br) do on a
   * failing result: no CLOSECHANNEL, tear the ring GPADL down, free the
   * ring once GPADL_TORNDOWN comes. This host still has the ring mapped
   * for its open channel, so TORNDOWN never comes: the bounded wait ends
   * and the ring pages are quarantined, not leaked by mistake (F1). */
  henv_fault(h, true, VMBUS_MSG_OPENCHANNEL_RESULT, 1, VMBSRV_FAULT_CORRUPT, 16);
  uint64_t t0 = hw_now_ns();
  assert_false(hclient_open(&c, 2000));
  assert_true(c.pnp_failed);
  assert_true(elapsed_ms(t0) < BOUND_MS);
  assert_int_equal(((struct kmcl_channel *)c.ch)->ch_offer.bo_relid, relid);
  hclient_close(&c);
  assert_true(vmbsrv_channel_open(h->s_srv, relid)); /* the reason: open on the host */
  assert_int_equal(st()->vs_gpadls_unanswered, kept0 + 1);
  assert_int_equal(page_free_count(), pages0 - ring_pages);
  assert_int_equal(kmcl_live_gpadls, gp0);

  /* An honest failing result (the host refuses a second open of that
   * channel and maps nothing): TORNDOWN comes and every page is back. */
  pages0 = page_free_count();
  assert_false(hclient_open(&c, 2000));
  assert_true(c.pnp_failed);
  assert_int_equal(((struct kmcl_channel *)c.ch)->ch_offer.bo_relid, relid);
  hclient_close(&c);
  assert_int_equal(st()->vs_gpadls_unanswered, kept0 + 1);
  assert_int_equal(page_free_count(), pages0);
  assert_int_equal(kmcl_live_gpadls, gp0);
  /* works_then_down: the second echo device still round-trips */
}

/* B6: GPADL_CREATED/TORNDOWN for an unknown handle, for another relid,
 * duplicated, or with a failure status. */
static void test_B6_gpadl_answers_unknown_wrong_channel_dup_or_failing(void **state) {
  struct sim *h = *state;
  uint64_t uns0 = st()->vs_msgs_unsolicited;
  struct vmbus_msg_gpadl_created gc = {{VMBUS_MSG_GPADL_CREATED, 0}, 1, 0xdead, 0};
  henv_slot_msg(h, &gc, sizeof(gc));
  struct vmbus_msg_gpadl_torndown gt = {{VMBUS_MSG_GPADL_TORNDOWN, 0}, 0xdead};
  henv_slot_msg(h, &gt, sizeof(gt));
  assert_int_equal(st()->vs_msgs_unsolicited, uns0 + 2);

  /* duplicated: the copy is unsolicited, the channel works */
  struct hclient c;
  henv_fault(h, true, VMBUS_MSG_GPADL_CREATED, 1, VMBSRV_FAULT_DUPLICATE, 0);
  assert_true(hclient_open(&c, 2000));
  assert_int_equal(st()->vs_msgs_unsolicited, uns0 + 3);
  assert_int_equal(hclient_round_trip(&c, 50, 5000), 50);
  hclient_close(&c);

  /* failure status: the open fails; the host said no, the pages come back */
  open_fails_on_corrupt(h, VMBUS_MSG_GPADL_CREATED, 16);
  uint64_t pages0 = page_free_count(); /* as before it (checked there) */
  uint32_t gp0 = kmcl_live_gpadls;

  /* another relid's answer: ignored; the create times out and the ring
   * pages are kept from reuse (F1) */
  uns0 = st()->vs_msgs_unsolicited;
  henv_fault(h, true, VMBUS_MSG_GPADL_CREATED, 1, VMBSRV_FAULT_CORRUPT, 8);
  assert_false(hclient_open(&c, 4 * WAIT_MS));
  assert_true(c.pnp_failed);
  assert_int_equal(st()->vs_msgs_unsolicited, uns0 + 1);
  hclient_close(&c);
  assert_true(page_free_count() < pages0);
  assert_int_equal(kmcl_live_gpadls, gp0);
}

/* B7: UNLOAD_RESPONSE unsolicited, or never sent. */
static void test_B7_unload_response_unsolicited_or_missing(void **state) {
  (void)state;
  struct sim h;
  up_connected(&h, 1);
  uint64_t uns0 = st()->vs_msgs_unsolicited;
  send_msg(&h, VMBUS_MSG_UNLOAD_RESPONSE, 8);
  assert_int_equal(st()->vs_msgs_unsolicited, uns0 + 1);
  assert_true(vmbus_connected());
  still_works(&h);
  /* no answer: bounded, and the interrupt/monitor pages stay allocated
   * (the host may still write them) */
  henv_fault(&h, true, VMBUS_MSG_UNLOAD_RESPONSE, 1, VMBSRV_FAULT_DROP, 0);
  uint64_t pages0 = page_free_count();
  uint64_t t0 = hw_now_ns();
  assert_int_equal(vmbus_disconnect(), -ETIMEDOUT);
  assert_true(elapsed_ms(t0) < BOUND_MS);
  assert_false(vmbus_connected());
  assert_int_equal(page_free_count(), pages0);
  henv_down(&h);
}

/* ---- F. Memory sharing, GPADLs, lifecycle --------------------------------------- */

/* F1: a GPADL whose creation or teardown the host never answers: its pages
 * were shared and are never reused (leaked, counted by the page allocator);
 * the guest goes on. */
static void test_F1_unanswered_gpadl_pages_never_reused(void **state) {
  struct sim *h = *state;
  uint64_t pages0 = page_free_count();
  uint32_t gp0 = kmcl_live_gpadls;
  uint64_t kept0 = st()->vs_gpadls_unanswered;
  struct hclient c;
  /* teardown unanswered */
  assert_true(hclient_open(&c, 2000));
  uint32_t ring_pages = ((struct kmcl_channel *)c.ch)->ch_ring_pages;
  assert_true(ring_pages >= 4);
  henv_fault(h, true, VMBUS_MSG_GPADL_TORNDOWN, 1, VMBSRV_FAULT_DROP, 0);
  hclient_close(&c);
  assert_int_equal(st()->vs_gpadls_unanswered, kept0 + 1);
  assert_int_equal(page_free_count(), pages0 - ring_pages);
  assert_int_equal(kmcl_live_gpadls, gp0);
  /* creation unanswered */
  henv_fault(h, true, VMBUS_MSG_GPADL_CREATED, 1, VMBSRV_FAULT_DROP, 0);
  assert_false(hclient_open(&c, 4 * WAIT_MS));
  hclient_close(&c);
  assert_int_equal(st()->vs_gpadls_unanswered, kept0 + 2);
  assert_int_equal(page_free_count(), pages0 - 2 * ring_pages);
  assert_int_equal(kmcl_live_gpadls, gp0);
  /* a caller's buffer: STATUS_IO_TIMEOUT tells it not to reuse the buffer */
  assert_true(hclient_open(&c, 2000));
  uint8_t *buf = page_alloc(4);
  assert_non_null(buf);
  henv_fault(h, true, VMBUS_MSG_GPADL_CREATED, 1, VMBSRV_FAULT_DROP, 0);
  UINT32 handle = 0;
  assert_int_equal(VmbChannelCreateGpadlFromBuffer(c.ch, 0, buf, 4 * PAGE_SIZE, &handle),
                   STATUS_IO_TIMEOUT);
  assert_int_equal(st()->vs_gpadls_unanswered, kept0 + 3);
  /* cut short: the header (26 PFNs) delivered, the body refused. The host
   * holds PFNs of a GPADL no teardown can name: the same answer. */
  uint8_t *big = page_alloc(40);
  assert_non_null(big);
  uint64_t bodies0 = st()->vs_gpadl_bodies;
  hvemu_fail_posts_after(h->s_emu, 1, 1, HV_STATUS_INVALID_PARAMETER);
  assert_int_equal(VmbChannelCreateGpadlFromBuffer(c.ch, 0, big, 40 * PAGE_SIZE, &handle),
                   STATUS_IO_TIMEOUT);
  assert_int_equal(st()->vs_gpadl_bodies, bodies0 + 1);
  assert_int_equal(st()->vs_gpadls_unanswered, kept0 + 4);
  assert_int_equal(hclient_round_trip(&c, 50, 5000), 50);
  hclient_close(&c);
}

/* F2: the host never answers: each wait ends within its bound and the
 * caller gets a clean error (connect, open, modify). */
static void test_F2_every_wait_bounded(void **state) {
  (void)state;
  struct sim h;
  henv_up(&h, VMBUS_VERSION_WIN10_V5_3, 1);
  henv_fault(&h, true, VMBUS_MSG_VERSION_RESPONSE, 1, VMBSRV_FAULT_DROP, 0);
  uint64_t t0 = hw_now_ns();
  assert_int_equal(henv_connect(&h, WAIT_MS), -ETIMEDOUT);
  assert_true(elapsed_ms(t0) < BOUND_MS);
  assert_int_equal(henv_connect(&h, WAIT_MS), 0);
  /* OPENCHANNEL_RESULT never comes: Disable from "opening" is prompt */
  henv_fault(&h, true, VMBUS_MSG_OPENCHANNEL_RESULT, 1, VMBSRV_FAULT_DROP, 0);
  struct hclient c;
  assert_false(hclient_open(&c, WAIT_MS));
  t0 = hw_now_ns();
  hclient_close(&c);
  assert_true(elapsed_ms(t0) < BOUND_MS);
  /* MODIFYCHANNEL_RESPONSE never comes */
  assert_true(hclient_open(&c, 2000));
  uint32_t relid = ((struct kmcl_channel *)c.ch)->ch_offer.bo_relid;
  henv_fault(&h, true, VMBUS_MSG_MODIFYCHANNEL_RESPONSE, 1, VMBSRV_FAULT_DROP, 0);
  t0 = hw_now_ns();
  assert_int_equal(vmbus_modify_channel(relid, 0), -ETIMEDOUT);
  assert_true(elapsed_ms(t0) < BOUND_MS);
  assert_int_equal(vmbus_modify_channel(relid, 0), 0);
  /* a synchronous request the host never completes: STATUS_IO_TIMEOUT-like
   * failure within its timeout (the host stops reading: its interrupt mask) */
  struct kmcl_channel *kc = (struct kmcl_channel *)c.ch;
  kc->ch_out.r_ctl->interrupt_mask = 1;
  uint8_t req[16] = {1}, resp[64];
  UINT32 resp_len = sizeof(resp);
  LARGE_INTEGER to;
  to.QuadPart = -(int64_t)WAIT_MS * 10000; /* relative, 100 ns units */
  t0 = hw_now_ns();
  NTSTATUS sst = VmbChannelSendSynchronousRequest(c.ch, req, sizeof(req), NULL,
                                                  VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION,
                                                  resp, &resp_len, &to);
  assert_true(elapsed_ms(t0) < BOUND_MS);
  assert_false(NT_SUCCESS(sst));
  kc->ch_out.r_ctl->interrupt_mask = 0;
  ev_wait(never, NULL, 10);
  hclient_close(&c);
  still_works(&h);
  henv_down(&h);
}

/* F3: a storm of host errors: everything counted, the log rate-limited. */
static void test_F3_error_storm_rate_limited(void **state) {
  struct sim *h = *state;
  uint64_t bad0 = st()->vs_msgs_bad, uns0 = st()->vs_msgs_unsolicited;
  henv_log_begin();
  for (int i = 0; i < 1000; i++)
    send_msg(h, 0xffffu, 16);
  struct vmbus_msg_relid rm = {{VMBUS_MSG_RESCIND_CHANNELOFFER, 0}, 99};
  for (int i = 0; i < 500; i++)
    henv_slot_msg(h, &rm, sizeof(rm));
  unsigned lines = henv_log_end("vmbus:");
  printf("F3: 1500 bad host messages, %u log lines\n", lines);
  assert_int_equal(st()->vs_msgs_bad, bad0 + 1000);
  assert_int_equal(st()->vs_msgs_unsolicited, uns0 + 500);
  assert_true(lines <= 20);
}

/* Interrupt storm (docs/SECURITY.md "Left open", now bounded): 2,500
 * SINTs with no message and no event flag are counted, do no work, are
 * reported once per 1,000 in a row (rate-limited), and the bus still works. */
static void test_interrupt_storm_counted_and_reported_once(void **state) {
  (void)state;
  struct sim h;
  up_connected(&h, 1);
  uint64_t c0 = hv_synic_stats()->ss_causeless, s0 = hv_synic_stats()->ss_storms;
  uint64_t m0 = hv_synic_stats()->ss_messages, in0 = st()->vs_msgs_in;
  henv_log_begin();
  for (int i = 0; i < 2500; i++)
    henv_slot_raw(&h, HVMSG_NONE, 0, 0, NULL, 0);
  unsigned lines = henv_log_end("synic:");
  printf("storm: 2500 causeless interrupts, %u log lines\n", lines);
  assert_int_equal(hv_synic_stats()->ss_causeless, c0 + 2500);
  assert_true(hv_synic_stats()->ss_storms >= s0 + 1); /* one per 1,000 in a row */
  assert_true(hv_synic_stats()->ss_storms <= s0 + 3);
  assert_int_equal(hv_synic_stats()->ss_messages, m0);
  assert_int_equal(st()->vs_msgs_in, in0);
  assert_true(lines >= 1 && lines <= 2);
  still_works(&h); /* an interrupt with a cause ends the run */
  henv_down(&h);
}

/* KMCL audit D6: VmbChannelGetMmioSpace on the real guest bus (hv/vmbus.c)
 * returns the size the offer carries (mmio_megabytes) and address 0: the
 * offer names no address, and this guest allocates no MMIO range (Linux
 * takes one from the VMBus ACPI device's _CRS). */
static void test_d6_mmio_space_on_the_real_bus(void **state) {
  (void)state;
  struct sim h;
  up_connected(&h, 0);
  VMBCHANNEL s = kh_server_channel(vmbsrv_device(h.s_srv), echo_dev_type, 99);
  assert_int_equal(VmbServerChannelInitSetMmioMegabytes(s, 8, 0), STATUS_SUCCESS);
  assert_int_equal(VmbChannelEnable(s), STATUS_SUCCESS);
  VmbChannelStart(s);
  struct hclient c;
  assert_true(hclient_open(&c, 2000));
  UINT64 addr = 1, size = 0;
  VmbChannelGetMmioSpace(c.ch, &addr, &size);
  assert_int_equal(size, 8ull << 20);
  assert_int_equal(addr, 0);
  hclient_close(&c);
  VmbChannelDisable(s);
  VmbChannelCleanup(s);
  henv_down(&h);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_d6_mmio_space_on_the_real_bus),
    HOSTILE_TEST1(test_A1_spurious_sint_and_unexpected_type),
    HOSTILE_TEST1(test_A2_payload_size_over_240_or_under_minimum),
    HOSTILE_TEST1(test_A3_msgtype_out_of_range_or_without_handler),
    HOSTILE_TEST1(test_A4_host_rewrites_slot_between_check_and_use),
    HOSTILE_TEST1(test_A5_pending_flag_and_slot_never_empty),
    cmocka_unit_test(test_A6_event_bits_for_unknown_relids),
    cmocka_unit_test(test_A7_interrupts_before_init_and_after_unload),
    cmocka_unit_test(test_B1_version_response_hostile),
    HOSTILE_TEST1(test_B2_offer_fields_hostile),
    cmocka_unit_test(test_B3_offer_flood_and_alloffers_never_arrives),
    cmocka_unit_test(test_B4_rescind_unknown_double_and_racing),
    HOSTILE_TEST2(test_B5_open_result_unsolicited_wrong_id_or_failing),
    HOSTILE_TEST2(test_B6_gpadl_answers_unknown_wrong_channel_dup_or_failing),
    cmocka_unit_test(test_B7_unload_response_unsolicited_or_missing),
    HOSTILE_TEST2(test_F1_unanswered_gpadl_pages_never_reused),
    cmocka_unit_test(test_F2_every_wait_bounded),
    HOSTILE_TEST1(test_F3_error_storm_rate_limited),
    cmocka_unit_test(test_interrupt_storm_counted_and_reported_once),
};

UNIT_MAIN("hostile_vmbus", tests)
