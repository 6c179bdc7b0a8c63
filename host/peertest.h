/* host/peertest.h: the built-in peer's traffic test (prefix peertest_):
 * once the guest's link is up and its address known (static, leased or
 * announced), resolve it by ARP, send `count` ICMP echo
 * requests (payload sizes cycling from 1 to the largest that fits the MTU)
 * and then one UDP datagram to port 7 of every size from 1 to the largest,
 * at most PEERTEST_WINDOW outstanding, and check every reply (the peer
 * verifies addresses, checksums and payload bytes). Runs from a host timer
 * on the event loop, so it works in hvsim and, between VM exits, in hvhost. */
#ifndef HOST_PEERTEST_H
#define HOST_PEERTEST_H

#include <stdbool.h>
#include <stdint.h>

struct netpeer;
struct netvsp;

#define PEERTEST_WINDOW 32u         /* requests in flight (a policy choice) */
#define PEERTEST_TIMEOUT_MS 120000u /* the whole test, emulated guests included */

struct peertest_result {
  uint64_t pr_ping_sent, pr_ping_ok, pr_ping_bad;
  uint64_t pr_udp_sent, pr_udp_ok, pr_udp_bad;
  uint64_t pr_refused; /* sends the device refused at first (retried) */
  uint64_t pr_ns;      /* from the first request to the last reply */
  bool pr_timed_out;
  bool pr_ok; /* every request answered intact */
};

struct peertest;
typedef void peertest_done_fn(void *arg, const struct peertest_result *r);

/** udp_max for a guest with no UDP echo service (Linux without user
 * space): pings only. */
#define PEERTEST_NO_UDP UINT32_MAX

/** Start the test (it waits for the link by itself). udp_max: largest UDP
 * payload (0: MTU 1500 - 28; PEERTEST_NO_UDP: no UDP part). NULL on ENOMEM. */
struct peertest *peertest_start(struct netpeer *peer, struct netvsp *nic, unsigned count,
                                uint32_t udp_max, peertest_done_fn *done, void *arg);
void peertest_stop(struct peertest *t);
/** One line: "peer test: 1000/1000 echo replies intact, 1472/1472 UDP echoes
 * intact, 0 refused, 812 ms". */
void peertest_format(const struct peertest_result *r, char *buf, unsigned len);

#endif
