/* net/net.h: the unikernel's tiny network stack over netvsc: ARP (answer,
 * resolve next hops, announce itself with gratuitous ARP), ICMP echo reply,
 * UDP echo on port 7, and the address: static (ip=ADDR/PREFIX, gw=ADDR) or
 * from the DHCP client (net/dhcp.h; the kernel's default). Replies are
 * routed: on-link destinations directly, others through the gateway's MAC;
 * with no gateway an off-link reply is dropped and counted. A LAN's noise
 * (others' broadcasts and multicasts, IPv6, other hosts' ARP, other clients'
 * DHCP) is dropped and counted by reason, never logged per frame. Log lines:
 * one per first contact with a next hop, one per DHCP state change. All of
 * it runs from the NIC's callbacks and one event-loop timer.
 */
#ifndef NET_NET_H
#define NET_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "drivers/netvsc/netvsc.h"
#include "net/dhcp.h"

#define NET_DEFAULT_IP "192.0.2.2/24" /* net_config_parse(NULL): tests' static address */
#define NET_UDP_ECHO_PORT 7u
#define NET_ARP_ENTRIES 16u /* next hops remembered (policy) */
#define NET_ARP_PENDING 4u  /* frames waiting per unresolved next hop (policy) */

struct net_config {
  uint8_t nc_ip[4]; /* network byte order; static only */
  uint8_t nc_prefix;
  bool nc_has_gw;
  uint8_t nc_gw[4];
  bool nc_dhcp;                            /* address from DHCP */
  char nc_hostname[DHCP_HOSTNAME_MAX + 1]; /* DHCP option 12; "" none */
};

struct net_stats {
  uint64_t rx_frames, tx_frames;
  uint64_t arp_requests, arp_replies_sent, arp_replies_seen, arp_resolves_sent;
  uint64_t garp_sent; /* gratuitous ARP announcements */
  uint64_t icmp_echo, udp_echo;
  uint64_t drop_short, drop_csum, drop_not_ours, drop_proto, drop_tx, drop_no_arp;
  uint64_t drop_mcast;     /* multicast MAC or IP destination */
  uint64_t drop_bcast;     /* broadcast IP not for a service of ours */
  uint64_t drop_ipv6;      /* EtherType 0x86dd */
  uint64_t drop_arp_other; /* ARP between other hosts */
  uint64_t drop_no_addr;   /* arrived while we have no address */
  uint64_t drop_no_route;  /* off-link reply and no gateway */
  uint64_t drop_bad_src;   /* request from 0.x, 127.x, multicast or broadcast */
  uint64_t drop_too_big;   /* the reply would exceed the MTU */
  uint64_t arp_conflicts;  /* someone else claims our address */
  uint64_t dhcp_rx;        /* datagrams to port 68 given to the client */
  uint64_t peers_seen;
};

struct net;

/** Parse `ip`: "A.B.C.D/P" (static), "dhcp", or NULL = NET_DEFAULT_IP
 * (static; the kernel passes "dhcp" when ip= is absent). 0 or -EINVAL. */
int net_config_parse(struct net_config *cfg, const char *ip);
/** Set the gateway of a static configuration from "A.B.C.D". 0 or -EINVAL
 * (not an address). */
int net_config_set_gw(struct net_config *cfg, const char *gw);
/** Set the DHCP host name (letters, digits, '-', 1..63 chars). 0 or -EINVAL. */
int net_config_set_hostname(struct net_config *cfg, const char *name);
/** Attach the stack to a NIC (takes over its callbacks). NULL on memory
 * exhaustion. */
struct net *net_attach(struct netvsc *nv, const struct net_config *cfg);
/** Detach from the NIC and free. */
void net_detach(struct net *n);
/** The receive callback net_attach installs (frame valid for the call):
 * public for the fuzzer. */
void net_input(struct net *n, const uint8_t *frame, uint32_t len, const struct netvsc_rx_info *ri);
const struct net_stats *net_stats(const struct net *n);
bool net_link_up(const struct net *n);
/** The address in use (false: none yet). */
bool net_address(const struct net *n, uint8_t ip[4], uint8_t *prefix);
/** The DHCP client (NULL with a static address). */
const struct dhcp_client *net_dhcp(const struct net *n);

/** The interface's IPv4 configuration as others report it (KVP). */
struct net_ipv4_info {
  uint8_t addr[4]; /* network byte order */
  uint8_t prefix;
  uint8_t gw[4]; /* 0.0.0.0: none */
  bool dhcp;     /* the address came from DHCP */
};
/** Read-only copy of the current configuration; false when there is no
 * address (none configured yet). */
bool net_ipv4_info(const struct net *n, struct net_ipv4_info *out);

#endif
