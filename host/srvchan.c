/* host/srvchan.c: offering a KMCL server channel (host/srvchan.h). */
#include "host/srvchan.h"

#include "kernel/log.h"

VMBCHANNEL srvchan_create(PDEVICE_OBJECT parent, const struct srvchan_ops *ops, void *ctx,
                          GUID type, GUID instance) {
  VMBCHANNEL ch = NULL;
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS cb;
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&cb);
  cb.EvtChannelOpened = ops->so_opened;
  cb.EvtChannelClosed = ops->so_closed;
  NTSTATUS st = VmbChannelAllocate(parent, TRUE, &ch);
  if (NT_SUCCESS(st)) {
    VmbChannelSetPointer(ch, ctx);
    st = VmbChannelInitSetStateChangeCallbacks(ch, &cb);
  }
  if (NT_SUCCESS(st))
    st = VmbChannelInitSetProcessPacketCallbacks(ch, ops->so_process, NULL);
  if (NT_SUCCESS(st) && ops->so_pipe)
    st = VmbChannelInitSetFlags(ch, VMBUS_CHANNEL_INIT_FLAG_IS_PIPE);
  if (NT_SUCCESS(st) && ops->so_pipe)
    st = VmbServerChannelInitSetFlags(ch, VMBUS_SERVER_CHANNEL_INIT_FLAG_OFFER_AS_PIPE);
  if (NT_SUCCESS(st))
    st = VmbServerChannelInitSetTargetInterfaceId(ch, type, instance);
  if (NT_SUCCESS(st) && ops->so_max_packet)
    st = VmbChannelInitSetMaximumPacketSize(ch, ops->so_max_packet);
  if (NT_SUCCESS(st) && ops->so_max_incoming)
    st = kmcl_channel_init_set_max_incoming(ch, ops->so_max_incoming);
  if (NT_SUCCESS(st))
    st = VmbChannelEnable(ch);
  if (!NT_SUCCESS(st)) {
    if (ops->so_name)
      pr_err("%s: could not offer the channel: status 0x%lx\n", ops->so_name,
             (unsigned long)(uint32_t)st);
    if (ch)
      VmbChannelCleanup(ch);
    return NULL;
  }
  if (!ops->so_paused)
    VmbChannelStart(ch);
  return ch;
}

void srvchan_destroy(VMBCHANNEL ch) {
  if (!ch)
    return;
  VmbChannelDisable(ch);
  VmbChannelCleanup(ch);
}
