/* host/dhcpsrv.h: the built-in network's DHCP server (prefix dhcpsrv_), as
 * a Hyper-V Default Switch has one: it leases addresses from one subnet
 * (the router is the subnet's first address and names itself router, DNS
 * server and server id), remembers a binding per client MAC, and answers
 * DISCOVER with OFFER, REQUEST with ACK or NAK (RFC 2131 4.3). No I/O of
 * its own: host/netpeer.c frames what it says. The guest's messages are
 * hostile: a malformed one is counted and gets no answer.
 */
#ifndef HOST_DHCPSRV_H
#define HOST_DHCPSRV_H

#include <stdbool.h>
#include <stdint.h>

#define DHCPSRV_BINDINGS 16u /* clients remembered (policy) */
#define DHCPSRV_LEASE_DEFAULT 3600u

struct dhcpsrv_config {
  uint8_t dc_net[4];   /* the subnet; the router is its first address */
  uint8_t dc_prefix;   /* 8..29 */
  uint32_t dc_lease_s; /* 0: DHCPSRV_LEASE_DEFAULT */
  uint16_t dc_mtu;     /* interface MTU to offer (option 26); 0: none */
};

struct dhcpsrv_stats {
  uint64_t discovers, offers, requests, acks, naks;
  uint64_t renewals; /* REQUEST with ciaddr, unicast to us (T1) */
  uint64_t rebinds;  /* REQUEST with ciaddr, broadcast (T2) */
  uint64_t releases, bad;
  uint64_t first_ack_ns; /* hw_now_ns() of the first ACK (0: none) */
};

struct dhcpsrv;

/** NULL on a bad subnet (prefix outside 8..29) or no memory. */
struct dhcpsrv *dhcpsrv_create(const struct dhcpsrv_config *cfg);
void dhcpsrv_destroy(struct dhcpsrv *s);
/**
 * One BOOTP message from a client (`len` bytes, hostile); `broadcast`: it
 * came to 255.255.255.255. Writes the answer (a BOOTP message) to `out` and
 * returns its length, 0 for no answer. *dst is where it goes (the client's
 * ciaddr, or 255.255.255.255 when *bcast).
 */
uint32_t dhcpsrv_handle(struct dhcpsrv *s, const uint8_t *msg, uint32_t len, bool broadcast,
                        uint8_t *out, uint32_t cap, uint8_t dst[4], bool *bcast);
/** The router / server address. */
void dhcpsrv_router(const struct dhcpsrv *s, uint8_t ip[4]);
/** The switch changed: forget the bindings, and lease other addresses from
 * now on (a client must take a new lease). */
void dhcpsrv_new_network(struct dhcpsrv *s);
/** The address of the last ACK, false when none. */
bool dhcpsrv_last_lease(const struct dhcpsrv *s, uint8_t ip[4]);
const struct dhcpsrv_stats *dhcpsrv_stats(const struct dhcpsrv *s);

#endif
