/* tests/fuzz/fuzz_ring.c: the ring reader (kmcl/ring.c) against a hostile
 * peer: the input is a control page's indices and the data area, exactly
 * as a host could leave them in shared memory. Every packet the reader
 * returns must lie inside the caller's buffer; corruption must be reported,
 * sticky, and never loop or read out of bounds (ASan/UBSan check). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kmcl/ring.h"
#include "kmcl/vmbus_ring_proto.h"

#define FZ_DATA_PAGES 2
#define FZ_DATA (FZ_DATA_PAGES * 4096u)

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len) {
  static uint8_t ctl[4096] __attribute__((aligned(4096)));
  static uint8_t data[FZ_DATA] __attribute__((aligned(4096)));
  if (len < 12)
    return 0;
  memset(ctl, 0, sizeof(ctl));
  memcpy(ctl, in, 12); /* write_index, read_index, interrupt_mask */
  size_t n = len - 12 < FZ_DATA ? len - 12 : FZ_DATA;
  memset(data, 0, sizeof(data));
  memcpy(data, in + 12, n);
  struct ring r;
  if (ring_init(&r, ctl, data, FZ_DATA) != 0)
    return 0;
  static uint8_t buf[FZ_DATA];
  /* Each successful read advances; a ring holds fewer than FZ_DATA / 16
   * packets, so this bound is never what ends the loop. */
  for (unsigned i = 0; i < FZ_DATA / 8; i++) {
    uint32_t plen = 0;
    int rc = (i & 1) ? ring_read(&r, buf, sizeof(buf), &plen) : ring_read(&r, buf, 64, &plen);
    if (rc == -EMSGSIZE) {
      rc = ring_skip(&r);
      if (rc)
        break;
      continue;
    }
    if (rc)
      break;
    if (plen > sizeof(buf))
      abort(); /* the reader claimed more than it may copy */
    ring_read_commit(&r);
  }
  /* A corrupt ring stays corrupt. */
  if (r.r_corrupt) {
    uint32_t plen;
    if (ring_read(&r, buf, sizeof(buf), &plen) != -EPROTO)
      abort();
  }
  return 0;
}
