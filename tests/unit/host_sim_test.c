/* tests/unit/host_sim_test.c: the guest's Hyper-V layer and VMBus client
 * (hv/) against the in-process host (host/hvemu.c, host/vmbus_server.c) in
 * one process: for each of the eleven host caps, the client lands on that
 * version, a KMCL client channel opens the echo device (a KMCL server
 * channel on the host) and round-trips 1,000 packets, and the host's
 * counters show the signalling path the version requires (shared interrupt
 * page below 2.4, per-relid event flags from 2.4, monitor pages for
 * monitored offers). Then everything is torn down and nothing leaks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/echo_dev.h"
#include "host/vmbus_server.h"
#include "hv/vmbus.h"
#include "kernel/event.h"
#include "kernel/hw.h"
#include "kernel/page.h"
#include "kmcl/kmcl_priv.h"
#include "kmcl/vmbkmcl.h"
#include "sim/sim.h"
#include "tests/unit/lib/hostile_env.h"
#include "tests/unit/unit.h"

#define NPACKETS 1000

static const uint32_t versions[VMBUS_NUM_VERSIONS] = VMBUS_ALL_VERSIONS;
#define NVERSIONS (sizeof(versions) / sizeof(versions[0]))

/** Host with one echo device, capped at `cap`, up to phase `to`. */
static void up(struct sim *s, uint32_t cap, bool monitored, enum sim_phase to) {
  struct sim_config cfg = {.sc_srv = {.vc_max_version = cap,
                                      .vc_monitored_offers = monitored,
                                      .vc_trace = getenv("HOST_SIM_TRACE") != NULL},
                           .sc_echo = 1,
                           .sc_echo_tag = 0x1234};
  assert_int_equal(sim_start(s, &cfg, to), 0);
}

static void down(struct sim *s) { assert_int_equal(sim_down(s, SIM_OFF), 0); }

/** NPACKETS echoes on `c`, every one intact. */
static void round_trip(struct sim *s, struct hclient *c) {
  uint32_t got = hclient_round_trip(c, NPACKETS, 10000);
  if (got != NPACKETS)
    printf("round trip: %u of %u completions; echo %lu; sig rx hcall %u monitor %u tx flags %u "
           "int %u; guest events %lu hcalls %lu\n",
           got, NPACKETS, (unsigned long)echo_dev_packets(s->s_echo[0]),
           vmbsrv_stats(s->s_srv)->vs_sig_rx_hypercall, vmbsrv_stats(s->s_srv)->vs_sig_rx_monitor,
           vmbsrv_stats(s->s_srv)->vs_sig_tx_event_flags,
           vmbsrv_stats(s->s_srv)->vs_sig_tx_int_page, (unsigned long)vmbus_stats()->vs_events,
           (unsigned long)vmbus_stats()->vs_signal_hypercall);
  assert_int_equal(got, NPACKETS);
  assert_int_equal(c->mismatches, 0);
}

static void run_cap(uint32_t cap, bool monitored) {
  struct sim s;
  up(&s, cap, monitored, SIM_CONNECTED);
  assert_int_equal(vmbus_version(), cap);
  assert_int_equal(vmbsrv_version(s.s_srv), cap);
  assert_int_equal(vmbus_offer_count(), 1);
  /* Leak baseline (the fixture's, at SIM_CONNECTED): the guest's Hyper-V
   * pages (SynIC, hypercall, interrupt and monitor pages) are its own
   * business; the channel's are checked. */
  struct hclient c;
  assert_true(hclient_open(&c, 5000));
  assert_true(echo_dev_is_open(s.s_echo[0]));
  round_trip(&s, &c);
  const struct vmbsrv_stats *st = vmbsrv_stats(s.s_srv);
  assert_int_equal(echo_dev_packets(s.s_echo[0]), NPACKETS);
  printf("cap %u.%u%s: host->guest int_page=%u event_flags=%u; guest->host hypercall=%u "
         "int_page=%u monitor=%u\n",
         cap >> 16, cap & 0xffff, monitored ? " monitored" : "", st->vs_sig_tx_int_page,
         st->vs_sig_tx_event_flags, st->vs_sig_rx_hypercall, st->vs_sig_rx_int_page,
         st->vs_sig_rx_monitor);
  bool win8 = cap >= VMBUS_VERSION_WIN8;
  /* Host -> guest: the interrupt page below 2.4, event flags from 2.4. */
  if (win8) {
    assert_true(st->vs_sig_tx_event_flags > 0);
    assert_int_equal(st->vs_sig_tx_int_page, 0);
  } else {
    assert_true(st->vs_sig_tx_int_page > 0);
    assert_int_equal(st->vs_sig_tx_event_flags, 0);
  }
  /* Guest -> host: monitor pages for monitored offers (1.1+), else the
   * hypercall (per-channel id from 2.4, id 2 plus the interrupt page below). */
  if (monitored && cap >= VMBUS_VERSION_WIN7) {
    assert_true(st->vs_sig_rx_monitor > 0);
    assert_int_equal(st->vs_sig_rx_hypercall + st->vs_sig_rx_int_page, 0);
  } else if (win8) {
    assert_true(st->vs_sig_rx_hypercall > 0);
    assert_int_equal(st->vs_sig_rx_int_page + st->vs_sig_rx_monitor, 0);
  } else {
    assert_true(st->vs_sig_rx_int_page > 0);
    assert_int_equal(st->vs_sig_rx_hypercall + st->vs_sig_rx_monitor, 0);
  }

  hclient_close(&c);
  assert_false(echo_dev_is_open(s.s_echo[0]));
  assert_int_equal(st->vs_gpadls_live, 0);
  assert_int_equal(sim_leaks(&s), 0);
  /* The echo device pools no packets: they are all back too. */
  assert_int_equal(kmcl_live_packets, s.s_base[SIM_CONNECTED].ct_packets);
  down(&s);
}

/* A host capped below 5.0 never sees the 6.0..5.0 attempts (they go to
 * connection id 4, which it does not listen on): one INITIATE_CONTACT. */
static void test_cap_below_5_contacts_once(void **state) {
  (void)state;
  struct sim s;
  up(&s, VMBUS_VERSION_WIN10_V4_1, false, SIM_CONNECTED);
  assert_int_equal(vmbus_version(), VMBUS_VERSION_WIN10_V4_1);
  assert_int_equal(vmbsrv_stats(s.s_srv)->vs_rx[VMBUS_MSG_INITIATE_CONTACT], 1);
  down(&s);
}

/* vmbus.max_version: the guest starts below the host's newest. */
static void test_guest_cap(void **state) {
  (void)state;
  struct sim s;
  up(&s, VMBUS_VERSION_WIN10_V6_0, false, SIM_HV);
  struct vmbus_options opt = {.vo_max_version = VMBUS_VERSION_WIN8_1};
  assert_int_equal(sim_connect(&s, &opt), 0);
  assert_int_equal(vmbus_version(), VMBUS_VERSION_WIN8_1);
  assert_int_equal(vmbsrv_stats(s.s_srv)->vs_rx[VMBUS_MSG_INITIATE_CONTACT], 1);
  down(&s);
}

static void test_each_cap_events(void **state) {
  (void)state;
  for (unsigned i = 0; i < NVERSIONS; i++)
    run_cap(versions[i], false);
}

static void test_each_cap_monitored(void **state) {
  (void)state;
  for (unsigned i = 0; i < NVERSIONS; i++)
    run_cap(versions[i], true);
}

/** Host and guest connected at 5.3 with an open echo channel. */
static void up_open(struct sim *s, struct hclient *c) {
  up(s, VMBUS_VERSION_WIN10_V5_3, false, SIM_CONNECTED);
  assert_true(hclient_open(c, 5000));
}

static bool cl_is_closed(void *arg) { return ((struct hclient *)arg)->closed; }

/** Close the client: the ring GPADL, pages and KMCL objects it took are
 * back; then everything down. */
static void close_down(struct sim *s, struct hclient *c) {
  hclient_close(c);
  assert_int_equal(vmbsrv_stats(s->s_srv)->vs_gpadls_live, 0);
  assert_int_equal(sim_leaks(s), 0);
  down(s);
}

static void test_rescind_while_open(void **state) {
  (void)state;
  struct sim s;
  struct hclient c;
  up_open(&s, &c);
  const struct vmbsrv_stats *st = vmbsrv_stats(s.s_srv);
  assert_int_equal(st->vs_gpadls_live, 1); /* the ring */
  assert_int_equal(vmbsrv_rescind(s.s_srv, 1), 0);
  assert_int_equal(ev_wait(cl_is_closed, &c, 5000), 0);
  hclient_close(&c);
  /* The guest released the relid; the host dropped the ring GPADL with it. */
  assert_int_equal(st->vs_rx[VMBUS_MSG_RELID_RELEASED], 1);
  close_down(&s, &c);
}

static void test_large_gpadl(void **state) {
  (void)state;
  struct sim s;
  struct hclient c;
  up_open(&s, &c);
  const uint32_t npages = 1024; /* 4 MiB: 1 header + 36 bodies */
  uint8_t *buf = page_alloc(npages);
  assert_non_null(buf);
  uint32_t bodies0 = vmbsrv_stats(s.s_srv)->vs_rx[VMBUS_MSG_GPADL_BODY];
  UINT32 handle = 0;
  assert_int_equal(VmbChannelCreateGpadlFromBuffer(c.ch, 0, buf, npages * PAGE_SIZE, &handle),
                   STATUS_SUCCESS);
  assert_int_equal(vmbsrv_stats(s.s_srv)->vs_rx[VMBUS_MSG_GPADL_BODY] - bodies0,
                   (npages - 26 + 27) / 28);
  const struct kmcl_bus_ops *ops = vmbsrv_bus(s.s_srv)->kb_ops;
  VMBCHANNEL ech = echo_dev_channel(s.s_echo[0]);
  const uint64_t *pfns;
  uint32_t n, off, cnt;
  assert_int_equal(ops->gpadl_map(vmbsrv_bus(s.s_srv), ech, handle, false, &pfns, &n, &off, &cnt),
                   0);
  assert_int_equal(n, npages);
  assert_int_equal(off, 0);
  assert_int_equal(cnt, npages * PAGE_SIZE);
  for (uint32_t i = 0; i < npages; i++)
    assert_int_equal(pfns[i], (hw_virt_to_phys(buf) >> PAGE_SHIFT) + i);
  ops->gpadl_unmap(vmbsrv_bus(s.s_srv), ech, handle);
  VmbChannelDeleteGpadl(c.ch, handle);
  assert_int_equal(vmbsrv_stats(s.s_srv)->vs_gpadls_live, 1);
  page_free(buf, npages);
  close_down(&s, &c);
}

/** Connect; the one offer (the echo device) opens, echoes and closes. */
static void connect_echo_once(struct sim *s) {
  assert_int_equal(sim_connect(s, NULL), 0);
  assert_int_equal(vmbus_offer_count(), 1);
  struct hclient c;
  assert_true(hclient_open(&c, 5000));
  round_trip(s, &c);
  hclient_close(&c);
}

/* Hostile host: the offer comes twice; the second is dropped, the channel
 * still opens and works. */
static void test_duplicate_offer(void **state) {
  (void)state;
  struct sim s;
  up(&s, VMBUS_VERSION_WIN10_V5_3, false, SIM_HV);
  henv_fault(&s, true, VMBUS_MSG_OFFERCHANNEL, 1, VMBSRV_FAULT_DUPLICATE, 0);
  connect_echo_once(&s);
  down(&s);
}

/* The host rescinds the offer when the guest's OPENCHANNEL arrives: no
 * OPENCHANNEL_RESULT ever comes; the client must not hang. */
static struct sim *cur;
static bool cl_gone(void *arg) {
  struct hclient *c = arg;
  return kmcl_channel_failed(c->ch) || c->closed ||
         vmbsrv_stats(cur->s_srv)->vs_tx[VMBUS_MSG_RESCIND_CHANNELOFFER] > 0;
}
static bool cl_is_started(void *arg) { return ((struct hclient *)arg)->started; }

static void test_rescind_while_opening(void **state) {
  (void)state;
  struct sim s;
  up(&s, VMBUS_VERSION_WIN10_V5_3, false, SIM_CONNECTED);
  cur = &s;
  henv_fault(&s, false, VMBUS_MSG_OPENCHANNEL, 1, VMBSRV_FAULT_RESCIND, 1);
  struct hclient c;
  hclient_open(&c, 0);
  assert_int_equal(ev_wait(cl_gone, &c, 5000), 0);
  ev_wait(cl_is_started, &c, 100); /* let the rescind settle */
  assert_false(c.started);
  hclient_close(&c);
  assert_int_equal(vmbsrv_stats(s.s_srv)->vs_rx[VMBUS_MSG_OPENCHANNEL_RESULT], 0);
  assert_int_equal(vmbsrv_stats(s.s_srv)->vs_tx[VMBUS_MSG_OPENCHANNEL_RESULT], 0);
  assert_int_equal(vmbsrv_stats(s.s_srv)->vs_rx[VMBUS_MSG_RELID_RELEASED], 1);
  close_down(&s, &c);
}

/* UNLOAD and connect again: the device is offered again and works. */
static void test_unload_reconnect(void **state) {
  (void)state;
  struct sim s;
  up(&s, VMBUS_VERSION_WIN10_V5_3, false, SIM_HV);
  for (int round = 0; round < 3; round++) {
    connect_echo_once(&s);
    assert_int_equal(vmbus_disconnect(), 0);
    sim_settle();
    assert_int_equal(vmbsrv_version(s.s_srv), 0);
  }
  assert_int_equal(vmbsrv_stats(s.s_srv)->vs_rx[VMBUS_MSG_UNLOAD], 3);
  assert_int_equal(vmbsrv_stats(s.s_srv)->vs_gpadls_live, 0);
  down(&s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_duplicate_offer),    cmocka_unit_test(test_rescind_while_opening),
    cmocka_unit_test(test_unload_reconnect),   cmocka_unit_test(test_rescind_while_open),
    cmocka_unit_test(test_large_gpadl),        cmocka_unit_test(test_each_cap_events),
    cmocka_unit_test(test_each_cap_monitored), cmocka_unit_test(test_cap_below_5_contacts_once),
    cmocka_unit_test(test_guest_cap),
};

UNIT_MAIN("host_sim", tests)
