/* kmcl/kmcl_test.h: fault injection into KMCL, for hostile-peer and
 * failure-path tests only. Production code outside kmcl/ never includes
 * this header; the functions and variables live in kmcl/packet.c,
 * channel.c and upcall.c, so that test peers built on the real server
 * (host/netvsp.c's hostile hooks, the unit tests) can misbehave on the
 * wire and tests can make KMCL's own allocations fail. */
#ifndef KMCL_KMCL_TEST_H
#define KMCL_KMCL_TEST_H

#include <stdint.h>

#include "kmcl/vmbkmcl.h"

/** Queue `len` bytes (a whole wire packet: descriptor first, len8 and
 * offset8 as the caller wrote them, 8..524,280 bytes) on `Channel`'s
 * outgoing queue exactly as given, behind earlier sends, and try to write
 * it now. No transaction slot, no completion routine. Returns 0, -ENODEV
 * (channel not open), -EINVAL (length), -ENOMEM. */
int kmcl_test_send_raw(VMBCHANNEL Channel, const void *pkt, uint32_t len);

/** How long Disable and Pause wait for outstanding incoming packets
 * (KMCL_DISABLE_WAIT_MS); tests of the timed-out path shorten it. */
extern uint32_t kmcl_test_disable_wait_ms;

/** Up-call types (bit 1 << enum kmcl_up_type, kmcl/bus.h) whose posts fail
 * as if the node allocation had: kmcl_upq_post returns -ENOMEM and counts
 * it in uq_failed. 0 (the default) refuses none; tests of the
 * out-of-memory path set it and clear it again. */
extern unsigned kmcl_test_upq_refuse_types;

#endif
