/* host/srvchan.h: offering a KMCL server channel (prefix srvchan_).
 *
 * The set-up every host device (echo_dev, icdev, netvsp) does to offer its
 * channel on a VMBus server (host/vmbus_server.h): allocate, set the context
 * pointer, the callbacks, the interface GUIDs and the sizes, enable (offer)
 * and, unless asked not to, start it. Written once here.
 */
#ifndef HOST_SRVCHAN_H
#define HOST_SRVCHAN_H

#include <stdbool.h>

#include "kmcl/vmbkmcl.h"

/** What a device's server channel is offered with. Zero sizes keep KMCL's
 * defaults; NULL callbacks are not set. */
struct srvchan_config {
  const char *sc_name; /* for the failure line; NULL: no line */
  void *sc_ctx;        /* VmbChannelSetPointer */
  PFN_VMB_CHANNEL_OPENED sc_opened;
  PFN_VMB_CHANNEL_CLOSED sc_closed;
  PFN_VMB_CHANNEL_PROCESS_PACKET sc_process;
  GUID sc_type, sc_instance;
  UINT32 sc_max_packet;   /* VmbChannelInitSetMaximumPacketSize */
  UINT32 sc_max_incoming; /* kmcl_channel_init_set_max_incoming */
  bool sc_pipe;           /* offered as a pipe (the integration services) */
  bool sc_paused;         /* enabled but not started (a server channel starts paused) */
};

/** Allocate a server channel on the bus whose device record is `parent`
 * (vmbsrv_device), configure it from `c`, enable (offer) it and start it
 * unless c->sc_paused. Returns the channel, owned by the caller (release it
 * with VmbChannelDisable then VmbChannelCleanup), or NULL on failure, with
 * nothing left allocated and a line "NAME: could not offer the channel". */
VMBCHANNEL srvchan_create(PDEVICE_OBJECT parent, const struct srvchan_config *c);

#endif
