/* drivers/ic/ic_utf16.c: the UTF-16LE strings of IC messages (ic_utf16.h). */
#include "drivers/ic/ic_utf16.h"

#include <string.h>

uint32_t ic_utf16_put(uint8_t *dst, uint32_t units, const char *src) {
  uint32_t n = 0;
  if (!units)
    return 0;
  for (; src[n] && n + 1 < units; n++) {
    dst[2 * n] = (uint8_t)src[n];
    dst[2 * n + 1] = 0;
  }
  dst[2 * n] = dst[2 * n + 1] = 0;
  return n + 1;
}

void ic_utf16_get(char *dst, uint32_t cap, const uint8_t *src, uint32_t units) {
  uint32_t n = 0;
  for (; n < units && n + 1 < cap; n++) {
    uint16_t c = (uint16_t)(src[2 * n] | src[2 * n + 1] << 8);
    if (!c)
      break;
    dst[n] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
  }
  dst[n] = 0;
}
