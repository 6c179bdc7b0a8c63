/* tests/unit/sim_vmbus_test.c: the guest's real hv/ and VMBus client against
 * the in-process host (hvemu + VMBus server + echo device), one process:
 * negotiation at each of the eleven host caps, then a KMCL client channel
 * round-trips packets with the echo device at that version, and the host's
 * counters show the signalling path the version requires. */
#include <string.h>

#include "host/echo_dev.h"
#include "host/hvemu.h"
#include "host/inproc_hw.h"
#include "host/partition.h"
#include "host/vmbus_server.h"
#include "hv/hv.h"
#include "hv/vmbus.h"
#include "kernel/event.h"
#include "kernel/page.h"
#include "kmcl/vmbkmcl.h"
#include "tests/unit/unit.h"

#define SIM_PACKETS 1000

struct sim {
  struct partition part;
  struct hvemu *emu;
  struct vmbsrv *srv;
  struct echo_dev *echo;
  uint64_t free_before;
  bool kept_before; /* pre-3.0 pages already held from an earlier run */
};
static bool sim_pages_kept;
static struct sim *sim_live; /* for the teardown after a failure */

static void sim_host_up(struct sim *s, uint32_t max_version, bool monitored) {
  memset(s, 0, sizeof(*s));
  assert_int_equal(inproc_part_init(&s->part), 0);
  s->emu = hvemu_create(&s->part, NULL);
  assert_non_null(s->emu);
  inproc_attach(s->emu);
  struct vmbsrv_config cfg;
  memset(&cfg, 0, sizeof(cfg));
  cfg.vc_max_version = max_version;
  cfg.vc_monitored_offers = monitored;
  s->srv = vmbsrv_create(s->emu, &cfg);
  assert_non_null(s->srv);
  s->echo = echo_dev_create(vmbsrv_device(s->srv), 1);
  assert_non_null(s->echo);
  s->free_before = page_free_count();
  s->kept_before = sim_pages_kept;
  sim_live = s;
}

static void sim_host_down(struct sim *s) {
  sim_live = NULL;
  echo_dev_destroy(s->echo);
  while (ev_run_pending())
    ;
  vmbsrv_destroy(s->srv);
  hvemu_destroy(s->emu);
  inproc_detach();
  part_destroy(&s->part);
}

/* One arena for the whole binary: pages the guest keeps across connections
 * (interrupt and monitor pages without an UNLOAD) stay valid. */
static int group_setup(void **state) {
  (void)state;
  return inproc_mem_setup(32u << 20);
}
static int group_teardown(void **state) {
  (void)state;
  inproc_mem_teardown();
  return 0;
}

/* ---- a KMCL client for the echo device ----------------------------------- */
struct echo_client {
  VMBCHANNEL ch;
  bool opened;
  uint32_t completions, bad;
};
static struct echo_client *ec_live; /* for the teardown after a failure */

static NTSTATUS ec_opened(VMBCHANNEL ch) {
  struct echo_client *c = VmbChannelGetPointer(ch);
  c->opened = true;
  return STATUS_SUCCESS;
}
static VOID ec_closed(VMBCHANNEL ch) {
  struct echo_client *c = VmbChannelGetPointer(ch);
  c->opened = false;
}
static VOID ec_process(VMBCHANNEL ch, VMBPACKETCOMPLETION pkt, PVOID buf, UINT32 len, UINT32 fl) {
  (void)ch, (void)buf, (void)len, (void)fl;
  VmbChannelPacketComplete(pkt, NULL, 0);
}
static VOID ec_done(VMBPACKET pkt, NTSTATUS st, PVOID buf, UINT32 len) {
  struct echo_client *c = VmbPacketGetPointer(pkt);
  uint32_t seq = 0;
  if (st != STATUS_SUCCESS || len < 8 || !buf) {
    if (c->bad++ == 0)
      printf("sim: completion %u: status %#x len %u buf %p\n", c->completions, (unsigned)st, len,
             buf);
  } else {
    memcpy(&seq, (const uint8_t *)buf + 4, 4);
    if (memcmp(buf, "ECHO", 4) != 0 || seq != c->completions) {
      if (c->bad++ == 0)
        printf("sim: completion %u carries seq %u len %u\n", c->completions, seq, len);
    }
  }
  c->completions++;
  VmbPacketFree(pkt);
}

static bool ec_is_open(void *arg) { return ((struct echo_client *)arg)->opened; }
static bool ec_all_done(void *arg) {
  return ((struct echo_client *)arg)->completions >= SIM_PACKETS;
}

static void ec_open(struct echo_client *c) {
  memset(c, 0, sizeof(*c));
  assert_int_equal(VmbChannelAllocate(vmbus_device(), FALSE, &c->ch), STATUS_SUCCESS);
  VmbChannelSetPointer(c->ch, c);
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS cb;
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&cb);
  cb.EvtChannelOpened = ec_opened;
  cb.EvtChannelClosed = ec_closed;
  VmbChannelInitSetStateChangeCallbacks(c->ch, &cb);
  VmbChannelInitSetProcessPacketCallbacks(c->ch, ec_process, NULL);
  VmbClientChannelInitSetTargetPnp(c->ch, &echo_dev_type, NULL, NULL);
  ec_live = c;
  assert_int_equal(VmbChannelEnable(c->ch), STATUS_SUCCESS);
  assert_int_equal(ev_wait(ec_is_open, c, 5000), 0);
}

static void ec_run(struct echo_client *c) {
  for (uint32_t i = 0; i < SIM_PACKETS; i++) {
    uint8_t msg[64];
    memset(msg, (int)(i & 0xff), sizeof(msg));
    memcpy(msg, "ECHO", 4);
    memcpy(msg + 4, &i, 4);
    VMBPACKET pkt = VmbPacketAllocate(c->ch);
    assert_non_null(pkt);
    VmbPacketSetPointer(pkt, c);
    VmbPacketSetCompletionRoutine(pkt, ec_done);
    assert_int_equal(
        VmbPacketSend(pkt, msg, 8 + (i % 56), NULL, VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION),
        STATUS_SUCCESS);
    if (i % 64 == 63)
      ev_run_pending(); /* let the host drain now and then */
  }
  if (ev_wait(ec_all_done, c, 20000) != 0)
    printf("sim: only %u of %u completions (%u bad)\n", c->completions, SIM_PACKETS, c->bad);
  assert_int_equal(c->completions, SIM_PACKETS);
  assert_int_equal(c->completions, SIM_PACKETS);
  assert_int_equal(c->bad, 0);
}

static void ec_close(struct echo_client *c) {
  ec_live = NULL;
  VmbChannelDisable(c->ch);
  VmbChannelCleanup(c->ch);
}

/* After a failed assertion: close what the test left open, so the next
 * test starts from a clean guest and host. */
static int test_teardown(void **state) {
  (void)state;
  if (ec_live)
    ec_close(ec_live);
  if (vmbus_connected())
    vmbus_disconnect();
  hv_shutdown();
  while (ev_run_pending())
    ;
  if (sim_live)
    sim_host_down(sim_live);
  return 0;
}

/* One version: connect, echo, check the signalling counters, disconnect. */
static void sim_version(uint32_t v, bool monitored) {
  struct sim s;
  sim_host_up(&s, v, monitored);
  bool earlier;
  assert_int_equal(hv_init(&earlier), 0);
  assert_false(earlier);
  struct vmbus_options opt;
  memset(&opt, 0, sizeof(opt));
  assert_int_equal(vmbus_connect(&opt), 0);
  assert_int_equal(vmbus_version(), v);
  assert_int_equal(vmbus_offer_count(), 1);
  struct echo_client c;
  ec_open(&c);
  const struct vmbsrv_stats *st = vmbsrv_stats(s.srv);
  ec_run(&c);
  printf("sim: echo %lu packets; host tx int_page=%u flags=%u rx hypercall=%u int_page=%u "
         "monitor=%u; guest events=%lu\n",
         (unsigned long)echo_dev_packets(s.echo), st->vs_sig_tx_int_page, st->vs_sig_tx_event_flags,
         st->vs_sig_rx_hypercall, st->vs_sig_rx_int_page, st->vs_sig_rx_monitor,
         (unsigned long)vmbus_stats()->vs_events);
  assert_int_equal(echo_dev_packets(s.echo), SIM_PACKETS);
  /* Host -> guest: the interrupt page below 2.4, per-relid flags from 2.4. */
  if (v < VMBUS_VERSION_WIN8) {
    assert_true(st->vs_sig_tx_int_page > 0);
    assert_int_equal(st->vs_sig_tx_event_flags, 0);
  } else {
    assert_true(st->vs_sig_tx_event_flags > 0);
    assert_int_equal(st->vs_sig_tx_int_page, 0);
  }
  /* Guest -> host: monitor pages for monitored offers, else HvSignalEvent
   * (with the interrupt-page send bits below 2.4). */
  if (monitored && v >= VMBUS_VERSION_WIN7) {
    assert_true(st->vs_sig_rx_monitor > 0);
  } else if (v < VMBUS_VERSION_WIN8) {
    /* HvSignalEvent on the shared connection id, naming the channel by its
     * bit in the interrupt page's send half. */
    assert_true(st->vs_sig_rx_int_page > 0);
  } else {
    assert_true(st->vs_sig_rx_hypercall > 0); /* the channel's own connection id */
  }
  ec_close(&c);
  assert_int_equal(vmbus_disconnect(), 0);
  hv_shutdown();
  while (ev_run_pending())
    ;
  /* Leak check: every guest page is back, except the interrupt and monitor
   * pages (3) that stay with the host when a version has no UNLOAD (below
   * 3.0); a later 3.0+ connection reuses them and its UNLOAD frees them. */
  int64_t delta = (int64_t)page_free_count() - (int64_t)s.free_before;
  int64_t want = v < VMBUS_VERSION_WIN8_1 ? (s.kept_before ? 0 : -3) : (s.kept_before ? 3 : 0);
  assert_int_equal(delta, want);
  sim_pages_kept = v < VMBUS_VERSION_WIN8_1;
  sim_host_down(&s);
}

static const uint32_t all_versions[VMBUS_NUM_VERSIONS] = VMBUS_ALL_VERSIONS;

static void test_each_version_echoes(void **state) {
  (void)state;
  for (unsigned i = 0; i < VMBUS_NUM_VERSIONS; i++) {
    printf("sim: host cap %u.%u\n", VMBUS_VERSION_MAJOR(all_versions[i]),
           VMBUS_VERSION_MINOR(all_versions[i]));
    sim_version(all_versions[i], false);
  }
}

static void test_each_version_monitored(void **state) {
  (void)state;
  for (unsigned i = 0; i < VMBUS_NUM_VERSIONS; i++)
    sim_version(all_versions[i], true);
}

static void test_cap_below_5_uses_connection_id_1(void **state) {
  (void)state;
  struct sim s;
  sim_host_up(&s, VMBUS_VERSION_WIN10_V4_1, false);
  bool earlier;
  assert_int_equal(hv_init(&earlier), 0);
  struct vmbus_options opt = {.vo_max_version = 0};
  assert_int_equal(vmbus_connect(&opt), 0);
  assert_int_equal(vmbus_version(), VMBUS_VERSION_WIN10_V4_1);
  /* 6.0 .. 5.0 never reached the server (wrong connection id), so its
   * first accepted contact is the 4.1 one. */
  assert_int_equal(vmbsrv_stats(s.srv)->vs_rx[VMBUS_MSG_INITIATE_CONTACT], 1);
  assert_int_equal(vmbus_disconnect(), 0);
  hv_shutdown();
  sim_host_down(&s);
}

static void test_guest_cap_is_honoured(void **state) {
  (void)state;
  struct sim s;
  sim_host_up(&s, VMBUS_VERSION_WIN10_V6_0, false);
  bool earlier;
  assert_int_equal(hv_init(&earlier), 0);
  struct vmbus_options opt = {.vo_max_version = VMBUS_VERSION_WIN8_1};
  assert_int_equal(vmbus_connect(&opt), 0);
  assert_int_equal(vmbus_version(), VMBUS_VERSION_WIN8_1);
  assert_int_equal(vmbus_disconnect(), 0);
  hv_shutdown();
  sim_host_down(&s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown(test_each_version_echoes, test_teardown),
    cmocka_unit_test_teardown(test_each_version_monitored, test_teardown),
    cmocka_unit_test_teardown(test_cap_below_5_uses_connection_id_1, test_teardown),
    cmocka_unit_test_teardown(test_guest_cap_is_honoured, test_teardown),
};
UNIT_MAIN_GROUP("sim_vmbus", tests, group_setup, group_teardown)
