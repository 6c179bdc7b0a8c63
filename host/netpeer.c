/* host/netpeer.c: the built-in network peer: ARP, ICMP echo requests and
 * UDP echo datagrams with checked replies, and in switch mode the router
 * and DHCP server of the guest's subnet, as a NetVSP back end. */
#include "net/inet.h"
#include "host/netpeer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "host/dhcpsrv.h"
#include "kernel/log.h"
#include "net/wire.h"

#define NP_FRAME_MAX (NETVSP_MTU_MAX + ETH_VLAN_HLEN)
#define NP_ICMP_ID 0x4e50u /* "NP" */
#define NP_DHCP_MAX 576u   /* the server's answers */

struct netpeer {
  uint8_t p_ip[4];     /* source of our requests */
  uint8_t p_arp_ip[4]; /* the address we answer ARP for (= p_ip, or the router) */
  uint8_t p_mac[6], p_gip[4], p_gmac[6];
  bool p_gip_known;
  bool p_resolved;
  bool p_have_src;
  uint8_t p_src[4]; /* the guest's last source address */
  uint16_t p_vlan;
  bool p_corrupt_udp;
  struct dhcpsrv *p_dhcp;
  struct netvsp *p_dev;
  struct netpeer_stats p_st;
  uint8_t p_f[NP_FRAME_MAX];
};

static const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

static uint8_t pattern(uint32_t key, uint32_t i) { return (uint8_t)(key * 31u + i * 7u + 1u); }

struct netpeer *netpeer_create(const uint8_t ip[4], const uint8_t mac[6], const uint8_t gip[4]) {
  static const uint8_t dip[4] = {192, 0, 2, 1}, dgip[4] = {192, 0, 2, 2};
  static const uint8_t dmac[6] = {0x00, 0x15, 0x5d, 0x00, 0x00, 0x01};
  static const uint8_t nic[6] = {0x00, 0x15, 0x5d, 0x00, 0x00, 0x02};
  struct netpeer *p = calloc(1, sizeof(*p));
  if (!p)
    return NULL;
  memcpy(p->p_ip, ip ? ip : dip, 4);
  memcpy(p->p_arp_ip, p->p_ip, 4);
  memcpy(p->p_mac, mac ? mac : dmac, 6);
  memcpy(p->p_gip, gip ? gip : dgip, 4);
  p->p_gip_known = true;
  memcpy(p->p_gmac, nic, 6);
  return p;
}

void netpeer_destroy(struct netpeer *p) { free(p); }
void netpeer_attach(struct netpeer *p, struct netvsp *dev) { p->p_dev = dev; }
bool netpeer_guest_resolved(const struct netpeer *p) { return p->p_resolved; }
void netpeer_set_guest_mac(struct netpeer *p, const uint8_t mac[6]) { memcpy(p->p_gmac, mac, 6); }
void netpeer_set_vlan(struct netpeer *p, uint16_t vid) { p->p_vlan = vid & 0xfffu; }
void netpeer_corrupt_next_udp(struct netpeer *p) { p->p_corrupt_udp = true; }
const struct netpeer_stats *netpeer_stats(const struct netpeer *p) { return &p->p_st; }
bool netpeer_guest_known(const struct netpeer *p) { return p->p_gip_known; }

void netpeer_set_guest_ip(struct netpeer *p, const uint8_t ip[4]) {
  memcpy(p->p_gip, ip, 4);
  p->p_gip_known = true;
  p->p_resolved = false;
}

void netpeer_set_switch(struct netpeer *p, const uint8_t router[4], struct dhcpsrv *srv,
                        const uint8_t remote[4]) {
  memcpy(p->p_arp_ip, router, 4);
  memcpy(p->p_ip, remote, 4);
  p->p_dhcp = srv;
  p->p_gip_known = false;
  p->p_resolved = false;
}

bool netpeer_guest_ip(const struct netpeer *p, uint8_t ip[4]) {
  if (p->p_have_src)
    memcpy(ip, p->p_src, 4);
  return p->p_have_src;
}

/** Ethernet header (+ tag) into p_f; returns the payload offset. */
static uint32_t np_eth(struct netpeer *p, const uint8_t dst[6], uint16_t type) {
  if (p->p_vlan) {
    struct eth_vlan_hdr *v = (struct eth_vlan_hdr *)p->p_f;
    memcpy(v->ev_dst, dst, 6);
    memcpy(v->ev_src, p->p_mac, 6);
    inet_put16(v->ev_tpid, ETH_P_8021Q);
    inet_put16(v->ev_tci, p->p_vlan);
    inet_put16(v->ev_type, type);
    return ETH_VLAN_HLEN;
  }
  struct eth_hdr *e = (struct eth_hdr *)p->p_f;
  memcpy(e->eh_dst, dst, 6);
  memcpy(e->eh_src, p->p_mac, 6);
  inet_put16(e->eh_type, type);
  return ETH_HLEN;
}

static int np_send(struct netpeer *p, uint32_t len) {
  if (!p->p_dev)
    return -ENODEV;
  int rc = netvsp_rx_frame(p->p_dev, p->p_f, len);
  if (rc) {
    p->p_st.tx_refused++;
    return rc;
  }
  p->p_st.tx_frames++;
  return 0;
}

static uint32_t np_arp(struct netpeer *p, uint16_t op, const uint8_t tha[6], const uint8_t tpa[4]) {
  uint32_t o = np_eth(p, op == ARP_OP_REQUEST ? bcast_mac : tha, ETH_P_ARP);
  struct arp_pkt *a = (struct arp_pkt *)(p->p_f + o);
  inet_arp_fill(a, op, p->p_mac, p->p_arp_ip, op == ARP_OP_REQUEST ? NULL : tha, tpa);
  return o + (uint32_t)sizeof(*a);
}

int netpeer_arp_resolve(struct netpeer *p) {
  uint32_t len = np_arp(p, ARP_OP_REQUEST, NULL, p->p_gip);
  p->p_st.arp_requests_sent++;
  return np_send(p, len);
}

/** IPv4 header at p_f + o for `l4len` bytes of protocol `proto`. */
static uint32_t np_ip(struct netpeer *p, uint32_t o, uint8_t proto, uint32_t l4len, uint16_t id,
                      const uint8_t src[4], const uint8_t dst[4]) {
  struct ipv4_hdr *ip = (struct ipv4_hdr *)(p->p_f + o);
  memset(ip, 0, sizeof(*ip));
  ip->ih_vhl = IPV4_VHL_NOOPT;
  inet_put16(ip->ih_len, (uint16_t)(IPV4_HLEN + l4len));
  inet_put16(ip->ih_id, id);
  ip->ih_ttl = IPV4_DEFAULT_TTL;
  ip->ih_proto = proto;
  memcpy(ip->ih_src, src, 4);
  memcpy(ip->ih_dst, dst, 4);
  inet_put16(ip->ih_csum, inet_csum_fold(inet_csum_add(0, (uint8_t *)ip, IPV4_HLEN)));
  return o + IPV4_HLEN;
}

/** UDP checksum over the datagram at `u` of the IPv4 header at `ip`. */
static uint16_t np_udp_csum(const uint8_t *ip, const uint8_t *u, uint32_t ulen) {
  const struct ipv4_hdr *ih = (const struct ipv4_hdr *)ip;
  uint16_t c = inet_udp4_csum(ih, u, ulen);
  return c ? c : 0xffff;
}

int netpeer_ping(struct netpeer *p, uint16_t seq, uint32_t payload) {
  uint32_t o = np_eth(p, p->p_gmac, ETH_P_IP);
  if (payload > NP_FRAME_MAX - o - IPV4_HLEN - sizeof(struct icmp_echo))
    return -EMSGSIZE;
  o = np_ip(p, o, IP_PROTO_ICMP, ICMP_ECHO_HLEN + payload, seq, p->p_ip, p->p_gip);
  struct icmp_echo *ic = (struct icmp_echo *)(p->p_f + o);
  ic->ic_type = ICMP_ECHO_REQUEST;
  ic->ic_code = 0;
  inet_put16(ic->ic_csum, 0);
  inet_put16(ic->ic_id, NP_ICMP_ID);
  inet_put16(ic->ic_seq, seq);
  uint8_t *data = p->p_f + o + sizeof(*ic);
  for (uint32_t i = 0; i < payload; i++)
    data[i] = pattern(seq, i);
  inet_put16(ic->ic_csum,
             inet_csum_fold(inet_csum_add(0, (uint8_t *)ic, ICMP_ECHO_HLEN + payload)));
  p->p_st.echo_sent++;
  return np_send(p, o + ICMP_ECHO_HLEN + payload);
}

int netpeer_udp(struct netpeer *p, uint16_t sport, uint32_t payload) {
  uint32_t o = np_eth(p, p->p_gmac, ETH_P_IP);
  if (payload > NP_FRAME_MAX - o - IPV4_HLEN - UDP_HLEN)
    return -EMSGSIZE;
  uint32_t ipo = o;
  o = np_ip(p, o, IP_PROTO_UDP, UDP_HLEN + payload, sport, p->p_ip, p->p_gip);
  struct udp_hdr *u = (struct udp_hdr *)(p->p_f + o);
  inet_put16(u->uh_sport, sport);
  inet_put16(u->uh_dport, 7);
  inet_put16(u->uh_len, (uint16_t)(UDP_HLEN + payload));
  inet_put16(u->uh_csum, 0);
  uint8_t *data = p->p_f + o + UDP_HLEN;
  for (uint32_t i = 0; i < payload; i++)
    data[i] = pattern(sport + payload, i);
  inet_put16(u->uh_csum, np_udp_csum(p->p_f + ipo, (uint8_t *)u, UDP_HLEN + payload));
  if (p->p_corrupt_udp) {
    p->p_corrupt_udp = false;
    u->uh_csum[0] ^= 0x5a;
  }
  p->p_st.udp_sent++;
  return np_send(p, o + UDP_HLEN + payload);
}

/* ---- the DHCP server's framing ------------------------------------------------------- */

static void np_dhcp(struct netpeer *p, const uint8_t *ip, const uint8_t *u, uint32_t ulen,
                    const uint8_t guest_mac[6]) {
  const struct ipv4_hdr *ih = (const struct ipv4_hdr *)ip;
  static const uint8_t all[4] = {255, 255, 255, 255};
  p->p_st.dhcp_in++;
  uint8_t reply[NP_DHCP_MAX], dst[4];
  bool bcast = true;
  uint32_t n = dhcpsrv_handle(p->p_dhcp, u + UDP_HLEN, ulen - UDP_HLEN,
                              memcmp(ih->ih_dst, all, 4) == 0, reply, sizeof(reply), dst, &bcast);
  if (!n)
    return;
  const struct dhcp_msg *r = (const struct dhcp_msg *)reply;
  uint8_t router[4];
  dhcpsrv_router(p->p_dhcp, router);
  uint32_t o = np_eth(p, bcast ? bcast_mac : guest_mac, ETH_P_IP);
  uint32_t ipo = o;
  o = np_ip(p, o, IP_PROTO_UDP, UDP_HLEN + n, 0, router, dst);
  struct udp_hdr *uh = (struct udp_hdr *)(p->p_f + o);
  inet_put16(uh->uh_sport, DHCP_SERVER_PORT);
  inet_put16(uh->uh_dport, DHCP_CLIENT_PORT);
  inet_put16(uh->uh_len, (uint16_t)(UDP_HLEN + n));
  inet_put16(uh->uh_csum, 0);
  memcpy(p->p_f + o + UDP_HLEN, reply, n);
  inet_put16(uh->uh_csum, np_udp_csum(p->p_f + ipo, (uint8_t *)uh, UDP_HLEN + n));
  uint8_t last[4];
  if (dhcpsrv_last_lease(p->p_dhcp, last) && memcmp(last, r->dm_yiaddr, 4) == 0) {
    memcpy(p->p_gip, last, 4); /* an ACK: the guest's address from now on */
    p->p_gip_known = true;
  }
  p->p_st.dhcp_out++;
  np_send(p, o + UDP_HLEN + n);
}

/* ---- replies ------------------------------------------------------------------------- */

static void np_rx_ip(struct netpeer *p, const uint8_t *ip, uint32_t len) {
  const struct ipv4_hdr *ih = (const struct ipv4_hdr *)ip;
  if (len < IPV4_HLEN) { /* before any header byte is read */
    p->p_st.rx_other++;
    return;
  }
  uint32_t ihl = inet_ipv4_hlen(ih);
  if (inet_ipv4_version(ih) != IPV4_VERSION || ihl < IPV4_HLEN || inet_get16(ih->ih_len) < ihl ||
      inet_get16(ih->ih_len) > len || inet_csum_fold(inet_csum_add(0, ip, ihl)) != 0 ||
      memcmp(ih->ih_src, p->p_gip, 4) || memcmp(ih->ih_dst, p->p_ip, 4)) {
    p->p_st.rx_other++;
    return;
  }
  uint32_t tot = inet_get16(ih->ih_len);
  const uint8_t *l4 = ip + ihl;
  uint32_t l4len = tot - ihl;
  if (ih->ih_proto == IP_PROTO_ICMP) {
    const struct icmp_echo *ic = (const struct icmp_echo *)l4;
    bool ok = l4len >= sizeof(*ic) && ic->ic_type == ICMP_ECHO_REPLY &&
              inet_csum_fold(inet_csum_add(0, l4, l4len)) == 0 &&
              inet_get16(ic->ic_id) == NP_ICMP_ID;
    for (uint32_t i = ICMP_ECHO_HLEN; ok && i < l4len; i++)
      ok = l4[i] == pattern(inet_get16(ic->ic_seq), i - ICMP_ECHO_HLEN);
    if (ok)
      p->p_st.echo_ok++;
    else
      p->p_st.echo_bad++;
    return;
  }
  if (ih->ih_proto == IP_PROTO_UDP) {
    const struct udp_hdr *u = (const struct udp_hdr *)l4;
    bool ok = l4len >= UDP_HLEN && inet_get16(u->uh_sport) == 7 && inet_get16(u->uh_len) == l4len;
    if (ok && inet_get16(u->uh_csum) != 0)
      ok = inet_udp4_csum(ih, l4, l4len) == 0;
    uint32_t n = l4len >= UDP_HLEN ? l4len - UDP_HLEN : 0;
    uint16_t sport = l4len >= UDP_HLEN ? inet_get16(u->uh_dport) : 0;
    for (uint32_t i = 0; ok && i < n; i++)
      ok = l4[UDP_HLEN + i] == pattern(sport + n, i);
    if (ok)
      p->p_st.udp_ok++;
    else
      p->p_st.udp_bad++;
    return;
  }
  p->p_st.rx_other++;
}

static void np_note_src(struct netpeer *p, const uint8_t src[4]) {
  if (src[0] == 0)
    return;
  memcpy(p->p_src, src, 4);
  p->p_have_src = true;
  if (!p->p_gip_known) { /* a static guest announced itself */
    memcpy(p->p_gip, src, 4);
    p->p_gip_known = true;
  }
}

static void np_rx_arp(struct netpeer *p, const uint8_t *a8, uint32_t len) {
  if (len < sizeof(struct arp_pkt)) {
    p->p_st.rx_other++;
    return;
  }
  const struct arp_pkt *a = (const struct arp_pkt *)a8;
  uint16_t op = inet_get16(a->ar_op);
  np_note_src(p, a->ar_spa);
  if (op == ARP_OP_REQUEST && !memcmp(a->ar_spa, a->ar_tpa, 4)) {
    p->p_st.garp_seen++;
    return;
  }
  if (op == ARP_OP_REPLY && !memcmp(a->ar_spa, p->p_gip, 4)) {
    memcpy(p->p_gmac, a->ar_sha, 6);
    p->p_resolved = true;
    p->p_st.arp_replies_seen++;
  } else if (op == ARP_OP_REQUEST && !memcmp(a->ar_tpa, p->p_arp_ip, 4)) {
    uint8_t sha[6], spa[4];
    memcpy(sha, a->ar_sha, 6);
    memcpy(spa, a->ar_spa, 4);
    p->p_st.arp_requests_answered++;
    np_send(p, np_arp(p, ARP_OP_REPLY, sha, spa));
  } else {
    p->p_st.rx_other++;
  }
}

static void np_tx(void *ctx, const uint8_t *f, uint32_t len) {
  struct netpeer *p = ctx;
  p->p_st.rx_frames++;
  if (len < ETH_HLEN) {
    p->p_st.rx_other++;
    return;
  }
  const struct eth_hdr *e = (const struct eth_hdr *)f;
  uint32_t o = ETH_HLEN;
  uint16_t et = inet_get16(e->eh_type);
  if (et == ETH_P_8021Q && len >= ETH_VLAN_HLEN) {
    const struct eth_vlan_hdr *v = (const struct eth_vlan_hdr *)f;
    if ((inet_get16(v->ev_tci) & 0xfffu) == p->p_vlan && p->p_vlan)
      p->p_st.rx_vlan++;
    o = ETH_VLAN_HLEN;
    et = inet_get16(v->ev_type);
  }
  if (et == ETH_P_ARP) {
    np_rx_arp(p, f + o, len - o);
    return;
  }
  if (et == ETH_P_IP && len - o >= IPV4_HLEN) {
    const struct ipv4_hdr *ih = (const struct ipv4_hdr *)(f + o);
    uint32_t ihl = inet_ipv4_hlen(ih), tot = inet_get16(ih->ih_len);
    np_note_src(p, ih->ih_src);
    if (p->p_dhcp && ih->ih_proto == IP_PROTO_UDP && ihl >= IPV4_HLEN && tot >= ihl + UDP_HLEN &&
        tot <= len - o) {
      const struct udp_hdr *u = (const struct udp_hdr *)(f + o + ihl);
      uint32_t ulen = inet_get16(u->uh_len);
      if (inet_get16(u->uh_dport) == DHCP_SERVER_PORT && ulen >= UDP_HLEN && ulen <= tot - ihl) {
        uint8_t src_mac[6];
        memcpy(src_mac, e->eh_src, 6);
        np_dhcp(p, f + o, f + o + ihl, ulen, src_mac);
        return;
      }
    }
  }
  if (et == ETH_P_IP && memcmp(e->eh_dst, p->p_mac, 6) == 0) {
    np_rx_ip(p, f + o, len - o);
    return;
  }
  p->p_st.rx_other++;
}

struct netvsp_backend netpeer_backend(struct netpeer *p) {
  struct netvsp_backend be = {np_tx, p};
  return be;
}
