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
#include "host/netpeer.h"
#include "host/netvsp.h"
#include "host/netvsp_test.h"
#include "kernel/event.h"
#include "kernel/hw.h"
#include "kernel/log.h"
#include "sim/sim.h"
#include "tests/unit/unit.h"

#define SOAK_ECHOES 500000u /* 10^6 frames: requests and replies */
#define SOAK_WINDOW 32u

static bool resolved(void *arg) { return netpeer_guest_resolved(arg); }

static void test_soak_million_frames_with_faults(void **state) {
  (void)state;
  log_set_level(LOG_ERR); /* the faults make the guest log (rate-limited) */
  /* The whole system with the NIC: leak baselines at every phase. */
  struct sim sys;
  struct sim_config cfg = {.sc_nic = true};
  assert_int_equal(sim_start(&sys, &cfg, SIM_NIC), 0);
  struct netvsp *nic = sys.s_nic.sn_dev;
  struct netpeer *peer = sys.s_nic.sn_peer;
  struct netvsc *nv = sys.s_nic.sn_nv;
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

  /* The guest's side: every page, GPADL and KMCL object back once the NIC
   * halted; then the whole system down to what there was before it. */
  assert_int_equal(sim_down(&sys, SIM_CONNECTED), 0);
  assert_int_equal(sim_down(&sys, SIM_OFF), 0);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_soak_million_frames_with_faults),
};
UNIT_MAIN("soak_netvsc", tests)
