/* tests/unit/soak_netvsc_test.c: 10^6 frames through the guest's netvsc and
 * net/ in one process (500,000 UDP echoes from the built-in peer) while the
 * host injects faults at random: link flaps, malformed receive packets
 * (bad page set, ranges past their section, garbage RNDIS) and corrupt UDP
 * checksums. Afterwards the NIC is halted and free pages, KMCL packet
 * objects, tokens, GPADLs and channels are back at their starting values,
 * and the driver's transmit table is empty. */
#include <stdlib.h>
#include <string.h>

#include "drivers/netvsc/netvsc.h"
#include "host/hvemu.h"
#include "host/inproc_hw.h"
#include "host/netpeer.h"
#include "host/netvsp.h"
#include "host/partition.h"
#include "host/vmbus_server.h"
#include "hv/hv.h"
#include "hv/vmbus.h"
#include "kernel/event.h"
#include "kernel/hw.h"
#include "kernel/log.h"
#include "kernel/page.h"
#include "kmcl/kmcl_priv.h"
#include "net/net.h"
#include "tests/unit/unit.h"

#define SOAK_ECHOES 500000u /* 10^6 frames: requests and replies */
#define SOAK_WINDOW 32u

static bool resolved(void *arg) { return netpeer_guest_resolved(arg); }

static void test_soak_million_frames_with_faults(void **state) {
  (void)state;
  log_set_level(LOG_ERR); /* the faults make the guest log (rate-limited) */
  assert_int_equal(inproc_mem_setup(64u << 20), 0);
  struct partition part;
  assert_int_equal(inproc_part_init(&part), 0);
  struct hvemu *emu = hvemu_create(&part, NULL);
  struct vmbsrv_config sc;
  memset(&sc, 0, sizeof(sc));
  struct vmbsrv *srv = vmbsrv_create(emu, &sc);
  assert_non_null(srv);
  inproc_attach(emu);
  struct netpeer *peer = netpeer_create(NULL, NULL, NULL);
  struct netvsp_backend be = netpeer_backend(peer);
  struct netvsp_config nc;
  memset(&nc, 0, sizeof(nc));
  struct netvsp *nic = netvsp_create(vmbsrv_device(srv), &nc, &be);
  assert_non_null(nic);
  netpeer_attach(peer, nic);
  bool earlier;
  struct vmbus_options vo;
  memset(&vo, 0, sizeof(vo));
  assert_int_equal(hv_init(&earlier), 0);
  assert_int_equal(vmbus_connect(&vo), 0);

  /* Baselines once VMBus is up: what the NIC takes must all come back. */
  uint64_t pages0 = page_free_count();
  uint32_t ch0 = kmcl_live_channels, pk0 = kmcl_live_packets, tk0 = kmcl_live_tokens,
           gp0 = kmcl_live_gpadls;
  struct netvsc *nv = NULL;
  assert_int_equal(netvsc_probe(vmbus_device(), NULL, &nv), 0);
  struct net_config cfg;
  net_config_parse(&cfg, NULL);
  struct net *stack = net_attach(nv, &cfg);
  assert_non_null(stack);
  netpeer_arp_resolve(peer);
  assert_int_equal(ev_wait(resolved, peer, 2000), 0);

  const struct netpeer_stats *ps = netpeer_stats(peer);
  uint64_t ok0 = ps->udp_ok, bad0 = ps->udp_bad;
  uint32_t sent = 0, lost = 0, flaps = 0, injected = 0, corrupted = 0;
  unsigned seed = 20261125u;
  uint64_t last_progress = hw_now_ns();
  uint64_t answered_seen = 0;
  while (sent < SOAK_ECHOES) {
    uint64_t answered = ps->udp_ok + ps->udp_bad - ok0 - bad0;
    if (answered != answered_seen) {
      answered_seen = answered;
      last_progress = hw_now_ns();
    }
    /* Replies lost to a flap or a corrupt request are written off after a
     * quiet spell, so the window never stalls for good. */
    if (sent - answered - lost >= SOAK_WINDOW && hw_now_ns() - last_progress > 20000000ull) {
      lost = (uint32_t)(sent - answered);
      last_progress = hw_now_ns();
    }
    while (sent < SOAK_ECHOES && sent - answered - lost < SOAK_WINDOW) {
      seed = seed * 1103515245u + 12345u;
      unsigned r = (seed >> 8) % 10000u;
      if (r < 3) { /* link down and up again */
        netvsp_set_link(nic, false);
        ev_run_pending();
        netvsp_set_link(nic, true);
        flaps++;
      } else if (r < 13) { /* a malformed receive packet from the host */
        uint8_t junk[64];
        for (unsigned i = 0; i < sizeof(junk); i++)
          junk[i] = (uint8_t)(seed >> (i % 24));
        netvsp_inject_rx(nic, junk, sizeof(junk), (int64_t)(r % 64), 4096u + r, (uint16_t)(r & 1));
        injected++;
      } else if (r < 23) {
        netpeer_corrupt_next_udp(peer);
        corrupted++;
      }
      if (netpeer_udp(peer, 40000, 1 + (seed >> 4) % 1400u) != 0)
        break; /* the receive sections are busy: let the guest catch up */
      sent++;
    }
    ev_run_pending();
    assert_true(hw_now_ns() - last_progress < 2000000000ull); /* never stuck */
  }
  uint64_t good = ps->udp_ok - ok0;
  printf("soak: %u echoes sent (%u frames with replies), %lu came back intact, %u written off; "
         "%u link flaps, %u malformed receive packets, %u corrupt checksums\n",
         sent, sent * 2, (unsigned long)good, lost, flaps, injected, corrupted);
  assert_true(netvsc_alive(nv));
  assert_true(good + corrupted + (uint64_t)lost >= sent - SOAK_WINDOW); /* nothing vanished */
  assert_int_equal(ps->udp_bad - bad0, 0); /* no reply came back damaged */
  assert_true(netvsc_stats(nv)->rx_nack >= 1);

  net_detach(stack);
  netvsc_halt(nv);
  while (ev_run_pending())
    ;
  /* The guest's side: every page and GPADL back once the NIC halted. */
  assert_int_equal(page_free_count(), pages0);
  assert_int_equal(kmcl_live_gpadls, gp0);
  assert_int_equal(vmbus_disconnect(), 0);
  hv_shutdown();
  /* KMCL objects are counted for both endpoints in this one process: the
   * host's NetVSP channel keeps its own until the device goes. */
  netvsp_destroy(nic);
  netpeer_destroy(peer);
  while (ev_run_pending())
    ;
  printf("soak: live channels %u->%u, packets %u->%u, tokens %u->%u\n", ch0, kmcl_live_channels,
         pk0, kmcl_live_packets, tk0, kmcl_live_tokens);
  assert_int_equal(kmcl_live_channels, ch0 - 1); /* the NIC's server channel is gone */
  assert_int_equal(kmcl_live_packets, pk0);
  assert_int_equal(kmcl_live_tokens, tk0);
  vmbsrv_destroy(srv);
  inproc_detach();
  hvemu_destroy(emu);
  part_destroy(&part);
  inproc_mem_teardown();
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_soak_million_frames_with_faults),
};
UNIT_MAIN("soak_netvsc", tests)
