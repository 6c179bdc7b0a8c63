/* tests/unit/lib/le_bytes.h: little-endian reads and writes of 16, 32 and
 * 64-bit fields at any byte address, for the tests that build or check wire
 * bytes by hand (ACPI tables, ring packets, pcap records). Byte by byte, so
 * they hold on any host and at any alignment. */
#ifndef TESTS_UNIT_LIB_LE_BYTES_H
#define TESTS_UNIT_LIB_LE_BYTES_H

#include <stddef.h>
#include <stdint.h>

/* The n-byte (n <= 8) little-endian value at p. */
static inline uint64_t le_get(const uint8_t *p, size_t n) {
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;)
    v = v << 8 | p[i];
  return v;
}

/* Writes the low n bytes (n <= 8) of v at p, little-endian. */
static inline void le_put(uint8_t *p, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; i++, v >>= 8)
    p[i] = (uint8_t)v;
}

static inline uint16_t get16(const uint8_t *p) { return (uint16_t)le_get(p, 2); }
static inline uint32_t get32(const uint8_t *p) { return (uint32_t)le_get(p, 4); }
static inline uint64_t get64(const uint8_t *p) { return le_get(p, 8); }
static inline void put16(uint8_t *p, uint16_t v) { le_put(p, v, 2); }
static inline void put32(uint8_t *p, uint32_t v) { le_put(p, v, 4); }
static inline void put64(uint8_t *p, uint64_t v) { le_put(p, v, 8); }

#endif
