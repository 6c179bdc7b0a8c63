/* net/inet.h: big-endian field access and the Internet checksum (RFC 1071),
 * shared by the guest's stack (net/) and the host's NetVSP device and
 * built-in peer (host/), which build and check the same frames; and the
 * ARP packet writer both use. */
#ifndef NET_INET_H
#define NET_INET_H

#include <stdint.h>
#include <string.h>

#include "net/wire.h"

static inline uint16_t inet_get16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

static inline void inet_put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static inline uint32_t inet_get32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void inet_put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/** Add `len` bytes as big-endian 16-bit words to a running sum (an odd last
 * byte is padded with zero). */
static inline uint32_t inet_csum_add(uint32_t sum, const uint8_t *p, uint32_t len) {
  for (uint32_t i = 0; i + 1 < len; i += 2)
    sum += (uint32_t)((p[i] << 8) | p[i + 1]);
  if (len & 1u)
    sum += (uint32_t)(p[len - 1] << 8);
  return sum;
}

/** Fold the carries and complement: the checksum field's value. */
static inline uint16_t inet_csum_fold(uint32_t sum) {
  while (sum >> 16)
    sum = (sum & 0xffffu) + (sum >> 16);
  return (uint16_t)~sum;
}

/** An IPv4 header's version (4 for IPv4) and its length in bytes (20 to 60),
 * from ih_vhl; the caller checks both against what it received. */
static inline uint32_t inet_ipv4_version(const struct ipv4_hdr *ih) { return ih->ih_vhl >> 4; }
static inline uint32_t inet_ipv4_hlen(const struct ipv4_hdr *ih) {
  return (ih->ih_vhl & 0xfu) * 4u;
}

/** The UDP checksum (RFC 768) over the IPv4 pseudo-header of `ih` (source,
 * destination, protocol, the UDP length `ulen`) and the `ulen` bytes of UDP
 * header and data at `udp`, folded. A received datagram is intact when this
 * is 0 (its checksum field included); a sender computes it with the field
 * zeroed and writes 0 as 0xffff (0 on the wire means "no checksum"). */
static inline uint16_t inet_udp4_csum(const struct ipv4_hdr *ih, const uint8_t *udp,
                                      uint32_t ulen) {
  uint32_t s = inet_csum_add(0, ih->ih_src, sizeof(ih->ih_src));
  s = inet_csum_add(s, ih->ih_dst, sizeof(ih->ih_dst)) + IP_PROTO_UDP + ulen;
  return inet_csum_fold(inet_csum_add(s, udp, ulen));
}

/** Fill an Ethernet/IPv4 ARP packet (RFC 826): operation `op` from
 * `sha`/`spa` to `tha`/`tpa`; `tha` NULL writes zeros (a request). */
static inline void inet_arp_fill(struct arp_pkt *a, uint16_t op, const uint8_t sha[6],
                                 const uint8_t spa[4], const uint8_t *tha, const uint8_t tpa[4]) {
  inet_put16(a->ar_hrd, ARP_HRD_ETHER);
  inet_put16(a->ar_pro, ETH_P_IP);
  a->ar_hln = 6;
  a->ar_pln = 4;
  inet_put16(a->ar_op, op);
  memcpy(a->ar_sha, sha, 6);
  memcpy(a->ar_spa, spa, 4);
  if (tha)
    memcpy(a->ar_tha, tha, 6);
  else
    memset(a->ar_tha, 0, 6);
  memcpy(a->ar_tpa, tpa, 4);
}

#endif
