/* hv/vmbus_trace.h (shared by hv/ and host/; keep both callers working):
 * the VMBus message table both ends dispatch from (OpenBSD hv_msg_dispatch
 * style: name, minimum size and sender per type here, a handler per type in
 * hv/vmbus.c and host/vmbus_server.c), the one VMBus version parser, and
 * decoding of channel messages for people: one line
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

/* Who sends a message type. */
#define VMBUS_MSG_BY_GUEST 1u
#define VMBUS_MSG_BY_HOST 2u

/* One row per channel message type. */
struct vmbus_msg_type {
  const char *mt_name;  /* "OFFERCHANNEL" */
  uint16_t mt_min_size; /* smallest payload a receiver accepts; 0: accepted by neither side */
  uint8_t mt_sender;    /* VMBUS_MSG_BY_GUEST or VMBUS_MSG_BY_HOST (0 with mt_min_size 0) */
  /* Appends " key=value ..." for the trace line; NULL: the name says all.
   * Reads only the `len` bytes of m. */
  void (*mt_describe)(char *out, size_t room, const uint8_t *m, size_t len);
};
extern const struct vmbus_msg_type vmbus_msg_types[VMBUS_MSG_COUNT];

/** Check a received channel message before any field is used: the header
 * is there, the type is one this side accepts from the other (dir: the way
 * it travelled) and the payload holds at least the type's minimum. Returns
 * NULL when it may be dispatched, else why it is dropped (for a log line);
 * *type is the header's type (VMBUS_MSG_INVALID for a runt). */
const char *vmbus_msg_check(enum vmbus_dir dir, const void *msg, size_t len, uint32_t *type);
/** "X.Y" or "X" (X.0), each part decimal below 65536, nothing else: 0 and
 * the version in *out, or -EINVAL. Whether VMBus defines that version is
 * vmbus_version_known's question. */
int vmbus_version_parse(const char *s, uint32_t *out);
/** One of the eleven versions of VMBUS_ALL_VERSIONS. */
bool vmbus_version_known(uint32_t v);

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
