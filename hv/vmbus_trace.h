/* hv/vmbus_trace.h (shared by hv/ and host/; keep both callers working):
 * decoding of VMBus channel messages for people: one line
 * per message, `vmbus: -> TYPE key=value ...` (guest to host) or `<-` (host
 * to guest), and the well-known names of device-class GUIDs. Pure functions,
 * shared by the guest's client and the host emulator so both print the same
 * format (docs and tests read it). */
#ifndef HV_VMBUS_TRACE_H
#define HV_VMBUS_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/vmbus_proto.h"

enum vmbus_dir { VMBUS_DIR_TO_HOST, VMBUS_DIR_TO_GUEST };

/** Name of a channel message type ("OFFERCHANNEL"), "UNKNOWN(n)" beyond. */
const char *vmbus_msg_name(uint32_t msgtype);
/** Well-known device class ("network", "heartbeat", ...) or NULL. */
const char *vmbus_guid_name(const struct vmbus_guid *g);
/** Canonical text form, 36 characters plus NUL. */
void vmbus_guid_format(const struct vmbus_guid *g, char out[37]);
/** "5.3" for VMBUS_VERSION(5, 3). */
void vmbus_version_format(uint32_t version, char out[12]);
/** One decoded line, no trailing newline, always terminated. `msg` holds
 * `len` bytes as received (the decoder checks every field against len). */
void vmbus_msg_describe(char *buf, size_t bufsz, enum vmbus_dir dir, const void *msg, size_t len);
/** The same line, for callers that name the direction with a flag; returns
 * the length written (without the NUL). */
int vmbus_trace_format(char *buf, size_t len, bool to_host, const void *msg, uint32_t size);

#endif
