/* net/net.c: ARP, ICMP echo reply, UDP echo (port 7), routing and the DHCP
 * client's framing over netvsc.
 *
 * Frames come from the NIC's receive callback (a private copy, valid for
 * the call); every header is checked against the bytes received before a
 * wire struct (net/wire.h) is laid over it. Replies are routed (on-link by
 * prefix, else through the gateway) and sent to the next hop's MAC from the
 * ARP table: a next hop that is not there yet is resolved with an ARP
 * request and the reply waits in its entry (one frame) until the answer.
 */
#include "net/net.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/cmdline.h"
#include "kernel/hw.h"
#include "kernel/log.h"
#include "kernel/timer.h"
#include "net/inet.h"
#include "net/wire.h"

#define NET_FRAME_MAX (NETVSC_MTU_MAX + ETH_VLAN_HLEN)

struct net_pend {
  uint8_t *p_frame;
  uint32_t p_len;
  struct netvsc_tx_info p_ti;
};

struct net_arp {
  bool a_used;
  bool a_resolved;
  uint8_t a_ip[4];
  uint8_t a_mac[6];
  /* frames waiting for the resolution, oldest first */
  struct net_pend a_pend[NET_ARP_PENDING];
  uint32_t a_npend;
};

struct net {
  struct netvsc *n_nv;
  struct net_config n_cfg; /* n_cfg.nc_ip/prefix/gw: the address in use */
  bool n_have_ip;
  uint8_t n_mac[6];
  uint32_t n_nic_mtu, n_mtu;
  bool n_link;
  struct net_arp n_arp[NET_ARP_ENTRIES];
  uint32_t n_arp_next;
  struct net_stats n_st;
  struct dhcp_client n_dhcp;
  struct timer n_dhcp_timer;
  uint8_t n_tx[NET_FRAME_MAX];
};

static const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t bcast_ip[4] = {255, 255, 255, 255};

/* ---- configuration ------------------------------------------------------------------- */

int net_config_parse(struct net_config *cfg, const char *ip) {
  memset(cfg, 0, sizeof(*cfg));
  if (ip && strcmp(ip, "dhcp") == 0) {
    cfg->nc_dhcp = true;
    return 0;
  }
  if (!ip)
    ip = NET_DEFAULT_IP;
  if (cmdline_parse_ipv4_prefix(ip, cfg->nc_ip, &cfg->nc_prefix) != 0 || cfg->nc_prefix > 32)
    return -EINVAL;
  return 0;
}

int net_config_set_gw(struct net_config *cfg, const char *gw) {
  char b[24];
  uint8_t p;
  if (!gw || strlen(gw) > 15)
    return -EINVAL;
  snprintf(b, sizeof(b), "%s/32", gw);
  if (cmdline_parse_ipv4_prefix(b, cfg->nc_gw, &p) != 0 || cfg->nc_gw[0] == 0 ||
      cfg->nc_gw[0] >= 224)
    return -EINVAL;
  cfg->nc_has_gw = true;
  return 0;
}

int net_config_set_hostname(struct net_config *cfg, const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > DHCP_HOSTNAME_MAX)
    return -EINVAL;
  for (size_t i = 0; i < n; i++) {
    char ch = name[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-';
    if (!ok)
      return -EINVAL;
  }
  memcpy(cfg->nc_hostname, name, n + 1);
  return 0;
}

static uint32_t net_mask(uint8_t prefix) {
  return prefix == 0 ? 0 : prefix >= 32 ? 0xffffffffu : ~(0xffffffffu >> prefix);
}

/** On our subnet (the on-link decision). */
static bool net_on_link(const struct net *n, const uint8_t ip[4]) {
  uint32_t m = net_mask(n->n_cfg.nc_prefix);
  return (inet_get32(ip) & m) == (inet_get32(n->n_cfg.nc_ip) & m);
}

/** Our subnet's directed broadcast address (prefix below 31). */
static bool net_is_subnet_bcast(const struct net *n, const uint8_t ip[4]) {
  uint32_t m = net_mask(n->n_cfg.nc_prefix);
  return n->n_cfg.nc_prefix < 31 && net_on_link(n, ip) && (inet_get32(ip) & ~m) == ~m;
}

/* ---- ARP table ----------------------------------------------------------------------- */

static struct net_arp *net_arp_find(struct net *n, const uint8_t ip[4]) {
  for (uint32_t i = 0; i < NET_ARP_ENTRIES; i++)
    if (n->n_arp[i].a_used && !memcmp(n->n_arp[i].a_ip, ip, 4))
      return &n->n_arp[i];
  return NULL;
}

static void net_arp_drop_pending(struct net_arp *a) {
  for (uint32_t i = 0; i < a->a_npend; i++)
    free(a->a_pend[i].p_frame);
  a->a_npend = 0;
}

/** An entry for `ip` (the oldest is recycled when full). */
static struct net_arp *net_arp_get(struct net *n, const uint8_t ip[4]) {
  struct net_arp *a = net_arp_find(n, ip);
  if (a)
    return a;
  a = &n->n_arp[n->n_arp_next];
  n->n_arp_next = (n->n_arp_next + 1u) % NET_ARP_ENTRIES;
  net_arp_drop_pending(a);
  memset(a, 0, sizeof(*a));
  a->a_used = true;
  memcpy(a->a_ip, ip, 4);
  return a;
}

/** Forget every next hop (the address or the network changed). */
static void net_arp_flush(struct net *n) {
  for (uint32_t i = 0; i < NET_ARP_ENTRIES; i++) {
    net_arp_drop_pending(&n->n_arp[i]);
    memset(&n->n_arp[i], 0, sizeof(n->n_arp[i]));
  }
  n->n_arp_next = 0;
}

static void net_send(struct net *n, const uint8_t *f, uint32_t len,
                     const struct netvsc_tx_info *ti) {
  int rc = netvsc_send(n->n_nv, f, len, ti);
  if (rc) {
    n->n_st.drop_tx++; /* back-pressure or link down: counted, never silent */
    return;
  }
  n->n_st.tx_frames++;
}

/** Learn ip -> mac; logs the first contact; sends the frames that waited. */
static void net_arp_learn(struct net *n, const uint8_t ip[4], const uint8_t mac[6]) {
  struct net_arp *a = net_arp_get(n, ip);
  bool first = !a->a_resolved;
  memcpy(a->a_mac, mac, 6);
  a->a_resolved = true;
  if (first) {
    n->n_st.peers_seen++;
    pr_info("net: first contact with %u.%u.%u.%u (%02x:%02x:%02x:%02x:%02x:%02x)\n", ip[0], ip[1],
            ip[2], ip[3], mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  }
  for (uint32_t i = 0; i < a->a_npend; i++) {
    struct net_pend *p = &a->a_pend[i];
    memcpy(p->p_frame, mac, 6); /* destination MAC of the waiting frame */
    net_send(n, p->p_frame, p->p_len, &p->p_ti);
    free(p->p_frame);
  }
  a->a_npend = 0;
}

/** An ARP frame in `f` (ARP_FRAME_LEN bytes). */
static void net_arp_frame(struct net *n, uint8_t *f, const uint8_t dst[6], uint16_t op,
                          const uint8_t tha[6], const uint8_t tpa[4]) {
  struct eth_hdr *e = (struct eth_hdr *)f;
  struct arp_pkt *a = (struct arp_pkt *)(f + ETH_HLEN);
  memcpy(e->eh_dst, dst, 6);
  memcpy(e->eh_src, n->n_mac, 6);
  inet_put16(e->eh_type, ETH_P_ARP);
  inet_arp_fill(a, op, n->n_mac, n->n_cfg.nc_ip, tha, tpa);
}

static void net_arp_request(struct net *n, const uint8_t ip[4]) {
  static const uint8_t zero[6];
  uint8_t f[ARP_FRAME_LEN];
  net_arp_frame(n, f, bcast_mac, ARP_OP_REQUEST, zero, ip);
  n->n_st.arp_resolves_sent++;
  net_send(n, f, sizeof(f), NULL);
}

/** Gratuitous ARP (a request for our own address, RFC 5227 announcement):
 * switches and neighbours learn our MAC again. */
static void net_garp(struct net *n) {
  static const uint8_t zero[6];
  if (!n->n_have_ip || !n->n_link)
    return;
  uint8_t f[ARP_FRAME_LEN];
  net_arp_frame(n, f, bcast_mac, ARP_OP_REQUEST, zero, n->n_cfg.nc_ip);
  n->n_st.garp_sent++;
  net_send(n, f, sizeof(f), NULL);
}

/** Send the IPv4 frame in n_tx (Ethernet destination left to fill) towards
 * `dst`: on-link directly, else through the gateway; no gateway: dropped. */
static void net_ip_out(struct net *n, const uint8_t dst[4], uint32_t len,
                       const struct netvsc_tx_info *ti) {
  const uint8_t *hop = dst;
  if (!net_on_link(n, dst)) {
    if (!n->n_cfg.nc_has_gw) {
      n->n_st.drop_no_route++;
      return;
    }
    hop = n->n_cfg.nc_gw;
  }
  struct net_arp *a = net_arp_find(n, hop);
  if (a && a->a_resolved) {
    memcpy(n->n_tx, a->a_mac, 6);
    net_send(n, n->n_tx, len, ti);
    return;
  }
  a = net_arp_get(n, hop);
  if (a->a_npend == NET_ARP_PENDING) { /* full: the oldest goes */
    free(a->a_pend[0].p_frame);
    memmove(&a->a_pend[0], &a->a_pend[1], (NET_ARP_PENDING - 1u) * sizeof(a->a_pend[0]));
    a->a_npend--;
    n->n_st.drop_no_arp++;
  }
  struct net_pend *p = &a->a_pend[a->a_npend];
  p->p_frame = malloc(len);
  if (!p->p_frame) {
    n->n_st.drop_no_arp++;
    return;
  }
  memcpy(p->p_frame, n->n_tx, len);
  p->p_len = len;
  p->p_ti = ti ? *ti : (struct netvsc_tx_info){0};
  a->a_npend++;
  net_arp_request(n, hop); /* each waiting frame asks again: a lost answer is retried */
}

/* ---- the DHCP client's I/O ----------------------------------------------------------- */

/** UDP 68 -> 67 around a BOOTP message; broadcast when dst is NULL. */
static void net_dhcp_send(void *arg, const uint8_t *msg, uint32_t len, const uint8_t *dst) {
  struct net *n = arg;
  if (!n->n_link)
    return; /* retransmitted when the deadline comes, or restarted on link up */
  uint32_t tot = IPV4_HLEN + UDP_HLEN + len;
  uint8_t *f = n->n_tx;
  struct eth_hdr *e = (struct eth_hdr *)f;
  struct ipv4_hdr *ip = (struct ipv4_hdr *)(f + ETH_HLEN);
  struct udp_hdr *u = (struct udp_hdr *)(f + ETH_HLEN + IPV4_HLEN);
  memset(f, 0, ETH_HLEN + IPV4_HLEN + UDP_HLEN);
  memcpy(e->eh_src, n->n_mac, 6);
  inet_put16(e->eh_type, ETH_P_IP);
  ip->ih_vhl = IPV4_VHL_NOOPT;
  inet_put16(ip->ih_len, (uint16_t)tot);
  ip->ih_ttl = IPV4_DEFAULT_TTL;
  ip->ih_proto = IP_PROTO_UDP;
  if (n->n_have_ip)
    memcpy(ip->ih_src, n->n_cfg.nc_ip, 4);
  memcpy(ip->ih_dst, dst ? dst : bcast_ip, 4);
  inet_put16(ip->ih_csum, inet_csum_fold(inet_csum_add(0, (uint8_t *)ip, IPV4_HLEN)));
  inet_put16(u->uh_sport, DHCP_CLIENT_PORT);
  inet_put16(u->uh_dport, DHCP_SERVER_PORT);
  inet_put16(u->uh_len, (uint16_t)(UDP_HLEN + len));
  memcpy(f + ETH_HLEN + IPV4_HLEN + UDP_HLEN, msg, len);
  uint16_t c = inet_udp4_csum(ip, (const uint8_t *)u, UDP_HLEN + len);
  inet_put16(u->uh_csum, c ? c : 0xffff);
  if (!dst) {
    memcpy(e->eh_dst, bcast_mac, 6);
    net_send(n, f, ETH_HLEN + tot, NULL);
    return;
  }
  net_ip_out(n, dst, ETH_HLEN + tot, NULL);
}

static void net_dhcp_bind(void *arg, const struct dhcp_lease *l) {
  struct net *n = arg;
  if (l && n->n_have_ip && !memcmp(n->n_cfg.nc_ip, l->dl_ip, 4) &&
      n->n_cfg.nc_prefix == l->dl_prefix && n->n_cfg.nc_has_gw == l->dl_has_router &&
      (!l->dl_has_router || !memcmp(n->n_cfg.nc_gw, l->dl_router, 4))) {
    n->n_mtu = l->dl_mtu && l->dl_mtu < n->n_nic_mtu ? l->dl_mtu : n->n_nic_mtu;
    return; /* a renewal of the same lease: nothing else changes */
  }
  net_arp_flush(n);
  if (!l) {
    n->n_have_ip = false;
    memset(n->n_cfg.nc_ip, 0, 4);
    n->n_cfg.nc_has_gw = false;
    n->n_mtu = n->n_nic_mtu;
    return;
  }
  memcpy(n->n_cfg.nc_ip, l->dl_ip, 4);
  n->n_cfg.nc_prefix = l->dl_prefix;
  n->n_cfg.nc_has_gw = l->dl_has_router;
  memcpy(n->n_cfg.nc_gw, l->dl_router, 4);
  n->n_mtu = l->dl_mtu && l->dl_mtu < n->n_nic_mtu ? l->dl_mtu : n->n_nic_mtu;
  n->n_have_ip = true;
  net_garp(n);
  if (n->n_cfg.nc_has_gw)
    net_arp_request(n, n->n_cfg.nc_gw); /* the gateway's MAC before the first reply */
}

static void net_dhcp_arm(void *arg, uint64_t deadline) {
  struct net *n = arg;
  if (deadline == UINT64_MAX) {
    timer_cancel(&n->n_dhcp_timer);
    return;
  }
  uint64_t now = hw_now_ns();
  timer_arm_ns(&n->n_dhcp_timer, deadline > now ? deadline - now : 0);
}

static void net_dhcp_due(void *arg) {
  struct net *n = arg;
  dhcp_timeout(&n->n_dhcp, hw_now_ns());
}

/* ---- input --------------------------------------------------------------------------- */

/** A reply's transmit options: none but the VLAN tag, so a reply goes out
 * on the VLAN (and with the priority) its request came in on. */
static void net_reply_tx_info(struct netvsc_tx_info *ti, const struct netvsc_rx_info *ri) {
  memset(ti, 0, sizeof(*ti));
  ti->ti_vlan = ri->ri_vlan;
  ti->ti_vlan_id = ri->ri_vlan_id;
  ti->ti_prio = ri->ri_prio;
}

static void net_rx_arp(struct net *n, const uint8_t *f, uint32_t len,
                       const struct netvsc_rx_info *ri) {
  if (len < ARP_FRAME_LEN) {
    n->n_st.drop_short++;
    return;
  }
  const struct arp_pkt *a = (const struct arp_pkt *)(f + ETH_HLEN);
  if (inet_get16(a->ar_hrd) != ARP_HRD_ETHER || inet_get16(a->ar_pro) != ETH_P_IP ||
      a->ar_hln != 6 || a->ar_pln != 4) {
    n->n_st.drop_proto++;
    return;
  }
  if (!n->n_have_ip) {
    n->n_st.drop_no_addr++;
    return;
  }
  uint16_t op = inet_get16(a->ar_op);
  if (memcmp(a->ar_spa, n->n_cfg.nc_ip, 4) == 0 && memcmp(a->ar_sha, n->n_mac, 6) != 0) {
    n->n_st.arp_conflicts++; /* counted; our configuration never changes for it */
    return;
  }
  if (memcmp(a->ar_tpa, n->n_cfg.nc_ip, 4) != 0) {
    n->n_st.drop_arp_other++;
    return;
  }
  /* Learn only unicast senders on our subnet (a next hop is always one). */
  bool sender_ok = !(a->ar_sha[0] & 1u) && a->ar_spa[0] != 0 && net_on_link(n, a->ar_spa);
  if (op == ARP_OP_REQUEST) {
    n->n_st.arp_requests++;
    if (!sender_ok) {
      n->n_st.drop_bad_src++;
      return;
    }
    uint8_t sha[6], spa[4];
    memcpy(sha, a->ar_sha, 6);
    memcpy(spa, a->ar_spa, 4);
    net_arp_learn(n, spa, sha);
    uint8_t r[ARP_FRAME_LEN];
    net_arp_frame(n, r, sha, ARP_OP_REPLY, sha, spa);
    n->n_st.arp_replies_sent++;
    struct netvsc_tx_info ti;
    net_reply_tx_info(&ti, ri);
    net_send(n, r, sizeof(r), &ti);
  } else if (op == ARP_OP_REPLY) {
    n->n_st.arp_replies_seen++;
    if (!sender_ok) {
      n->n_st.drop_bad_src++;
      return;
    }
    net_arp_learn(n, a->ar_spa, a->ar_sha);
  } else {
    n->n_st.drop_proto++;
  }
}

/** Start an IPv4 reply in n_tx: Ethernet + IP header copied from the
 * request with addresses swapped; the checksum is filled or offloaded. */
static void net_ip_reply_hdr(struct net *n, const uint8_t *req, uint32_t ihl, uint32_t tot,
                             struct netvsc_tx_info *ti) {
  struct eth_hdr *e = (struct eth_hdr *)n->n_tx;
  struct ipv4_hdr *o = (struct ipv4_hdr *)(n->n_tx + ETH_HLEN);
  const struct ipv4_hdr *ip = (const struct ipv4_hdr *)req;
  memcpy(e->eh_src, n->n_mac, 6);
  inet_put16(e->eh_type, ETH_P_IP);
  memcpy(o, req, ihl);
  o->ih_vhl = (uint8_t)((IPV4_VERSION << 4) | (ihl / 4u));
  inet_put16(o->ih_len, (uint16_t)tot);
  o->ih_ttl = IPV4_DEFAULT_TTL;
  memcpy(o->ih_src, n->n_cfg.nc_ip, 4);
  memcpy(o->ih_dst, ip->ih_src, 4);
  o->ih_csum[0] = o->ih_csum[1] = 0;
  if (netvsc_offloads(n->n_nv) & NETVSC_OFF_TX_CSUM_IP4)
    ti->ti_csum_ip = true;
  else
    inet_put16(o->ih_csum, inet_csum_fold(inet_csum_add(0, (uint8_t *)o, ihl)));
}

static void net_rx_icmp(struct net *n, const uint8_t *ip, uint32_t ihl, uint32_t tot,
                        struct netvsc_tx_info *ti) {
  const uint8_t *l4 = ip + ihl;
  uint32_t l4len = tot - ihl;
  const struct icmp_echo *ic = (const struct icmp_echo *)l4;
  if (l4len < sizeof(*ic) || ic->ic_type != ICMP_ECHO_REQUEST || ic->ic_code != 0) {
    n->n_st.drop_proto++;
    return;
  }
  if (inet_csum_fold(inet_csum_add(0, l4, l4len)) != 0) {
    n->n_st.drop_csum++;
    return;
  }
  net_ip_reply_hdr(n, ip, ihl, tot, ti);
  uint8_t *r = n->n_tx + ETH_HLEN + ihl;
  struct icmp_echo *rc = (struct icmp_echo *)r;
  memcpy(r, l4, l4len);
  rc->ic_type = ICMP_ECHO_REPLY;
  rc->ic_csum[0] = rc->ic_csum[1] = 0;
  inet_put16(rc->ic_csum, inet_csum_fold(inet_csum_add(0, r, l4len)));
  n->n_st.icmp_echo++;
  net_ip_out(n, ((const struct ipv4_hdr *)ip)->ih_src, ETH_HLEN + tot, ti);
}

static void net_rx_udp(struct net *n, const uint8_t *ip, uint32_t ihl, uint32_t tot,
                       struct netvsc_tx_info *ti, const struct netvsc_rx_info *ri) {
  const struct ipv4_hdr *ih = (const struct ipv4_hdr *)ip;
  const uint8_t *l4 = ip + ihl;
  uint32_t l4len = tot - ihl;
  const struct udp_hdr *uh = (const struct udp_hdr *)l4;
  if (l4len < UDP_HLEN || inet_get16(uh->uh_len) < UDP_HLEN || inet_get16(uh->uh_len) > l4len) {
    n->n_st.drop_proto++;
    return;
  }
  uint32_t ulen = inet_get16(uh->uh_len);
  uint16_t dport = inet_get16(uh->uh_dport);
  if (!ri->ri_csum_l4_ok && inet_get16(uh->uh_csum) != 0 && inet_udp4_csum(ih, l4, ulen) != 0) {
    n->n_st.drop_csum++;
    return;
  }
  if (dport == DHCP_CLIENT_PORT && inet_get16(uh->uh_sport) == DHCP_SERVER_PORT &&
      n->n_cfg.nc_dhcp) {
    n->n_st.dhcp_rx++;
    dhcp_input(&n->n_dhcp, hw_now_ns(), l4 + UDP_HLEN, ulen - UDP_HLEN);
    return;
  }
  if (!n->n_have_ip) {
    n->n_st.drop_no_addr++;
    return;
  }
  if (memcmp(ih->ih_dst, n->n_cfg.nc_ip, 4) != 0) {
    n->n_st.drop_bcast++; /* a broadcast for a service we do not run */
    return;
  }
  if (dport != NET_UDP_ECHO_PORT) {
    n->n_st.drop_not_ours++;
    return;
  }
  tot = ihl + ulen;
  if (tot > n->n_mtu) {
    n->n_st.drop_too_big++; /* the lease's MTU is below what came in */
    return;
  }
  net_ip_reply_hdr(n, ip, ihl, tot, ti);
  uint8_t *o = n->n_tx + ETH_HLEN;
  uint8_t *u = o + ihl;
  struct udp_hdr *ru = (struct udp_hdr *)u;
  memcpy(u, l4, ulen);
  inet_put16(ru->uh_sport, dport);
  inet_put16(ru->uh_dport, inet_get16(uh->uh_sport));
  ru->uh_csum[0] = ru->uh_csum[1] = 0;
  if (netvsc_offloads(n->n_nv) & NETVSC_OFF_TX_CSUM_UDP4) {
    ti->ti_csum_udp = true;
    ti->ti_l4_off = (uint16_t)(ETH_HLEN + ihl);
  } else {
    uint16_t c = inet_udp4_csum((const struct ipv4_hdr *)o, u, ulen);
    inet_put16(ru->uh_csum, c ? c : 0xffff);
  }
  n->n_st.udp_echo++;
  net_ip_out(n, ih->ih_src, ETH_HLEN + tot, ti);
}

/** The IPv4 header's own checks, on the `avail` bytes after the Ethernet
 * header (at least IPV4_HLEN): version 4, a header length of at least 20
 * bytes, a total length from the header's end to at most the frame's end.
 * Fills *ihl and *tot; false (counted) for a malformed header. */
static bool net_ip_header_ok(struct net *n, const struct ipv4_hdr *ih, uint32_t avail,
                             uint32_t *ihl, uint32_t *tot) {
  *ihl = inet_ipv4_hlen(ih);
  *tot = inet_get16(ih->ih_len);
  if (inet_ipv4_version(ih) != IPV4_VERSION || *ihl < IPV4_HLEN || *tot < *ihl || *tot > avail) {
    n->n_st.drop_proto++;
    return false;
  }
  return true;
}

/** Whether the datagram's destination is one this stack takes: never
 * multicast; our address or a broadcast; without an address, any UDP while
 * DHCP waits (a server may address the offer to the address it offers).
 * Sets *to_us for our own address; false (counted) for anything else. */
static bool net_ip_dst_ok(struct net *n, const struct ipv4_hdr *ih, bool *to_us) {
  if (ih->ih_dst[0] >= 224 && ih->ih_dst[0] < 240) {
    n->n_st.drop_mcast++;
    return false;
  }
  *to_us = n->n_have_ip && memcmp(ih->ih_dst, n->n_cfg.nc_ip, 4) == 0;
  bool bcast =
      memcmp(ih->ih_dst, bcast_ip, 4) == 0 || (n->n_have_ip && net_is_subnet_bcast(n, ih->ih_dst));
  bool dhcp_wait = n->n_cfg.nc_dhcp && !n->n_have_ip && ih->ih_proto == IP_PROTO_UDP;
  if (!*to_us && !bcast && !dhcp_wait) {
    if (n->n_have_ip)
      n->n_st.drop_not_ours++;
    else
      n->n_st.drop_no_addr++;
    return false;
  }
  return true;
}

/** The header checksum (unless the host verified it) and no fragments
 * (not reassembled here). False (counted) otherwise. */
static bool net_ip_intact_ok(struct net *n, const uint8_t *ip, uint32_t ihl,
                             const struct netvsc_rx_info *ri) {
  const struct ipv4_hdr *ih = (const struct ipv4_hdr *)ip;
  if (!ri->ri_csum_ip_ok && inet_csum_fold(inet_csum_add(0, ip, ihl)) != 0) {
    n->n_st.drop_csum++;
    return false;
  }
  if ((inet_get16(ih->ih_frag) & IPV4_FRAG_MASK) != 0) {
    n->n_st.drop_proto++;
    return false;
  }
  return true;
}

/** Whether an echo request may be answered: from a unicast source (not
 * 0/8, loopback, multicast or our subnet's broadcast), and the reply fits
 * the MTU and n_tx. False (counted) otherwise. */
static bool net_icmp_reply_ok(struct net *n, const struct ipv4_hdr *ih, uint32_t tot) {
  const uint8_t *src = ih->ih_src;
  if (src[0] == 0 || src[0] == 127 || src[0] >= 224 || net_is_subnet_bcast(n, src)) {
    n->n_st.drop_bad_src++;
    return false;
  }
  if (tot > n->n_mtu || ETH_HLEN + tot > sizeof(n->n_tx)) {
    n->n_st.drop_too_big++;
    return false;
  }
  return true;
}

/** One IPv4 frame: header, destination and integrity checks, then UDP (to
 * us or broadcast) or ICMP echo (to us only). */
static void net_rx_ip(struct net *n, const uint8_t *f, uint32_t len,
                      const struct netvsc_rx_info *ri) {
  if (len < ETH_HLEN + IPV4_HLEN) {
    n->n_st.drop_short++;
    return;
  }
  const uint8_t *ip = f + ETH_HLEN;
  const struct ipv4_hdr *ih = (const struct ipv4_hdr *)ip;
  uint32_t ihl, tot;
  bool to_us;
  if (!net_ip_header_ok(n, ih, len - ETH_HLEN, &ihl, &tot) || !net_ip_dst_ok(n, ih, &to_us) ||
      !net_ip_intact_ok(n, ip, ihl, ri))
    return;
  struct netvsc_tx_info ti;
  net_reply_tx_info(&ti, ri);
  if (ih->ih_proto == IP_PROTO_UDP) {
    net_rx_udp(n, ip, ihl, tot, &ti, ri);
    return;
  }
  if (!to_us) {
    n->n_st.drop_bcast++; /* broadcast pings and the like: not answered */
    return;
  }
  if (ih->ih_proto != IP_PROTO_ICMP) {
    n->n_st.drop_proto++;
    return;
  }
  if (net_icmp_reply_ok(n, ih, tot))
    net_rx_icmp(n, ip, ihl, tot, &ti);
}

void net_input(struct net *n, const uint8_t *f, uint32_t len, const struct netvsc_rx_info *ri) {
  n->n_st.rx_frames++;
  if (len < ETH_HLEN) {
    n->n_st.drop_short++;
    return;
  }
  const struct eth_hdr *e = (const struct eth_hdr *)f;
  if (memcmp(e->eh_dst, n->n_mac, 6) != 0 && memcmp(e->eh_dst, bcast_mac, 6) != 0) {
    if (e->eh_dst[0] & 1u)
      n->n_st.drop_mcast++; /* mDNS, IPv6 neighbour discovery, STP... */
    else
      n->n_st.drop_not_ours++;
    return;
  }
  uint16_t et = inet_get16(e->eh_type);
  if (et == ETH_P_ARP)
    net_rx_arp(n, f, len, ri);
  else if (et == ETH_P_IP)
    net_rx_ip(n, f, len, ri);
  else if (et == ETH_P_IPV6)
    n->n_st.drop_ipv6++;
  else
    n->n_st.drop_proto++;
}

static void net_rx(void *arg, const uint8_t *f, uint32_t len, const struct netvsc_rx_info *ri) {
  net_input(arg, f, len, ri);
}

/* UDP echo replies of up to the MTU go out unfragmented. */
_Static_assert(NET_FRAME_MAX >= ETH_HLEN + NETVSC_MTU_MAX, "transmit frame holds the MTU");

/** Link changes: down stops the DHCP client; up starts it again (static:
 * announce the address); up while up (a repeated media connect, or the
 * host's network change) announces the address again. */
static void net_link(void *arg, bool up) {
  struct net *n = arg;
  bool was = n->n_link;
  n->n_link = up;
  if (up && was) {
    pr_info("net: link up again; announcing %u.%u.%u.%u\n", n->n_cfg.nc_ip[0], n->n_cfg.nc_ip[1],
            n->n_cfg.nc_ip[2], n->n_cfg.nc_ip[3]);
    net_garp(n);
    return;
  }
  pr_info("net: link %s\n", up ? "up" : "down");
  if (!n->n_cfg.nc_dhcp) {
    if (up)
      net_garp(n);
    return;
  }
  if (up)
    dhcp_start(&n->n_dhcp, hw_now_ns());
  else
    dhcp_stop(&n->n_dhcp);
}

struct net *net_attach(struct netvsc *nv, const struct net_config *cfg) {
  struct net *n = calloc(1, sizeof(*n));
  if (!n)
    return NULL;
  n->n_nv = nv;
  n->n_cfg = *cfg;
  netvsc_mac(nv, n->n_mac);
  n->n_nic_mtu = n->n_mtu = netvsc_mtu(nv);
  n->n_link = netvsc_link_up(nv);
  timer_init(&n->n_dhcp_timer, net_dhcp_due, n);
  char mac[18];
  snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->n_mac[0], n->n_mac[1], n->n_mac[2],
           n->n_mac[3], n->n_mac[4], n->n_mac[5]);
  if (cfg->nc_dhcp) {
    static const struct dhcp_ops ops = {net_dhcp_send, net_dhcp_bind, net_dhcp_arm};
    dhcp_init(&n->n_dhcp, n->n_mac, cfg->nc_hostname[0] ? cfg->nc_hostname : NULL, n->n_nic_mtu,
              hw_now_ns(), &ops, n);
    memset(n->n_cfg.nc_ip, 0, 4);
    n->n_cfg.nc_has_gw = false;
    pr_info("net: DHCP on %s%s%s\n", mac, cfg->nc_hostname[0] ? " as " : "", cfg->nc_hostname);
  } else {
    n->n_have_ip = true;
    if (cfg->nc_has_gw)
      pr_info("net: %u.%u.%u.%u/%u gateway %u.%u.%u.%u on %s\n", cfg->nc_ip[0], cfg->nc_ip[1],
              cfg->nc_ip[2], cfg->nc_ip[3], cfg->nc_prefix, cfg->nc_gw[0], cfg->nc_gw[1],
              cfg->nc_gw[2], cfg->nc_gw[3], mac);
    else
      pr_info("net: %u.%u.%u.%u/%u on %s\n", cfg->nc_ip[0], cfg->nc_ip[1], cfg->nc_ip[2],
              cfg->nc_ip[3], cfg->nc_prefix, mac);
  }
  netvsc_set_receiver(nv, net_rx, net_link, n);
  if (n->n_link) {
    if (cfg->nc_dhcp)
      dhcp_start(&n->n_dhcp, hw_now_ns());
    else
      net_garp(n);
  }
  return n;
}

void net_detach(struct net *n) {
  if (!n)
    return;
  if (n->n_nv)
    netvsc_set_receiver(n->n_nv, NULL, NULL, NULL);
  timer_cancel(&n->n_dhcp_timer);
  net_arp_flush(n);
  free(n);
}

const struct net_stats *net_stats(const struct net *n) { return &n->n_st; }
bool net_link_up(const struct net *n) { return n->n_link; }

bool net_ipv4_info(const struct net *n, struct net_ipv4_info *out) {
  memset(out, 0, sizeof(*out));
  out->dhcp = n->n_cfg.nc_dhcp;
  if (!n->n_have_ip)
    return false;
  memcpy(out->addr, n->n_cfg.nc_ip, 4);
  out->prefix = n->n_cfg.nc_prefix;
  if (n->n_cfg.nc_has_gw)
    memcpy(out->gw, n->n_cfg.nc_gw, 4);
  return true;
}

bool net_address(const struct net *n, uint8_t ip[4], uint8_t *prefix) {
  if (!n->n_have_ip)
    return false;
  memcpy(ip, n->n_cfg.nc_ip, 4);
  *prefix = n->n_cfg.nc_prefix;
  return true;
}

const struct dhcp_client *net_dhcp(const struct net *n) {
  return n->n_cfg.nc_dhcp ? &n->n_dhcp : NULL;
}
