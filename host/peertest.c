/* host/peertest.c: ping and UDP-echo the guest from the built-in peer. */
#include "host/peertest.h"

#include <stdio.h>
#include <stdlib.h>

#include "host/netpeer.h"
#include "host/netvsp.h"
#include "kernel/hw.h"
#include "kernel/timer.h"
#include "net/wire.h"

#define PT_TICK_NS 200000ull /* 0.2 ms between steps */
#define PT_ARP_RETRY 500     /* ticks between ARP requests (100 ms) */

enum pt_state { PT_WAIT_LINK, PT_ARP, PT_PING, PT_UDP, PT_DONE };

struct peertest {
  struct netpeer *t_peer;
  struct netvsp *t_nic;
  unsigned t_count;
  uint32_t t_udp_max;   /* largest UDP payload (and ping payload) */
  uint32_t t_udp_count; /* UDP datagrams to send: t_udp_max, or 0 */
  enum pt_state t_state;
  uint32_t t_next; /* next ping sequence number / UDP size */
  unsigned t_ticks;
  uint64_t t_start_ns, t_first_ns;
  struct netpeer_stats t_base; /* the peer's counters when the test began */
  struct peertest_result t_res;
  struct timer t_timer;
  peertest_done_fn *t_done;
  void *t_arg;
};

/* Replies (good or bad) seen since the test began, for pings or UDP. */
static uint64_t pt_answered(const struct peertest *t, bool udp) {
  const struct netpeer_stats *s = netpeer_stats(t->t_peer);
  return udp ? (s->udp_ok - t->t_base.udp_ok) + (s->udp_bad - t->t_base.udp_bad)
             : (s->echo_ok - t->t_base.echo_ok) + (s->echo_bad - t->t_base.echo_bad);
}

static void pt_finish(struct peertest *t, bool timed_out) {
  const struct netpeer_stats *s = netpeer_stats(t->t_peer);
  struct peertest_result *r = &t->t_res;
  r->pr_ping_ok = s->echo_ok - t->t_base.echo_ok;
  r->pr_ping_bad = s->echo_bad - t->t_base.echo_bad;
  r->pr_udp_ok = s->udp_ok - t->t_base.udp_ok;
  r->pr_udp_bad = s->udp_bad - t->t_base.udp_bad;
  r->pr_ns = t->t_first_ns ? hw_now_ns() - t->t_first_ns : 0;
  r->pr_timed_out = timed_out;
  r->pr_ok = !timed_out && r->pr_ping_ok == t->t_count && r->pr_ping_bad == 0 &&
             r->pr_udp_ok == t->t_udp_count && r->pr_udp_bad == 0;
  t->t_state = PT_DONE;
  if (t->t_done)
    t->t_done(t->t_arg, r);
}

/* Send while fewer than the window are outstanding; a refusal (no receive
 * section free, link flapping) is retried on a later tick. */
static void pt_pump(struct peertest *t, bool udp) {
  uint64_t *sent = udp ? &t->t_res.pr_udp_sent : &t->t_res.pr_ping_sent;
  uint32_t last = udp ? t->t_udp_count : t->t_count;
  while (t->t_next < last && *sent - pt_answered(t, udp) < PEERTEST_WINDOW) {
    int rc;
    if (udp) {
      rc = netpeer_udp(t->t_peer, 40000, t->t_next + 1);
    } else {
      uint32_t size = 1 + (t->t_next * 37u) % t->t_udp_max; /* varied, 1..max */
      rc = netpeer_ping(t->t_peer, (uint16_t)t->t_next, size);
    }
    if (rc) {
      t->t_res.pr_refused++;
      return;
    }
    (*sent)++;
    t->t_next++;
  }
}

static void pt_tick(void *arg) {
  struct peertest *t = arg;
  t->t_ticks++;
  if (hw_now_ns() - t->t_start_ns > PEERTEST_TIMEOUT_MS * 1000000ull) {
    pt_finish(t, true);
    return;
  }
  switch (t->t_state) {
  case PT_WAIT_LINK:
    if (!netvsp_ready(t->t_nic) || !netvsp_link(t->t_nic))
      break;
    t->t_state = PT_ARP;
    t->t_ticks = 0;
    /* fall through */
  case PT_ARP:
    if (netpeer_guest_resolved(t->t_peer)) {
      t->t_state = PT_PING;
      t->t_next = 0;
      t->t_base = *netpeer_stats(t->t_peer);
      t->t_first_ns = hw_now_ns();
    } else if (!netpeer_guest_known(t->t_peer)) {
      t->t_ticks = 0; /* the guest has no address yet (DHCP under way) */
    } else if (t->t_ticks % PT_ARP_RETRY == 1) {
      netpeer_arp_resolve(t->t_peer);
    }
    break;
  case PT_PING:
    pt_pump(t, false);
    if (t->t_next == t->t_count && pt_answered(t, false) >= t->t_res.pr_ping_sent) {
      t->t_state = PT_UDP;
      t->t_next = 0;
    }
    break;
  case PT_UDP:
    pt_pump(t, true);
    if (t->t_next == t->t_udp_count && pt_answered(t, true) >= t->t_res.pr_udp_sent) {
      pt_finish(t, false);
      return;
    }
    break;
  case PT_DONE:
    return;
  }
  timer_arm_ns(&t->t_timer, PT_TICK_NS);
}

struct peertest *peertest_start(struct netpeer *peer, struct netvsp *nic, unsigned count,
                                uint32_t udp_max, peertest_done_fn *done, void *arg) {
  struct peertest *t = calloc(1, sizeof(*t));
  if (!t)
    return NULL;
  t->t_peer = peer;
  t->t_nic = nic;
  t->t_count = count;
  t->t_udp_max = udp_max && udp_max != PEERTEST_NO_UDP ? udp_max : 1500u - IPV4_HLEN - UDP_HLEN;
  t->t_udp_count = udp_max == PEERTEST_NO_UDP ? 0 : t->t_udp_max;
  t->t_done = done;
  t->t_arg = arg;
  t->t_start_ns = hw_now_ns();
  timer_init(&t->t_timer, pt_tick, t);
  timer_arm_ns(&t->t_timer, PT_TICK_NS);
  return t;
}

void peertest_stop(struct peertest *t) {
  if (!t)
    return;
  timer_cancel(&t->t_timer);
  free(t);
}

void peertest_format(const struct peertest_result *r, char *buf, unsigned len) {
  snprintf(buf, len,
           "peer test: %lu/%lu echo replies intact, %lu/%lu UDP echoes intact, %lu bad, "
           "%lu refused and retried, %lu ms%s",
           (unsigned long)r->pr_ping_ok, (unsigned long)r->pr_ping_sent,
           (unsigned long)r->pr_udp_ok, (unsigned long)r->pr_udp_sent,
           (unsigned long)(r->pr_ping_bad + r->pr_udp_bad), (unsigned long)r->pr_refused,
           (unsigned long)(r->pr_ns / 1000000u), r->pr_timed_out ? " (timed out)" : "");
}
