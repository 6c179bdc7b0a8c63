/* host/echo_dev.c: a KMCL server channel that echoes every packet. */
#include "host/echo_dev.h"

#include <stdlib.h>
#include <string.h>

#include "host/srvchan.h"
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

/* It sends nothing but completions, and echoes whatever fits the ring: a
 * small send maximum (so 2-page guest rings are accepted) and an incoming
 * maximum of the whole MTU. */
static const struct srvchan_ops echo_dev_ops = {
    .so_name = "echo_dev",
    .so_opened = echo_dev_opened,
    .so_closed = echo_dev_closed,
    .so_process = echo_dev_process,
    .so_max_packet = 1024,
    .so_max_incoming = KMCL_RING_MTU,
};

struct echo_dev *echo_dev_create(PDEVICE_OBJECT parent, uint32_t instance_tag) {
  struct echo_dev *e = calloc(1, sizeof(*e));
  if (!e)
    return NULL;
  GUID inst = echo_dev_type;
  inst.Data1 = instance_tag;
  e->ed_ch = srvchan_create(parent, &echo_dev_ops, e, echo_dev_type, inst);
  if (!e->ed_ch) {
    free(e);
    return NULL;
  }
  return e;
}

void echo_dev_destroy(struct echo_dev *e) {
  if (!e)
    return;
  srvchan_destroy(e->ed_ch);
  free(e);
}

VMBCHANNEL echo_dev_channel(const struct echo_dev *e) { return e->ed_ch; }
uint64_t echo_dev_packets(const struct echo_dev *e) { return e->ed_packets; }
uint64_t echo_dev_bytes(const struct echo_dev *e) { return e->ed_bytes; }
bool echo_dev_is_open(const struct echo_dev *e) { return e->ed_open; }
