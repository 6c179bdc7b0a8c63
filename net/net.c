/* net/net.c: ARP, ICMP echo reply and UDP echo (port 7) over netvsc.
 *
 * Frames come from the NIC's receive callback (a private copy, valid for
 * the call); every header field is checked against the bytes received
 * before use. Replies go to the peer's MAC from the ARP table: a peer that
 * is not there yet is resolved with an ARP request and the reply waits in
 * its entry (one frame) until the answer comes.
 */
#include "net/inet.h"
#include "net/net.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/cmdline.h"
#include "kernel/log.h"

#define ETH_HLEN 14u
#define ETH_P_IP 0x0800u
#define ETH_P_ARP 0x0806u
#define IP_PROTO_ICMP 1u
#define IP_PROTO_UDP 17u
#define NET_FRAME_MAX (NETVSC_MTU_MAX + 18u)

struct net_arp {
  bool a_used;
  bool a_resolved;
  uint8_t a_ip[4];
  uint8_t a_mac[6];
  /* one reply waiting for the resolution */
  uint32_t a_pend_len;
  struct netvsc_tx_info a_pend_ti;
  uint8_t *a_pend;
};

struct net {
  struct netvsc *n_nv;
  struct net_config n_cfg;
  uint8_t n_mac[6];
  uint32_t n_mtu;
  bool n_link;
  struct net_arp n_arp[NET_ARP_ENTRIES];
  uint32_t n_arp_next;
  struct net_stats n_st;
  uint8_t n_tx[NET_FRAME_MAX];
};

int net_config_parse(struct net_config *cfg, const char *ip) {
  memset(cfg, 0, sizeof(*cfg));
  if (!ip)
    ip = NET_DEFAULT_IP;
  if (cmdline_parse_ipv4_prefix(ip, cfg->nc_ip, &cfg->nc_prefix) != 0 || cfg->nc_prefix > 32)
    return -EINVAL;
  return 0;
}

/* ---- ARP table ----------------------------------------------------------------------- */

static struct net_arp *net_arp_find(struct net *n, const uint8_t ip[4]) {
  for (uint32_t i = 0; i < NET_ARP_ENTRIES; i++)
    if (n->n_arp[i].a_used && !memcmp(n->n_arp[i].a_ip, ip, 4))
      return &n->n_arp[i];
  return NULL;
}

/** An entry for `ip` (the oldest is recycled when full). */
static struct net_arp *net_arp_get(struct net *n, const uint8_t ip[4]) {
  struct net_arp *a = net_arp_find(n, ip);
  if (a)
    return a;
  a = &n->n_arp[n->n_arp_next];
  n->n_arp_next = (n->n_arp_next + 1u) % NET_ARP_ENTRIES;
  free(a->a_pend);
  memset(a, 0, sizeof(*a));
  a->a_used = true;
  memcpy(a->a_ip, ip, 4);
  return a;
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

/** Learn ip -> mac; logs the first contact; sends a reply that waited. */
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
  if (a->a_pend) {
    memcpy(a->a_pend, mac, 6); /* destination MAC of the waiting frame */
    net_send(n, a->a_pend, a->a_pend_len, &a->a_pend_ti);
    free(a->a_pend);
    a->a_pend = NULL;
  }
}

static void net_arp_request(struct net *n, const uint8_t ip[4]) {
  uint8_t f[42];
  memset(f, 0xff, 6);
  memcpy(f + 6, n->n_mac, 6);
  inet_put16(f + 12, ETH_P_ARP);
  inet_put16(f + 14, 1);
  inet_put16(f + 16, ETH_P_IP);
  f[18] = 6;
  f[19] = 4;
  inet_put16(f + 20, 1);
  memcpy(f + 22, n->n_mac, 6);
  memcpy(f + 28, n->n_cfg.nc_ip, 4);
  memset(f + 32, 0, 6);
  memcpy(f + 38, ip, 4);
  n->n_st.arp_resolves_sent++;
  net_send(n, f, sizeof(f), NULL);
}

/** Send an IPv4 frame in n_tx to `ip`: MAC from the table, or resolve. */
static void net_ip_out(struct net *n, const uint8_t ip[4], uint32_t len,
                       const struct netvsc_tx_info *ti) {
  struct net_arp *a = net_arp_find(n, ip);
  if (a && a->a_resolved) {
    memcpy(n->n_tx, a->a_mac, 6);
    net_send(n, n->n_tx, len, ti);
    return;
  }
  a = net_arp_get(n, ip);
  free(a->a_pend);
  a->a_pend = malloc(len);
  if (!a->a_pend) {
    n->n_st.drop_no_arp++;
    return;
  }
  memcpy(a->a_pend, n->n_tx, len);
  a->a_pend_len = len;
  a->a_pend_ti = *ti;
  net_arp_request(n, ip);
}

/* ---- input --------------------------------------------------------------------------- */

static void net_rx_arp(struct net *n, const uint8_t *f, uint32_t len,
                       const struct netvsc_rx_info *ri) {
  if (len < ETH_HLEN + 28u) {
    n->n_st.drop_short++;
    return;
  }
  const uint8_t *a = f + ETH_HLEN;
  if (inet_get16(a) != 1 || inet_get16(a + 2) != ETH_P_IP || a[4] != 6 || a[5] != 4) {
    n->n_st.drop_proto++;
    return;
  }
  uint16_t op = inet_get16(a + 6);
  const uint8_t *sha = a + 8, *spa = a + 14, *tpa = a + 24;
  if (memcmp(tpa, n->n_cfg.nc_ip, 4) != 0) {
    n->n_st.drop_not_ours++;
    return;
  }
  if (op == 1) {
    n->n_st.arp_requests++;
    net_arp_learn(n, spa, sha);
    uint8_t r[42];
    memcpy(r, sha, 6);
    memcpy(r + 6, n->n_mac, 6);
    inet_put16(r + 12, ETH_P_ARP);
    inet_put16(r + 14, 1);
    inet_put16(r + 16, ETH_P_IP);
    r[18] = 6;
    r[19] = 4;
    inet_put16(r + 20, 2);
    memcpy(r + 22, n->n_mac, 6);
    memcpy(r + 28, n->n_cfg.nc_ip, 4);
    memcpy(r + 32, sha, 6);
    memcpy(r + 38, spa, 4);
    n->n_st.arp_replies_sent++;
    struct netvsc_tx_info ti;
    memset(&ti, 0, sizeof(ti));
    ti.ti_vlan = ri->ri_vlan; /* answer on the VLAN it came from */
    ti.ti_vlan_id = ri->ri_vlan_id;
    ti.ti_prio = ri->ri_prio;
    net_send(n, r, sizeof(r), &ti);
  } else if (op == 2) {
    n->n_st.arp_replies_seen++;
    net_arp_learn(n, spa, sha);
  } else {
    n->n_st.drop_proto++;
  }
}

/** Start an IPv4 reply in n_tx: Ethernet + IP header copied from the
 * request with addresses swapped; the checksum is filled or offloaded. */
static void net_ip_reply_hdr(struct net *n, const uint8_t *ip, uint32_t ihl, uint32_t tot,
                             struct netvsc_tx_info *ti) {
  uint8_t *o = n->n_tx + ETH_HLEN;
  memcpy(n->n_tx + 6, n->n_mac, 6);
  inet_put16(n->n_tx + 12, ETH_P_IP);
  memcpy(o, ip, ihl);
  o[0] = (uint8_t)(0x40u | (ihl / 4u));
  inet_put16(o + 2, (uint16_t)tot);
  o[8] = 64; /* TTL */
  memcpy(o + 12, n->n_cfg.nc_ip, 4);
  memcpy(o + 16, ip + 12, 4);
  o[10] = o[11] = 0;
  if (netvsc_offloads(n->n_nv) & NETVSC_OFF_TX_CSUM_IP4)
    ti->ti_csum_ip = true;
  else
    inet_put16(o + 10, inet_csum_fold(inet_csum_add(0, o, ihl)));
}

static void net_rx_ip(struct net *n, const uint8_t *f, uint32_t len,
                      const struct netvsc_rx_info *ri) {
  if (len < ETH_HLEN + 20u) {
    n->n_st.drop_short++;
    return;
  }
  const uint8_t *ip = f + ETH_HLEN;
  uint32_t ihl = (ip[0] & 0xfu) * 4u, tot = inet_get16(ip + 2);
  if ((ip[0] >> 4) != 4 || ihl < 20 || tot < ihl || tot > len - ETH_HLEN) {
    n->n_st.drop_proto++;
    return;
  }
  if (memcmp(ip + 16, n->n_cfg.nc_ip, 4) != 0) {
    n->n_st.drop_not_ours++;
    return;
  }
  if (!ri->ri_csum_ip_ok && inet_csum_fold(inet_csum_add(0, ip, ihl)) != 0) {
    n->n_st.drop_csum++;
    return;
  }
  if ((inet_get16(ip + 6) & 0x3fffu) != 0) { /* fragments: not handled */
    n->n_st.drop_proto++;
    return;
  }
  const uint8_t *l4 = ip + ihl;
  uint32_t l4len = tot - ihl;
  struct netvsc_tx_info ti;
  memset(&ti, 0, sizeof(ti));
  if (ri->ri_vlan) { /* answer on the VLAN it came from */
    ti.ti_vlan = true;
    ti.ti_vlan_id = ri->ri_vlan_id;
    ti.ti_prio = ri->ri_prio;
  }
  uint32_t out = ETH_HLEN + tot;
  if (out > sizeof(n->n_tx)) {
    n->n_st.drop_proto++;
    return;
  }
  if (ip[9] == IP_PROTO_ICMP) {
    if (l4len < 8 || l4[0] != 8 || l4[1] != 0) {
      n->n_st.drop_proto++;
      return;
    }
    if (inet_csum_fold(inet_csum_add(0, l4, l4len)) != 0) {
      n->n_st.drop_csum++;
      return;
    }
    net_ip_reply_hdr(n, ip, ihl, tot, &ti);
    uint8_t *r = n->n_tx + ETH_HLEN + ihl;
    memcpy(r, l4, l4len);
    r[0] = 0; /* echo reply */
    r[2] = r[3] = 0;
    inet_put16(r + 2, inet_csum_fold(inet_csum_add(0, r, l4len)));
    n->n_st.icmp_echo++;
    net_ip_out(n, ip + 12, out, &ti);
    return;
  }
  if (ip[9] == IP_PROTO_UDP) {
    if (l4len < 8 || inet_get16(l4 + 4) < 8 || inet_get16(l4 + 4) > l4len) {
      n->n_st.drop_proto++;
      return;
    }
    uint32_t ulen = inet_get16(l4 + 4);
    if (inet_get16(l4 + 2) != NET_UDP_ECHO_PORT) {
      n->n_st.drop_not_ours++;
      return;
    }
    if (!ri->ri_csum_l4_ok && inet_get16(l4 + 6) != 0) {
      uint32_t s = inet_csum_add(0, ip + 12, 8) + IP_PROTO_UDP + ulen;
      if (inet_csum_fold(inet_csum_add(s, l4, ulen)) != 0) {
        n->n_st.drop_csum++;
        return;
      }
    }
    tot = ihl + ulen;
    out = ETH_HLEN + tot;
    net_ip_reply_hdr(n, ip, ihl, tot, &ti);
    uint8_t *o = n->n_tx + ETH_HLEN;
    uint8_t *u = o + ihl;
    memcpy(u, l4, ulen);
    inet_put16(u, inet_get16(l4 + 2));
    inet_put16(u + 2, inet_get16(l4));
    u[6] = u[7] = 0;
    if (netvsc_offloads(n->n_nv) & NETVSC_OFF_TX_CSUM_UDP4) {
      ti.ti_csum_udp = true;
      ti.ti_l4_off = (uint16_t)(ETH_HLEN + ihl);
    } else {
      uint32_t s = inet_csum_add(0, o + 12, 8) + IP_PROTO_UDP + ulen;
      uint16_t c = inet_csum_fold(inet_csum_add(s, u, ulen));
      inet_put16(u + 6, c ? c : 0xffff);
    }
    n->n_st.udp_echo++;
    net_ip_out(n, ip + 12, out, &ti);
    return;
  }
  n->n_st.drop_proto++;
}

static void net_rx(void *arg, const uint8_t *f, uint32_t len, const struct netvsc_rx_info *ri) {
  struct net *n = arg;
  n->n_st.rx_frames++;
  if (len < ETH_HLEN) {
    n->n_st.drop_short++;
    return;
  }
  static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  if (memcmp(f, n->n_mac, 6) != 0 && memcmp(f, bcast, 6) != 0) {
    n->n_st.drop_not_ours++;
    return;
  }
  uint16_t et = inet_get16(f + 12);
  if (et == ETH_P_ARP)
    net_rx_arp(n, f, len, ri);
  else if (et == ETH_P_IP)
    net_rx_ip(n, f, len, ri);
  else
    n->n_st.drop_proto++;
}

static void net_link(void *arg, bool up) {
  struct net *n = arg;
  n->n_link = up;
  pr_info("net: link %s\n", up ? "up" : "down");
}

struct net *net_attach(struct netvsc *nv, const struct net_config *cfg) {
  struct net *n = calloc(1, sizeof(*n));
  if (!n)
    return NULL;
  n->n_nv = nv;
  n->n_cfg = *cfg;
  netvsc_mac(nv, n->n_mac);
  n->n_mtu = netvsc_mtu(nv);
  n->n_link = netvsc_link_up(nv);
  netvsc_set_receiver(nv, net_rx, net_link, n);
  pr_info("net: %u.%u.%u.%u/%u on %02x:%02x:%02x:%02x:%02x:%02x\n", cfg->nc_ip[0], cfg->nc_ip[1],
          cfg->nc_ip[2], cfg->nc_ip[3], cfg->nc_prefix, n->n_mac[0], n->n_mac[1], n->n_mac[2],
          n->n_mac[3], n->n_mac[4], n->n_mac[5]);
  return n;
}

void net_detach(struct net *n) {
  if (!n)
    return;
  if (n->n_nv)
    netvsc_set_receiver(n->n_nv, NULL, NULL, NULL);
  for (uint32_t i = 0; i < NET_ARP_ENTRIES; i++)
    free(n->n_arp[i].a_pend);
  free(n);
}

const struct net_stats *net_stats(const struct net *n) { return &n->n_st; }
bool net_link_up(const struct net *n) { return n->n_link; }

bool net_ipv4_info(const struct net *n, struct net_ipv4_info *out) {
  memset(out, 0, sizeof(*out));
  memcpy(out->addr, n->n_cfg.nc_ip, 4);
  out->prefix = n->n_cfg.nc_prefix;
  return (out->addr[0] | out->addr[1] | out->addr[2] | out->addr[3]) != 0;
}
