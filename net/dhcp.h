/* net/dhcp.h: the DHCPv4 client (prefix dhcp_, RFC 2131 / RFC 2132).
 *
 * A state machine without I/O of its own: the caller (net/net.c) gives it
 * the BOOTP payload of every UDP datagram to port 68 (dhcp_input), calls
 * dhcp_timeout when the deadline it asked for (do_arm) passes, and does the
 * framing of what it sends (do_send). Time is the caller's nanosecond clock
 * passed in every call, so the unit tests drive it with their own.
 *
 * States: INIT -> SELECTING (DISCOVER, broadcast flag) -> REQUESTING
 * (REQUEST with the chosen server's id) -> BOUND; at T1 RENEWING (REQUEST
 * unicast to the server), at T2 REBINDING (broadcast), at expiry the
 * address is dropped and it starts again. A NAK in REQUESTING, RENEWING or
 * REBINDING drops the lease and starts again after a back-off delay.
 * Retransmissions back off 4, 8, 16, 32, 64 s (cap), each with a uniform
 * jitter of -1..+1 s; the xid is new for each exchange and random.
 *
 * Every received field is hostile: a message is used only when it is a
 * well-formed BOOTREPLY whose options all fit (option 52 overload honoured),
 * whose xid and chaddr are ours and whose type fits the state; the lease
 * values are checked (see dhcp.c, "what a reply may say"). Nothing here
 * logs per frame: one line per state change, drops are counted.
 */
#ifndef NET_DHCP_H
#define NET_DHCP_H

#include <stdbool.h>
#include <stdint.h>

#define DHCP_BACKOFF_FIRST_S 4u /* RFC 2131 4.1 */
#define DHCP_BACKOFF_MAX_S 64u
#define DHCP_REQUEST_TRIES 4u /* REQUESTs in REQUESTING before starting again */
#define DHCP_LEASE_INFINITE 0xffffffffu
#define DHCP_MSG_MAX 576u     /* what we send (and announce with option 57) */
#define DHCP_HOSTNAME_MAX 63u /* option 12, policy */

enum dhcp_state {
  DHCP_OFF = 0,   /* not started, or stopped (link down) */
  DHCP_INIT,      /* waiting to send a DISCOVER (after a NAK: the back-off) */
  DHCP_SELECTING, /* DISCOVER sent, waiting for an OFFER */
  DHCP_REQUESTING,
  DHCP_BOUND,
  DHCP_RENEWING,
  DHCP_REBINDING,
};

/** What a lease gives, validated. Addresses in network byte order. */
struct dhcp_lease {
  uint8_t dl_ip[4];
  uint8_t dl_prefix; /* from a contiguous mask; else the classful default */
  bool dl_has_router;
  uint8_t dl_router[4]; /* inside the subnet, not ours */
  uint8_t dl_server[4];
  bool dl_has_dns;
  uint8_t dl_dns[4];
  uint32_t dl_mtu;     /* 0: none offered; else 576..the NIC's */
  uint32_t dl_lease_s; /* DHCP_LEASE_INFINITE: no renewal */
  uint32_t dl_t1_s, dl_t2_s;
};

struct dhcp_stats {
  uint64_t discovers, requests, renew_requests, rebind_requests;
  uint64_t offers, acks, naks, leases, renewals, expiries, restarts;
  uint64_t drop_short;     /* shorter than the fixed part + cookie */
  uint64_t drop_proto;     /* not a BOOTREPLY for Ethernet, no cookie, no type */
  uint64_t drop_not_ours;  /* another client's xid or chaddr */
  uint64_t drop_options;   /* an option runs past its area, bad overload */
  uint64_t drop_state;     /* a type the state does not expect (late OFFERs...) */
  uint64_t drop_server;    /* from a server other than the one we chose */
  uint64_t drop_bad_lease; /* no or zero lease time, no server id */
  uint64_t drop_bad_addr;  /* yiaddr 0, multicast, loopback, broadcast... */
  uint64_t ignored_mask, ignored_router, ignored_mtu, ignored_timers;
};

struct dhcp_ops {
  /** Send `msg` (a BOOTP message) from port 68 to port 67 of `dst`, or to
   * 255.255.255.255 when dst is NULL. Source: the configured address, or
   * 0.0.0.0 while there is none. */
  void (*do_send)(void *arg, const uint8_t *msg, uint32_t len, const uint8_t *dst);
  /** Take the lease's address, mask, router and MTU (the lease stays valid
   * during the call), or with NULL drop the address. */
  void (*do_bind)(void *arg, const struct dhcp_lease *l);
  /** Call dhcp_timeout at deadline_ns (hw_now_ns based; UINT64_MAX: never). */
  void (*do_arm)(void *arg, uint64_t deadline_ns);
};

struct dhcp_client {
  enum dhcp_state c_state;
  struct dhcp_ops c_ops;
  void *c_arg;
  uint8_t c_mac[6];
  char c_hostname[DHCP_HOSTNAME_MAX + 1];
  uint32_t c_mtu_cap;
  uint64_t c_rand;
  uint32_t c_xid;
  unsigned c_tries;                    /* sends in this exchange */
  unsigned c_naks;                     /* NAKs since the last lease */
  uint64_t c_start_ns;                 /* first send of this exchange (secs field) */
  uint64_t c_req_ns;                   /* when the REQUEST that got the lease left */
  uint64_t c_next_ns;                  /* the armed deadline */
  uint64_t c_t1_ns, c_t2_ns, c_end_ns; /* absolute; UINT64_MAX: infinite */
  uint8_t c_offer_ip[4], c_offer_server[4];
  bool c_bound; /* an address is configured */
  struct dhcp_lease c_lease;
  uint64_t c_bound_ns; /* when the first lease came (for the tools' timing) */
  struct dhcp_stats c_st;
  uint8_t c_buf[DHCP_MSG_MAX];
};

/** Set up (state OFF). `hostname` may be NULL (no option 12); `mtu_cap` is
 * the NIC's MTU; `seed` feeds the xid and jitter generator. */
void dhcp_init(struct dhcp_client *c, const uint8_t mac[6], const char *hostname, uint32_t mtu_cap,
               uint64_t seed, const struct dhcp_ops *ops, void *arg);
/** Start (again) from INIT: a lease held is dropped (do_bind(NULL)) and a
 * DISCOVER goes out now. Link up, network change. */
void dhcp_start(struct dhcp_client *c, uint64_t now_ns);
/** Stop sending (link down): OFF, deadline cleared; the address stays until
 * the next dhcp_start. */
void dhcp_stop(struct dhcp_client *c);
/** The deadline asked with do_arm has passed (an early call does nothing). */
void dhcp_timeout(struct dhcp_client *c, uint64_t now_ns);
/** A BOOTP message that came to port 68 (`len` bytes, hostile). */
void dhcp_input(struct dhcp_client *c, uint64_t now_ns, const uint8_t *msg, uint32_t len);

const char *dhcp_state_name(enum dhcp_state s);
/** The xid of the exchange under way (for tests and the fuzzer). */
static inline uint32_t dhcp_xid(const struct dhcp_client *c) { return c->c_xid; }

#endif
