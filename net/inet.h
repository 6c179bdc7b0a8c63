/* net/inet.h: big-endian field access and the Internet checksum (RFC 1071),
 * shared by the guest's stack (net/) and the host's NetVSP device and
 * built-in peer (host/), which build and check the same frames. */
#ifndef NET_INET_H
#define NET_INET_H

#include <stdint.h>

static inline uint16_t inet_get16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

static inline void inet_put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
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

#endif
