/* host/echo_dev.c: a KMCL server channel that echoes every packet. */
#include "host/echo_dev.h"

#include <stdlib.h>
#include <string.h>

#include "kernel/log.h"

const GUID echo_dev_type = {
    0x6c0a8d6e, 0x0b6f, 0x4c39, {0x9e, 0x2f, 0xec, 0x40, 0xec, 0x40, 0xec, 0x40}};

struct echo_dev {
  VMBCHANNEL ed_ch;
  uint64_t ed_packets, ed_bytes;
  bool ed_open;
};

static struct echo_dev *echo_dev_of(VMBCHANNEL ch) { return VmbChannelGetPointer(ch); }

static NTSTATUS echo_dev_opened(VMBCHANNEL ch) {
  echo_dev_of(ch)->ed_open = true;
  return STATUS_SUCCESS;
}

static VOID echo_dev_closed(VMBCHANNEL ch) { echo_dev_of(ch)->ed_open = false; }

static VOID echo_dev_process(VMBCHANNEL ch, VMBPACKETCOMPLETION pkt, PVOID buf, UINT32 len,
                             UINT32 flags) {
  (void)flags;
  struct echo_dev *e = echo_dev_of(ch);
  e->ed_packets++;
  e->ed_bytes += len;
  VmbChannelPacketComplete(pkt, buf, len);
}

struct echo_dev *echo_dev_create(PDEVICE_OBJECT parent, uint32_t instance_tag) {
  struct echo_dev *e = calloc(1, sizeof(*e));
  if (!e)
    return NULL;
  GUID inst = echo_dev_type;
  inst.Data1 = instance_tag;
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS cb;
  VMB_CHANNEL_STATE_CHANGE_CALLBACKS_INIT(&cb);
  cb.EvtChannelOpened = echo_dev_opened;
  cb.EvtChannelClosed = echo_dev_closed;
  NTSTATUS st = VmbChannelAllocate(parent, TRUE, &e->ed_ch);
  if (NT_SUCCESS(st)) {
    VmbChannelSetPointer(e->ed_ch, e);
    st = VmbChannelInitSetStateChangeCallbacks(e->ed_ch, &cb);
  }
  if (NT_SUCCESS(st))
    st = VmbChannelInitSetProcessPacketCallbacks(e->ed_ch, echo_dev_process, NULL);
  if (NT_SUCCESS(st))
    st = VmbServerChannelInitSetTargetInterfaceId(e->ed_ch, echo_dev_type, inst);
  /* It sends nothing but completions, and echoes whatever fits the ring: a
   * small send maximum (so 2-page guest rings are accepted) and an incoming
   * maximum of the whole MTU. */
  if (NT_SUCCESS(st))
    st = VmbChannelInitSetMaximumPacketSize(e->ed_ch, 1024);
  if (NT_SUCCESS(st))
    st = kmcl_channel_init_set_max_incoming(e->ed_ch, KMCL_RING_MTU);
  if (NT_SUCCESS(st))
    st = VmbChannelEnable(e->ed_ch);
  if (NT_SUCCESS(st))
    VmbChannelStart(e->ed_ch); /* a server channel starts paused */
  if (!NT_SUCCESS(st)) {
    pr_err("echo_dev: could not offer the echo channel: status 0x%lx\n",
           (unsigned long)(uint32_t)st);
    if (e->ed_ch)
      VmbChannelCleanup(e->ed_ch);
    free(e);
    return NULL;
  }
  return e;
}

void echo_dev_destroy(struct echo_dev *e) {
  if (!e)
    return;
  VmbChannelDisable(e->ed_ch);
  VmbChannelCleanup(e->ed_ch);
  free(e);
}

VMBCHANNEL echo_dev_channel(const struct echo_dev *e) { return e->ed_ch; }
uint64_t echo_dev_packets(const struct echo_dev *e) { return e->ed_packets; }
uint64_t echo_dev_bytes(const struct echo_dev *e) { return e->ed_bytes; }
bool echo_dev_is_open(const struct echo_dev *e) { return e->ed_open; }
