/* host/srvchan.h: offering a KMCL server channel (prefix srvchan_).
 *
 * The set-up every host device (echo_dev, icdev and its placeholders,
 * netvsp) does to offer its channel on a VMBus server (host/vmbus_server.h):
 * allocate, set the context pointer, the callbacks, the interface GUIDs and
 * the sizes, enable (offer) and, unless asked not to, start it; and the
 * rescind and release at the end. Written once here.
 */
#ifndef HOST_SRVCHAN_H
#define HOST_SRVCHAN_H

#include <stdbool.h>

#include "kmcl/vmbkmcl.h"

/** What a kind of device offers its channels with (one constant a kind).
 * Zero sizes keep KMCL's defaults; NULL callbacks are not set. */
struct srvchan_ops {
  const char *so_name; /* for the failure line; NULL: no line */
  PFN_VMB_CHANNEL_OPENED so_opened;
  PFN_VMB_CHANNEL_CLOSED so_closed;
  PFN_VMB_CHANNEL_PROCESS_PACKET so_process;
  UINT32 so_max_packet;   /* VmbChannelInitSetMaximumPacketSize */
  UINT32 so_max_incoming; /* kmcl_channel_init_set_max_incoming */
  bool so_pipe;           /* offered as a pipe (the integration services) */
  bool so_paused;         /* enabled but not started (a server channel starts paused) */
};

/** Allocate a server channel on the bus whose device record is `parent`
 * (vmbsrv_device) with context pointer `ctx` and the interface `type` /
 * `instance`, configure it from `ops`, enable (offer) it and start it unless
 * ops->so_paused. Returns the channel, owned by the caller (release it with
 * srvchan_destroy), or NULL on failure, with nothing left allocated and a
 * line "NAME: could not offer the channel: status ...". */
VMBCHANNEL srvchan_create(PDEVICE_OBJECT parent, const struct srvchan_ops *ops, void *ctx,
                          GUID type, GUID instance);

/** Disable (rescind) and clean up a channel of srvchan_create; NULL is a no-op. */
void srvchan_destroy(VMBCHANNEL ch);

#endif
