/* host/netvsp_test.h: the NetVSP device's hostile-host hooks, for tests
 * and fuzzers only (tests/unit/netvsc_test.c, soak_netvsc_test.c,
 * tests/fuzz/fuzz_netvsc.c): the device sends what a correct host never
 * would. Production code never includes this header (as kmcl/kmcl_test.h
 * for KMCL); the functions live in host/netvsp.c. */
#ifndef HOST_NETVSP_TEST_H
#define HOST_NETVSP_TEST_H

#include <stdint.h>

#include "host/netvsp.h"

/** Write `msg` into a free receive section and send a transfer-page packet
 * whose single range is {byte_offset = section start + off_adj, byte_count
 * = count} on page set `set_id` (0 = the guest's). A NULL `msg` writes
 * nothing. 0 or -errno. */
int netvsp_inject_rx(struct netvsp *d, const void *msg, uint32_t len, int64_t off_adj,
                     uint32_t count, uint16_t set_id);
/** Send a VM_PKT_COMP whose transaction id the guest never used. */
int netvsp_inject_bad_completion(struct netvsp *d);

#endif
