/* tests/unit/host_sim_test.c: the guest's Hyper-V layer and VMBus client
 * (hv/) against the in-process host (host/hvemu.c, host/vmbus_server.c) in
 * one process: for each of the eleven host caps, the client lands on that
 * version, a KMCL client channel opens the echo device (a KMCL server
 * channel on the host) and round-trips 1,000 packets, and the host's
 * counters show the signalling path the version requires (shared interrupt
 * page below 2.4, per-relid event flags from 2.4, monitor pages for
 * monitored offers). Then everything is torn down and nothing leaks. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/echo_dev.h"
#include "host/hvemu.h"
#include "host/inproc_hw.h"
#include "host/partition.h"
#include "host/vmbus_server.h"
#include "hv/hv.h"
#include "hv/vmbus.h"
#include "kernel/event.h"
#include "kernel/hw.h"
#include "kernel/page.h"
#include "kmcl/kmcl_priv.h"
#include "kmcl/vmbkmcl.h"
#include "tests/unit/unit.h"

#define NPACKETS 1000

static const uint32_t versions[VMBUS_NUM_VERSIONS] = VMBUS_ALL_VERSIONS;
#define NVERSIONS (sizeof(versions) / sizeof(versions[0]))

struct host {
  struct partition part;
  struct hvemu *hv;
  struct vmbsrv *srv;
  struct echo_dev *echo;
};

struct client {
  VMBCHANNEL ch;
  bool opened, started, closed;
  uint32_t completions, mismatches;
  uint32_t last_len;
};

static uint64_t pages0;
static struct host *cur;
static uint32_t ch0, gp0, pk0;

static void host_up(struct host *h, uint32_t cap, bool monitored) {
  memset(h, 0, sizeof(*h));
  if (!inproc_mem_base())
    assert_int_equal(inproc_mem_setup(64u << 20), 0);
  assert_int_equal(inproc_part_init(&h->part), 0);
  h->hv = hvemu_create(&h->part, NULL);
  assert_non_null(h->hv);
  struct vmbsrv_config cfg = {.vc_max_version = cap,
                              .vc_monitored_offers = monitored,
                              .vc_trace = getenv("HOST_SIM_TRACE") != NULL};
  h->srv = vmbsrv_create(h->hv, &cfg);
  assert_non_null(h->srv);
  inproc_attach(h->hv);
  h->echo = echo_dev_create(vmbsrv_device(h->srv), 0x1234);
  assert_non_null(h->echo);
}

static void host_down(struct host *h) {
  echo_dev_destroy(h->echo);
  while (ev_run_pending())
    ;
  vmbsrv_destroy(h->srv);
  inproc_detach();
  hvemu_destroy(h->hv);
  part_destroy(&h->part);
  while (ev_run_pending())
    ;
}

static NTSTATUS cl_opened(VMBCHANNEL ch) {
  ((struct client *)VmbChannelGetPointer(ch))->opened = true;
  return STATUS_SUCCESS;
}
static VOID cl_closed(VMBCHANNEL ch) { ((struct client *)VmbChannelGetPointer(ch))->closed = true; }
static VOID cl_post_started(VMBCHANNEL ch) {
  ((struct client *)VmbChannelGetPointer(ch))->started = true;
}
static VOID cl_process(VMBCHANNEL ch, VMBPACKETCOMPLETION p, PVOID buf, UINT32 len, UINT32 fl) {
  (void)buf, (void)len, (void)fl;
  (void)ch;
  VmbChannelPacketComplete(p, NULL, 0);
}

struct sent {
  struct client *c;
  uint8_t payload[64];
  uint32_t len;
};

static VOID cl_done(VMBPACKET pkt, NTSTATUS st, PVOID buf, UINT32 len) {
  struct sent *s = VmbPacketGetPointer(pkt);
  s->c->completions++;
  s->c->last_len = len;
  /* Ring packets are whole 8-byte units: the echo comes back padded. */
  if (st != STATUS_SUCCESS || len < s->len || len - s->len >= 8 || memcmp(buf, s->payload, s->len))
    s->c->mismatches++;
  VmbPacketFree(pkt);
}

static bool cl_is_started(void *arg) { return ((struct client *)arg)->started; }
static bool cl_all_done(void *arg) { return ((struct client *)arg)->completions >= NPACKETS; }

static void client_open(struct client *c) {
  memset(c, 0, sizeof(*c));
  assert_int_equal(VmbChannelAllocate(vmbus_device(), FALSE, &c->ch), STATUS_SUCCESS);
  VmbChannelSetPointer(c->ch, c);
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS cb;
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&cb);
  cb.EvtChannelOpened = cl_opened;
  cb.EvtChannelClosed = cl_closed;
  cb.EvtChannelPostStarted = cl_post_started;
  assert_int_equal(VmbChannelInitSetStateChangeCallbacks(c->ch, &cb), STATUS_SUCCESS);
  assert_int_equal(VmbChannelInitSetProcessPacketCallbacks(c->ch, cl_process, NULL),
                   STATUS_SUCCESS);
  assert_int_equal(VmbClientChannelInitSetTargetPnp(c->ch, &echo_dev_type, NULL, NULL),
                   STATUS_SUCCESS);
  assert_int_equal(VmbChannelEnable(c->ch), STATUS_SUCCESS);
  assert_int_equal(ev_wait(cl_is_started, c, 5000), 0);
}

static void round_trip(struct client *c) {
  static struct sent s[NPACKETS];
  for (uint32_t i = 0; i < NPACKETS; i++) {
    s[i].c = c;
    s[i].len = 8 + i % 56;
    for (uint32_t b = 0; b < s[i].len; b++)
      s[i].payload[b] = (uint8_t)(i + b);
    VMBPACKET pkt = VmbPacketAllocate(c->ch);
    assert_non_null(pkt);
    VmbPacketSetPointer(pkt, &s[i]);
    VmbPacketSetCompletionRoutine(pkt, cl_done);
    NTSTATUS st = VmbPacketSend(pkt, s[i].payload, s[i].len, NULL,
                                VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION);
    assert_int_equal(st, STATUS_SUCCESS);
    /* Let the host keep up now and then (the ring is small). */
    if (i % 32 == 31)
      ev_wait(cl_all_done, c, 1);
  }
  if (ev_wait(cl_all_done, c, 10000) != 0)
    printf("round trip: %u of %u completions; echo %lu; sig rx hcall %u monitor %u tx flags %u "
           "int %u; guest events %lu hcalls %lu\n",
           c->completions, NPACKETS, (unsigned long)echo_dev_packets(cur->echo),
           vmbsrv_stats(cur->srv)->vs_sig_rx_hypercall, vmbsrv_stats(cur->srv)->vs_sig_rx_monitor,
           vmbsrv_stats(cur->srv)->vs_sig_tx_event_flags,
           vmbsrv_stats(cur->srv)->vs_sig_tx_int_page, (unsigned long)vmbus_stats()->vs_events,
           (unsigned long)vmbus_stats()->vs_signal_hypercall);
  assert_int_equal(c->completions, NPACKETS);
  assert_int_equal(c->mismatches, 0);
}

static void run_cap(uint32_t cap, bool monitored) {
  struct host h;
  host_up(&h, cap, monitored);
  cur = &h;
  struct hv_info info;
  assert_int_equal(hv_detect(&info), 0);
  bool earlier = false;
  assert_int_equal(hv_init(&earlier), 0);
  struct vmbus_options opt = {0};
  int rc = vmbus_connect(&opt);
  if (rc)
    fail_msg("cap %u.%u: vmbus_connect: %d", cap >> 16, cap & 0xffff, rc);
  assert_int_equal(vmbus_version(), cap);
  assert_int_equal(vmbsrv_version(h.srv), cap);
  assert_int_equal(vmbus_offer_count(), 1);
  /* Leak baseline: the guest's Hyper-V pages (SynIC, hypercall, interrupt
   * and monitor pages) are its own business; the channel's are checked. */
  pages0 = page_free_count();
  ch0 = kmcl_live_channels;
  gp0 = kmcl_live_gpadls;
  pk0 = kmcl_live_packets;

  struct client c;
  client_open(&c);
  assert_true(echo_dev_is_open(h.echo));
  round_trip(&c);
  const struct vmbsrv_stats *st = vmbsrv_stats(h.srv);
  assert_int_equal(echo_dev_packets(h.echo), NPACKETS);
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

  VmbChannelDisable(c.ch);
  VmbChannelCleanup(c.ch);
  while (ev_run_pending())
    ;
  assert_false(echo_dev_is_open(h.echo));
  assert_int_equal(st->vs_gpadls_live, 0);
  assert_int_equal(page_free_count(), pages0);
  assert_int_equal(kmcl_live_channels, ch0);
  assert_int_equal(kmcl_live_gpadls, gp0);
  assert_int_equal(kmcl_live_packets, pk0);
  assert_int_equal(vmbus_disconnect(), 0);
  hv_shutdown();
  while (ev_run_pending())
    ;
  host_down(&h);
}

/* A host capped below 5.0 never sees the 6.0..5.0 attempts (they go to
 * connection id 4, which it does not listen on): one INITIATE_CONTACT. */
static void test_cap_below_5_contacts_once(void **state) {
  (void)state;
  struct host h;
  host_up(&h, VMBUS_VERSION_WIN10_V4_1, false);
  bool earlier;
  assert_int_equal(hv_init(&earlier), 0);
  struct vmbus_options opt = {0};
  assert_int_equal(vmbus_connect(&opt), 0);
  assert_int_equal(vmbus_version(), VMBUS_VERSION_WIN10_V4_1);
  assert_int_equal(vmbsrv_stats(h.srv)->vs_rx[VMBUS_MSG_INITIATE_CONTACT], 1);
  assert_int_equal(vmbus_disconnect(), 0);
  hv_shutdown();
  host_down(&h);
}

/* vmbus.max_version: the guest starts below the host's newest. */
static void test_guest_cap(void **state) {
  (void)state;
  struct host h;
  host_up(&h, VMBUS_VERSION_WIN10_V6_0, false);
  bool earlier;
  assert_int_equal(hv_init(&earlier), 0);
  struct vmbus_options opt = {.vo_max_version = VMBUS_VERSION_WIN8_1};
  assert_int_equal(vmbus_connect(&opt), 0);
  assert_int_equal(vmbus_version(), VMBUS_VERSION_WIN8_1);
  assert_int_equal(vmbsrv_stats(h.srv)->vs_rx[VMBUS_MSG_INITIATE_CONTACT], 1);
  assert_int_equal(vmbus_disconnect(), 0);
  hv_shutdown();
  host_down(&h);
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

/** Bring up host and guest at 5.3 with an open echo channel. */
static void up_open(struct host *h, struct client *c) {
  host_up(h, VMBUS_VERSION_WIN10_V5_3, false);
  cur = h;
  struct hv_info info;
  assert_int_equal(hv_detect(&info), 0);
  bool earlier = false;
  assert_int_equal(hv_init(&earlier), 0);
  struct vmbus_options opt = {0};
  assert_int_equal(vmbus_connect(&opt), 0);
  pages0 = page_free_count();
  gp0 = kmcl_live_gpadls;
  client_open(c);
}

static void down(struct host *h) {
  assert_int_equal(vmbus_disconnect(), 0);
  hv_shutdown();
  while (ev_run_pending())
    ;
  host_down(h);
}

static bool cl_is_closed(void *arg) { return ((struct client *)arg)->closed; }

static void test_rescind_while_open(void **state) {
  (void)state;
  struct host h;
  struct client c;
  up_open(&h, &c);
  const struct vmbsrv_stats *st = vmbsrv_stats(h.srv);
  assert_int_equal(st->vs_gpadls_live, 1); /* the ring */
  assert_int_equal(vmbsrv_rescind(h.srv, 1), 0);
  assert_int_equal(ev_wait(cl_is_closed, &c, 5000), 0);
  VmbChannelDisable(c.ch);
  VmbChannelCleanup(c.ch);
  while (ev_run_pending())
    ;
  /* The guest released the relid; the host dropped the ring GPADL with it. */
  assert_int_equal(st->vs_rx[VMBUS_MSG_RELID_RELEASED], 1);
  assert_int_equal(st->vs_gpadls_live, 0);
  assert_int_equal(page_free_count(), pages0);
  assert_int_equal(kmcl_live_gpadls, gp0);
  down(&h);
}

static void test_large_gpadl(void **state) {
  (void)state;
  struct host h;
  struct client c;
  up_open(&h, &c);
  const uint32_t npages = 1024; /* 4 MiB: 1 header + 36 bodies */
  uint8_t *buf = page_alloc(npages);
  assert_non_null(buf);
  uint32_t bodies0 = vmbsrv_stats(h.srv)->vs_rx[VMBUS_MSG_GPADL_BODY];
  UINT32 handle = 0;
  assert_int_equal(VmbChannelCreateGpadlFromBuffer(c.ch, 0, buf, npages * PAGE_SIZE, &handle),
                   STATUS_SUCCESS);
  assert_int_equal(vmbsrv_stats(h.srv)->vs_rx[VMBUS_MSG_GPADL_BODY] - bodies0,
                   (npages - 26 + 27) / 28);
  const struct kmcl_bus_ops *ops = vmbsrv_bus(h.srv)->kb_ops;
  const uint64_t *pfns;
  uint32_t n, off, cnt;
  assert_int_equal(ops->gpadl_map(vmbsrv_bus(h.srv), echo_dev_channel(h.echo), handle, false, &pfns,
                                  &n, &off, &cnt),
                   0);
  assert_int_equal(n, npages);
  assert_int_equal(off, 0);
  assert_int_equal(cnt, npages * PAGE_SIZE);
  for (uint32_t i = 0; i < npages; i++)
    assert_int_equal(pfns[i], (hw_virt_to_phys(buf) >> PAGE_SHIFT) + i);
  ops->gpadl_unmap(vmbsrv_bus(h.srv), echo_dev_channel(h.echo), handle);
  VmbChannelDeleteGpadl(c.ch, handle);
  assert_int_equal(vmbsrv_stats(h.srv)->vs_gpadls_live, 1);
  page_free(buf, npages);
  VmbChannelDisable(c.ch);
  VmbChannelCleanup(c.ch);
  while (ev_run_pending())
    ;
  assert_int_equal(vmbsrv_stats(h.srv)->vs_gpadls_live, 0);
  assert_int_equal(page_free_count(), pages0);
  down(&h);
}

/** Host and guest connected at 5.3, no channel yet. */
static void up_connected(struct host *h) {
  host_up(h, VMBUS_VERSION_WIN10_V5_3, false);
  cur = h;
  struct hv_info info;
  assert_int_equal(hv_detect(&info), 0);
  bool earlier = false;
  assert_int_equal(hv_init(&earlier), 0);
}

/* Hostile host: the offer comes twice; the second is dropped, the channel
 * still opens and works. */
static void test_duplicate_offer(void **state) {
  (void)state;
  struct host h;
  up_connected(&h);
  struct vmbsrv_fault f = {.fa_to_guest = true,
                           .fa_msgtype = VMBUS_MSG_OFFERCHANNEL,
                           .fa_nth = 1,
                           .fa_action = VMBSRV_FAULT_DUPLICATE};
  assert_int_equal(vmbsrv_add_fault(h.srv, &f), 0);
  struct vmbus_options opt = {0};
  assert_int_equal(vmbus_connect(&opt), 0);
  assert_int_equal(vmbus_offer_count(), 1);
  struct client c;
  client_open(&c);
  round_trip(&c);
  VmbChannelDisable(c.ch);
  VmbChannelCleanup(c.ch);
  down(&h);
}

/* The host rescinds the offer when the guest's OPENCHANNEL arrives: no
 * OPENCHANNEL_RESULT ever comes; the client must not hang. */
static bool cl_gone(void *arg) {
  struct client *c = arg;
  return kmcl_channel_failed(c->ch) || c->closed ||
         vmbsrv_stats(cur->srv)->vs_tx[VMBUS_MSG_RESCIND_CHANNELOFFER] > 0;
}

static void test_rescind_while_opening(void **state) {
  (void)state;
  struct host h;
  up_connected(&h);
  struct vmbus_options opt = {0};
  assert_int_equal(vmbus_connect(&opt), 0);
  pages0 = page_free_count();
  gp0 = kmcl_live_gpadls;
  struct vmbsrv_fault f = {.fa_to_guest = false,
                           .fa_msgtype = VMBUS_MSG_OPENCHANNEL,
                           .fa_nth = 1,
                           .fa_action = VMBSRV_FAULT_RESCIND,
                           .fa_arg = 1};
  assert_int_equal(vmbsrv_add_fault(h.srv, &f), 0);
  struct client c;
  memset(&c, 0, sizeof(c));
  assert_int_equal(VmbChannelAllocate(vmbus_device(), FALSE, &c.ch), STATUS_SUCCESS);
  VmbChannelSetPointer(c.ch, &c);
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS cb;
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&cb);
  cb.EvtChannelOpened = cl_opened;
  cb.EvtChannelClosed = cl_closed;
  cb.EvtChannelPostStarted = cl_post_started;
  VmbChannelInitSetStateChangeCallbacks(c.ch, &cb);
  VmbChannelInitSetProcessPacketCallbacks(c.ch, cl_process, NULL);
  VmbClientChannelInitSetTargetPnp(c.ch, &echo_dev_type, NULL, NULL);
  assert_int_equal(VmbChannelEnable(c.ch), STATUS_SUCCESS);
  assert_int_equal(ev_wait(cl_gone, &c, 5000), 0);
  ev_wait(cl_is_started, &c, 100); /* let the rescind settle */
  assert_false(c.started);
  VmbChannelDisable(c.ch);
  VmbChannelCleanup(c.ch);
  while (ev_run_pending())
    ;
  assert_int_equal(vmbsrv_stats(h.srv)->vs_rx[VMBUS_MSG_OPENCHANNEL_RESULT], 0);
  assert_int_equal(vmbsrv_stats(h.srv)->vs_tx[VMBUS_MSG_OPENCHANNEL_RESULT], 0);
  assert_int_equal(vmbsrv_stats(h.srv)->vs_rx[VMBUS_MSG_RELID_RELEASED], 1);
  assert_int_equal(vmbsrv_stats(h.srv)->vs_gpadls_live, 0);
  assert_int_equal(page_free_count(), pages0);
  assert_int_equal(kmcl_live_gpadls, gp0);
  down(&h);
}

/* UNLOAD and connect again: the device is offered again and works. */
static void test_unload_reconnect(void **state) {
  (void)state;
  struct host h;
  up_connected(&h);
  for (int round = 0; round < 3; round++) {
    struct vmbus_options opt = {0};
    assert_int_equal(vmbus_connect(&opt), 0);
    assert_int_equal(vmbus_offer_count(), 1);
    struct client c;
    client_open(&c);
    round_trip(&c);
    VmbChannelDisable(c.ch);
    VmbChannelCleanup(c.ch);
    assert_int_equal(vmbus_disconnect(), 0);
    while (ev_run_pending())
      ;
    assert_int_equal(vmbsrv_version(h.srv), 0);
  }
  assert_int_equal(vmbsrv_stats(h.srv)->vs_rx[VMBUS_MSG_UNLOAD], 3);
  assert_int_equal(vmbsrv_stats(h.srv)->vs_gpadls_live, 0);
  hv_shutdown();
  while (ev_run_pending())
    ;
  host_down(&h);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_duplicate_offer),    cmocka_unit_test(test_rescind_while_opening),
    cmocka_unit_test(test_unload_reconnect),   cmocka_unit_test(test_rescind_while_open),
    cmocka_unit_test(test_large_gpadl),        cmocka_unit_test(test_each_cap_events),
    cmocka_unit_test(test_each_cap_monitored), cmocka_unit_test(test_cap_below_5_contacts_once),
    cmocka_unit_test(test_guest_cap),
};

UNIT_MAIN("host_sim", tests)
