/* tests/unit/lib/loopback_bus.h: a loopback implementation of kmcl/bus.h.
 *
 * Both sides of the bus in one process: server channels make offers, client
 * channels claim them, GPADLs are PFN lists of arena pages (inproc_hw.h),
 * "signal" queues the peer channel's DPC (kmcl_bus_interrupt), and every
 * other up-call is delivered from a passive work item, as bus.h requires.
 * Tests drive everything through the kernel's event loop (lb_pump,
 * lb_run_until). Fault switches let tests play a refusing or failing host.
 */
#ifndef TESTS_UNIT_LIB_LOOPBACK_BUS_H
#define TESTS_UNIT_LIB_LOOPBACK_BUS_H

#include <stdbool.h>
#include <stdint.h>

#include "kmcl/bus.h"

#define LB_MAX_OFFERS 8
#define LB_MAX_GPADLS 64
#define LB_MAX_WAITERS 8

struct lb_stats {
  uint32_t st_sig_to_server; /* signals a client sent */
  uint32_t st_sig_to_client; /* signals a server sent */
  uint32_t st_sig_dropped;   /* signals with no peer to deliver to */
  uint32_t st_offers, st_rescinds, st_opens, st_closes, st_open_results;
  uint32_t st_gpadls_live, st_gpadls_created, st_maps_live;
};

struct lb_offer;
struct lb_bus;

/** A loopback bus with the given VMBus instance id (registered for
 * VmbConvertVmbusHandleToKernelHandle). */
struct lb_bus *lb_create(uint32_t instance_id);
/** Unregister and free; every channel must be cleaned up first. */
void lb_destroy(struct lb_bus *lb);
/** The device record to pass to VmbChannelAllocate. */
PDEVICE_OBJECT lb_device(struct lb_bus *lb);
struct kmcl_bus *lb_kbus(struct lb_bus *lb);
const struct lb_stats *lb_stats(const struct lb_bus *lb);

/* Fault injection (0 = off). */
/** The host answers every OPENCHANNEL with this status (no server sees it). */
void lb_set_refuse_open(struct lb_bus *lb, int32_t status);
/** GPADL creation fails with this errno. */
void lb_set_fail_gpadl(struct lb_bus *lb, int err);
/** Offers are made as monitored (MNF), so interrupt latency can be set. */
void lb_set_monitored(struct lb_bus *lb, bool on);
/** Drop every signal (tests of lost wake-ups / polling). */
void lb_set_drop_signals(struct lb_bus *lb, bool on);

/** Host-side events a test can inject. */
/** Rescind the offer a client channel is attached to, as a host would,
 * without the server channel's involvement (hot-remove). */
void lb_host_rescind(struct lb_bus *lb, VMBCHANNEL client);

/** Run the event loop until nothing is pending. */
void lb_pump(void);
/** Run the loop until cond(arg) or timeout_ms; true when cond held. */
bool lb_run_until(bool (*cond)(void *), void *arg, uint64_t timeout_ms);

#endif
