/* net/net.h: the unikernel's tiny network stack over netvsc: ARP (answer,
 * and resolve the peers it replies to), ICMP echo reply, UDP echo on port 7.
 * IPv4 address and prefix from the kernel command line key ip=ADDR/PREFIX
 * (default 192.0.2.2/24, a documentation range). One log line per first
 * contact with a peer. All of it runs from the NIC's receive callback.
 */
#ifndef NET_NET_H
#define NET_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "drivers/netvsc/netvsc.h"

#define NET_DEFAULT_IP "192.0.2.2/24"
#define NET_UDP_ECHO_PORT 7u
#define NET_ARP_ENTRIES 16u /* peers remembered (policy) */

struct net_config {
  uint8_t nc_ip[4]; /* network byte order */
  uint8_t nc_prefix;
};

struct net_stats {
  uint64_t rx_frames, tx_frames;
  uint64_t arp_requests, arp_replies_sent, arp_replies_seen, arp_resolves_sent;
  uint64_t icmp_echo, udp_echo;
  uint64_t drop_short, drop_csum, drop_not_ours, drop_proto, drop_tx, drop_no_arp;
  uint64_t peers_seen;
};

struct net;

/** Parse `ip` ("A.B.C.D/P"; NULL = NET_DEFAULT_IP). 0 or -EINVAL. */
int net_config_parse(struct net_config *cfg, const char *ip);
/** Attach the stack to a NIC (takes over its receive callback). NULL on
 * memory exhaustion. */
struct net *net_attach(struct netvsc *nv, const struct net_config *cfg);
/** Detach from the NIC and free. */
void net_detach(struct net *n);
const struct net_stats *net_stats(const struct net *n);
bool net_link_up(const struct net *n);

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
