/* host/srvchan.c: offering a KMCL server channel (host/srvchan.h). */
#include "host/srvchan.h"

#include "kernel/log.h"

VMBCHANNEL srvchan_create(PDEVICE_OBJECT parent, const struct srvchan_config *c) {
  VMBCHANNEL ch = NULL;
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS cb;
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&cb);
  cb.EvtChannelOpened = c->sc_opened;
  cb.EvtChannelClosed = c->sc_closed;
  NTSTATUS st = VmbChannelAllocate(parent, TRUE, &ch);
  if (NT_SUCCESS(st)) {
    VmbChannelSetPointer(ch, c->sc_ctx);
    st = VmbChannelInitSetStateChangeCallbacks(ch, &cb);
  }
  if (NT_SUCCESS(st))
    st = VmbChannelInitSetProcessPacketCallbacks(ch, c->sc_process, NULL);
  if (NT_SUCCESS(st) && c->sc_pipe)
    st = VmbChannelInitSetFlags(ch, VMBUS_CHANNEL_INIT_FLAG_IS_PIPE);
  if (NT_SUCCESS(st) && c->sc_pipe)
    st = VmbServerChannelInitSetFlags(ch, VMBUS_SERVER_CHANNEL_INIT_FLAG_OFFER_AS_PIPE);
  if (NT_SUCCESS(st))
    st = VmbServerChannelInitSetTargetInterfaceId(ch, c->sc_type, c->sc_instance);
  if (NT_SUCCESS(st) && c->sc_max_packet)
    st = VmbChannelInitSetMaximumPacketSize(ch, c->sc_max_packet);
  if (NT_SUCCESS(st) && c->sc_max_incoming)
    st = kmcl_channel_init_set_max_incoming(ch, c->sc_max_incoming);
  if (NT_SUCCESS(st))
    st = VmbChannelEnable(ch);
  if (!NT_SUCCESS(st)) {
    if (c->sc_name)
      pr_err("%s: could not offer the channel: status 0x%lx\n", c->sc_name,
             (unsigned long)(uint32_t)st);
    if (ch)
      VmbChannelCleanup(ch);
    return NULL;
  }
  if (!c->sc_paused)
    VmbChannelStart(ch);
  return ch;
}
