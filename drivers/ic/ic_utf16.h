/* drivers/ic/ic_utf16.h: the UTF-16LE strings of IC messages (prefix ic_utf16_).
 *
 * KVP keys, values and addresses travel as fixed arrays of UTF-16LE units
 * (ic_proto.h). Both sides use these: the guest's driver (ic.c) and the
 * host's devices (host/icdev.c). Only ASCII is written; what is read from
 * the other side becomes printable ASCII.
 */
#ifndef DRIVERS_IC_IC_UTF16_H
#define DRIVERS_IC_IC_UTF16_H

#include <stdint.h>

/** Write the ASCII string `src` as UTF-16LE into `dst` (room for `units`
 * units), cut to fit, always NUL-terminated when `units` > 0. Returns the
 * units written with the NUL (0 when `units` is 0). */
uint32_t ic_utf16_put(uint8_t *dst, uint32_t units, const char *src);

/** Read at most `units` UTF-16LE units of `src` (up to a NUL) into the C
 * string `dst` of `cap` > 0 bytes, cut to fit; any unit that is not
 * printable ASCII becomes '?'. `src` may be unaligned. */
void ic_utf16_get(char *dst, uint32_t cap, const uint8_t *src, uint32_t units);

#endif
