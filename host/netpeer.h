/* host/netpeer.h: the built-in network peer (prefix netpeer_), a NetVSP back
 * end: 192.0.2.1, MAC 00:15:5d:00:00:01. It answers ARP, resolves the
 * guest, sends ICMP echo requests and UDP datagrams to port 7 with
 * patterned payloads, and checks every reply (checksums, addresses,
 * payload), counting what comes back. Used by tests and by hvsim to "ping"
 * the guest in-process.
 *
 * As a small Default Switch (netpeer_set_switch): it is the router of the
 * guest's subnet (answers ARP for the router address), serves DHCP there
 * (host/dhcpsrv.c) and sends its requests from an address on a second
 * subnet behind that router, so every reply must come back through the
 * gateway's MAC. It learns the guest's address from the lease it gives, or
 * from what the guest uses as a source (a gratuitous ARP).
 */
#ifndef HOST_NETPEER_H
#define HOST_NETPEER_H

#include <stdbool.h>
#include <stdint.h>

#include "host/netvsp.h"

struct netpeer_stats {
  uint64_t tx_frames, rx_frames;
  uint64_t arp_requests_sent, arp_replies_seen, arp_requests_answered;
  uint64_t echo_sent, echo_ok, echo_bad;
  uint64_t udp_sent, udp_ok, udp_bad;
  uint64_t tx_refused; /* netvsp_rx_frame refused (link down, busy) */
  uint64_t rx_other;   /* frames it did not expect */
  uint64_t rx_vlan;    /* replies that carried our VLAN tag */
  uint64_t garp_seen;  /* gratuitous ARP from the guest */
  uint64_t dhcp_in, dhcp_out;
};

struct netpeer;
struct dhcpsrv;

/** A peer; `ip`/`mac` NULL = 192.0.2.1 / 00:15:5d:00:00:01; `guest_ip`
 * NULL = 192.0.2.2. */
struct netpeer *netpeer_create(const uint8_t ip[4], const uint8_t mac[6],
                               const uint8_t guest_ip[4]);
void netpeer_destroy(struct netpeer *p);
/** The back end to give netvsp_create (or netvsp_set_backend). */
struct netvsp_backend netpeer_backend(struct netpeer *p);
/** The device to inject frames into. */
void netpeer_attach(struct netpeer *p, struct netvsp *dev);

/** ARP request for the guest. 0 or the netvsp_rx_frame error. */
int netpeer_arp_resolve(struct netpeer *p);
bool netpeer_guest_resolved(const struct netpeer *p);
/** Forget the guest's MAC (frames then go to it by its known MAC anyway:
 * the NIC's, set with netpeer_set_guest_mac). */
void netpeer_set_guest_mac(struct netpeer *p, const uint8_t mac[6]);
/** ICMP echo request, `payload` bytes (pattern from seq). */
int netpeer_ping(struct netpeer *p, uint16_t seq, uint32_t payload);
/** UDP datagram from `sport` to port 7, `payload` bytes (pattern). */
int netpeer_udp(struct netpeer *p, uint16_t sport, uint32_t payload);
/** Send frames tagged with this VLAN id (0 = untagged). */
void netpeer_set_vlan(struct netpeer *p, uint16_t vid);
/** Corrupt the UDP checksum of the next datagram (bad-checksum path). */
void netpeer_corrupt_next_udp(struct netpeer *p);
const struct netpeer_stats *netpeer_stats(const struct netpeer *p);
/** Switch mode: answer ARP for `router` (the guest's gateway), serve DHCP
 * with `srv` (NULL: none; the peer does not own it), and send requests from
 * `remote` (an address off the guest's subnet). The guest's address is then
 * unknown until it gets a lease or announces itself. */
void netpeer_set_switch(struct netpeer *p, const uint8_t router[4], struct dhcpsrv *srv,
                        const uint8_t remote[4]);
/** Tell the peer a static guest's address (--guest-ip): a guest that never
 * announces itself (Linux with `ip=` and no user space sends nothing
 * before it is asked) is then reachable at once. */
void netpeer_set_guest_ip(struct netpeer *p, const uint8_t ip[4]);
/** The guest's address is known (static, leased or announced). */
bool netpeer_guest_known(const struct netpeer *p);
/** The address the guest last used as a source (ARP or IPv4); false: none. */
bool netpeer_guest_ip(const struct netpeer *p, uint8_t ip[4]);

#endif
