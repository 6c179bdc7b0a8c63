/* host/netpeer.c: the built-in network peer: ARP, ICMP echo requests and
 * UDP echo datagrams with checked replies, as a NetVSP back end. */
#include "net/inet.h"
#include "host/netpeer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/log.h"

#define NP_FRAME_MAX (NETVSP_MTU_MAX + 18u)
#define NP_ICMP_ID 0x4e50u /* "NP" */

struct netpeer {
  uint8_t p_ip[4], p_mac[6], p_gip[4], p_gmac[6];
  bool p_resolved;
  uint16_t p_vlan;
  bool p_corrupt_udp;
  struct netvsp *p_dev;
  struct netpeer_stats p_st;
  uint8_t p_f[NP_FRAME_MAX];
};

static uint8_t pattern(uint32_t key, uint32_t i) { return (uint8_t)(key * 31u + i * 7u + 1u); }

struct netpeer *netpeer_create(const uint8_t ip[4], const uint8_t mac[6], const uint8_t gip[4]) {
  static const uint8_t dip[4] = {192, 0, 2, 1}, dgip[4] = {192, 0, 2, 2};
  static const uint8_t dmac[6] = {0x00, 0x15, 0x5d, 0x00, 0x00, 0x01};
  static const uint8_t nic[6] = {0x00, 0x15, 0x5d, 0x00, 0x00, 0x02};
  struct netpeer *p = calloc(1, sizeof(*p));
  if (!p)
    return NULL;
  memcpy(p->p_ip, ip ? ip : dip, 4);
  memcpy(p->p_mac, mac ? mac : dmac, 6);
  memcpy(p->p_gip, gip ? gip : dgip, 4);
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

/** Ethernet header (+ tag) into p_f; returns the payload offset. */
static uint32_t np_eth(struct netpeer *p, const uint8_t dst[6], uint16_t type) {
  memcpy(p->p_f, dst, 6);
  memcpy(p->p_f + 6, p->p_mac, 6);
  uint32_t o = 12;
  if (p->p_vlan) {
    inet_put16(p->p_f + 12, 0x8100);
    inet_put16(p->p_f + 14, p->p_vlan);
    o = 16;
  }
  inet_put16(p->p_f + o, type);
  return o + 2;
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
  static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  uint32_t o = np_eth(p, op == 1 ? bcast : tha, 0x0806);
  uint8_t *a = p->p_f + o;
  inet_put16(a, 1);
  inet_put16(a + 2, 0x0800);
  a[4] = 6;
  a[5] = 4;
  inet_put16(a + 6, op);
  memcpy(a + 8, p->p_mac, 6);
  memcpy(a + 14, p->p_ip, 4);
  if (op == 1)
    memset(a + 18, 0, 6);
  else
    memcpy(a + 18, tha, 6);
  memcpy(a + 24, tpa, 4);
  return o + 28;
}

int netpeer_arp_resolve(struct netpeer *p) {
  uint32_t len = np_arp(p, 1, NULL, p->p_gip);
  p->p_st.arp_requests_sent++;
  return np_send(p, len);
}

/** IPv4 header at p_f + o for `l4len` bytes of protocol `proto`. */
static uint32_t np_ip(struct netpeer *p, uint32_t o, uint8_t proto, uint32_t l4len, uint16_t id) {
  uint8_t *ip = p->p_f + o;
  memset(ip, 0, 20);
  ip[0] = 0x45;
  inet_put16(ip + 2, (uint16_t)(20u + l4len));
  inet_put16(ip + 4, id);
  ip[8] = 64;
  ip[9] = proto;
  memcpy(ip + 12, p->p_ip, 4);
  memcpy(ip + 16, p->p_gip, 4);
  inet_put16(ip + 10, inet_csum_fold(inet_csum_add(0, ip, 20)));
  return o + 20;
}

int netpeer_ping(struct netpeer *p, uint16_t seq, uint32_t payload) {
  uint32_t o = np_eth(p, p->p_gmac, 0x0800);
  if (payload > NP_FRAME_MAX - o - 28u)
    return -EMSGSIZE;
  o = np_ip(p, o, 1, 8u + payload, seq);
  uint8_t *ic = p->p_f + o;
  ic[0] = 8;
  ic[1] = 0;
  inet_put16(ic + 2, 0);
  inet_put16(ic + 4, NP_ICMP_ID);
  inet_put16(ic + 6, seq);
  for (uint32_t i = 0; i < payload; i++)
    ic[8 + i] = pattern(seq, i);
  inet_put16(ic + 2, inet_csum_fold(inet_csum_add(0, ic, 8u + payload)));
  p->p_st.echo_sent++;
  return np_send(p, o + 8u + payload);
}

int netpeer_udp(struct netpeer *p, uint16_t sport, uint32_t payload) {
  uint32_t o = np_eth(p, p->p_gmac, 0x0800);
  if (payload > NP_FRAME_MAX - o - 28u)
    return -EMSGSIZE;
  uint32_t ipo = o;
  o = np_ip(p, o, 17, 8u + payload, sport);
  uint8_t *u = p->p_f + o;
  inet_put16(u, sport);
  inet_put16(u + 2, 7);
  inet_put16(u + 4, (uint16_t)(8u + payload));
  inet_put16(u + 6, 0);
  for (uint32_t i = 0; i < payload; i++)
    u[8 + i] = pattern(sport + payload, i);
  uint32_t s = inet_csum_add(0, p->p_f + ipo + 12, 8) + 17u + 8u + payload;
  uint16_t c = inet_csum_fold(inet_csum_add(s, u, 8u + payload));
  inet_put16(u + 6, c ? c : 0xffff);
  if (p->p_corrupt_udp) {
    p->p_corrupt_udp = false;
    u[6] ^= 0x5a;
  }
  p->p_st.udp_sent++;
  return np_send(p, o + 8u + payload);
}

/* ---- replies ------------------------------------------------------------------------- */

static void np_rx_ip(struct netpeer *p, const uint8_t *ip, uint32_t len) {
  uint32_t ihl = (ip[0] & 0xfu) * 4u;
  if (len < 20 || (ip[0] >> 4) != 4 || ihl < 20 || inet_get16(ip + 2) < ihl ||
      inet_get16(ip + 2) > len || inet_csum_fold(inet_csum_add(0, ip, ihl)) != 0 ||
      memcmp(ip + 12, p->p_gip, 4) || memcmp(ip + 16, p->p_ip, 4)) {
    p->p_st.rx_other++;
    return;
  }
  uint32_t tot = inet_get16(ip + 2);
  const uint8_t *l4 = ip + ihl;
  uint32_t l4len = tot - ihl;
  if (ip[9] == 1) {
    bool ok = l4len >= 8 && l4[0] == 0 && inet_csum_fold(inet_csum_add(0, l4, l4len)) == 0 &&
              inet_get16(l4 + 4) == NP_ICMP_ID;
    for (uint32_t i = 8; ok && i < l4len; i++)
      ok = l4[i] == pattern(inet_get16(l4 + 6), i - 8u);
    if (ok)
      p->p_st.echo_ok++;
    else
      p->p_st.echo_bad++;
    return;
  }
  if (ip[9] == 17) {
    bool ok = l4len >= 8 && inet_get16(l4) == 7 && inet_get16(l4 + 4) == l4len;
    if (ok && inet_get16(l4 + 6) != 0) {
      uint32_t s = inet_csum_add(0, ip + 12, 8) + 17u + l4len;
      ok = inet_csum_fold(inet_csum_add(s, l4, l4len)) == 0;
    }
    uint32_t n = l4len >= 8 ? l4len - 8u : 0;
    uint16_t sport = l4len >= 8 ? inet_get16(l4 + 2) : 0;
    for (uint32_t i = 0; ok && i < n; i++)
      ok = l4[8 + i] == pattern(sport + n, i);
    if (ok)
      p->p_st.udp_ok++;
    else
      p->p_st.udp_bad++;
    return;
  }
  p->p_st.rx_other++;
}

static void np_tx(void *ctx, const uint8_t *f, uint32_t len) {
  struct netpeer *p = ctx;
  p->p_st.rx_frames++;
  if (len < 14) {
    p->p_st.rx_other++;
    return;
  }
  uint32_t o = 12;
  uint16_t et = inet_get16(f + 12);
  if (et == 0x8100 && len >= 18) {
    if ((inet_get16(f + 14) & 0xfffu) == p->p_vlan && p->p_vlan)
      p->p_st.rx_vlan++;
    o = 16;
    et = inet_get16(f + 16);
  }
  o += 2;
  if (et == 0x0806 && len - o >= 28) {
    const uint8_t *a = f + o;
    uint16_t op = inet_get16(a + 6);
    if (op == 2 && !memcmp(a + 14, p->p_gip, 4)) {
      memcpy(p->p_gmac, a + 8, 6);
      p->p_resolved = true;
      p->p_st.arp_replies_seen++;
    } else if (op == 1 && !memcmp(a + 24, p->p_ip, 4)) {
      uint8_t sha[6], spa[4];
      memcpy(sha, a + 8, 6);
      memcpy(spa, a + 14, 4);
      p->p_st.arp_requests_answered++;
      np_send(p, np_arp(p, 2, sha, spa));
    } else {
      p->p_st.rx_other++;
    }
    return;
  }
  if (et == 0x0800 && memcmp(f, p->p_mac, 6) == 0) {
    np_rx_ip(p, f + o, len - o);
    return;
  }
  p->p_st.rx_other++;
}

struct netvsp_backend netpeer_backend(struct netpeer *p) {
  struct netvsp_backend be = {np_tx, p};
  return be;
}
