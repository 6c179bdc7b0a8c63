/* host/echo_dev.h: a VMBus echo device for tests (prefix echo_dev_).
 *
 * A KMCL server channel offered on a VMBus server (host/vmbus_server.h)
 * that completes every packet it receives, echoing the packet's inband
 * payload back as the completion. Its interface type is the fixed test GUID
 * echo_dev_type; each device gets its own instance GUID.
 */
#ifndef HOST_ECHO_DEV_H
#define HOST_ECHO_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "kmcl/vmbkmcl.h"

/** 6c0a8d6e-0b6f-4c39-9e2f-ec40ec40ec40 ("echo"): a test GUID of ours. */
extern const GUID echo_dev_type;

struct echo_dev;

/** Allocate, configure and enable (offer) an echo channel on the bus whose
 * device record is `parent` (vmbsrv_device). `instance_tag` makes the
 * instance GUID unique. NULL on failure (logged). */
struct echo_dev *echo_dev_create(PDEVICE_OBJECT parent, uint32_t instance_tag);
/** Disable (rescind) and clean up the channel, then free. */
void echo_dev_destroy(struct echo_dev *e);
VMBCHANNEL echo_dev_channel(const struct echo_dev *e);
/** Packets echoed, and bytes of payload echoed. */
uint64_t echo_dev_packets(const struct echo_dev *e);
uint64_t echo_dev_bytes(const struct echo_dev *e);
/** True between the channel's Opened and Closed callbacks. */
bool echo_dev_is_open(const struct echo_dev *e);

#endif
