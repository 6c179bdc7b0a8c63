/* tests/fuzz/fuzz_kmcl_rx.c: hostile bytes into a real KMCL client
 * channel's receive path (kmcl/packet.c: pkt_rx_process, tok_parse,
 * pkt_rx_completion, external data; kmcl/ring.c underneath). The channel is
 * opened for real (VmbChannelAllocate/Enable, rings from the page
 * allocator, the GPADL and open up-calls) on a minimal bus defined here
 * that answers every request at once and never reads the rings: the fuzzer
 * is the only writer of the inbound ring. Three packets that asked for a
 * completion are in flight before the input runs, so completions naming
 * live transaction ids (0x100000001..3) are reachable.
 *
 * Input: [mode] then ops [op][...]. Mode bit 0: the driver holds the
 * packets it gets (outstanding) until op 3, else completes them at once.
 * op % 4: 0 write a chunk [u16 len][bytes] at the inbound write index and
 * publish past it (8-aligned, wraps); 1 publish a raw write_index (u32);
 * 2 set pending_send_sz and feature_bits (u32 u32); 3 complete what the
 * driver holds. After each op the host "signals" and the channel's DPC and
 * work items run. A fresh channel per input. Seeds:
 * tests/fuzz/corpus/fuzz_kmcl_rx (tools/fuzz-seeds.sh). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/inproc_hw.h"
#include "kernel/event.h"
#include "kernel/hw.h"
#include "kernel/log.h"
#include "kernel/page.h"
#include "kmcl/bus.h"
#include "kmcl/kmcl_priv.h"
#include "kmcl/vmbkmcl.h"
#include "tests/fuzz/fuzz.h"

static struct kmcl_bus fz_bus;
static struct _DEVICE_OBJECT fz_dev;
static VMBCHANNEL fz_ch;
static struct ev_item fz_offer_work, fz_open_work;
static struct kmcl_bus_offer fz_offer;
static const GUID fz_type = {0xf0225ee1, 0x1, 0x2, {3, 4, 5, 6, 7, 8, 9, 10}};
static uint8_t fz_mode; /* what ProcessPacket does: complete, defer, ext data */

static void fz_offer_fn(void *arg) {
  (void)arg;
  if (fz_ch)
    kmcl_bus_offer_arrived(fz_ch, &fz_offer);
}
static void fz_open_fn(void *arg) {
  (void)arg;
  if (fz_ch)
    kmcl_bus_open_result(fz_ch, 0);
}
static int fz_attach(struct kmcl_bus *b, VMBCHANNEL ch, const GUID *t, const GUID *i) {
  (void)b, (void)ch, (void)i;
  memset(&fz_offer, 0, sizeof(fz_offer));
  fz_offer.bo_type = *t;
  fz_offer.bo_relid = 1;
  ev_work_queue(&fz_offer_work);
  return 0;
}
static void fz_detach(struct kmcl_bus *b, VMBCHANNEL ch) {
  (void)b, (void)ch;
  ev_cancel(&fz_offer_work);
  ev_cancel(&fz_open_work);
}
static int fz_gpadl_create(struct kmcl_bus *b, VMBCHANNEL ch, const uint64_t *pfns, uint32_t n,
                           uint32_t off, uint32_t cnt, bool ro, uint32_t *h) {
  (void)b, (void)ch, (void)pfns, (void)n, (void)off, (void)cnt, (void)ro;
  *h = 0x100;
  return 0;
}
static int fz_gpadl_teardown(struct kmcl_bus *b, VMBCHANNEL ch, uint32_t h) {
  (void)b, (void)ch, (void)h;
  return 0;
}
static int fz_open(struct kmcl_bus *b, VMBCHANNEL ch, const struct kmcl_bus_open *r) {
  (void)b, (void)ch, (void)r;
  ev_work_queue(&fz_open_work);
  return 0;
}
static void fz_close(struct kmcl_bus *b, VMBCHANNEL ch) { (void)b, (void)ch; }
static void fz_signal(struct kmcl_bus *b, VMBCHANNEL ch) { (void)b, (void)ch; }

static const struct kmcl_bus_ops fz_ops = {
    .attach = fz_attach,
    .detach = fz_detach,
    .gpadl_create = fz_gpadl_create,
    .gpadl_teardown = fz_gpadl_teardown,
    .open = fz_open,
    .close = fz_close,
    .signal = fz_signal,
};

/* Delivered packets: completed inline, or deferred and completed by op 3. */
#define FZ_HELD 64
static VMBPACKETCOMPLETION fz_held[FZ_HELD];
static unsigned fz_nheld;

static VOID fz_process(VMBCHANNEL ch, VMBPACKETCOMPLETION p, PVOID buf, UINT32 len, UINT32 fl) {
  (void)ch;
  volatile uint8_t sink = 0;
  for (UINT32 i = 0; i < len; i++) /* the driver may read every byte it was given */
    sink ^= ((const uint8_t *)buf)[i];
  (void)sink;
  if (fl & VMBUS_CHANNEL_PROCESS_PACKET_FLAG_EXTERNAL_DATA) {
    PMDL mdl = NULL;
    VmbChannelPacketGetExternalData(p, 0, &mdl);
  }
  if ((fz_mode & 1) && fz_nheld < FZ_HELD) {
    fz_held[fz_nheld++] = p; /* outstanding: the driver keeps it a while */
    return;
  }
  VmbChannelPacketComplete(p, NULL, 0);
}

static VOID fz_done(VMBPACKET pkt, NTSTATUS st, PVOID buf, UINT32 len) {
  (void)st;
  volatile uint8_t sink = 0;
  for (UINT32 i = 0; buf && i < len; i++)
    sink ^= ((const uint8_t *)buf)[i];
  (void)sink;
  VmbPacketFree(pkt);
}

static void fz_release_held(void) {
  for (unsigned i = 0; i < fz_nheld; i++)
    VmbChannelPacketComplete(fz_held[i], NULL, 0);
  fz_nheld = 0;
}

static void fz_settle(void) {
  for (unsigned i = 0; i < 256 && ev_run_pending(); i++)
    ;
}

static bool fz_open_channel(void) {
  if (VmbChannelAllocate(&fz_dev, FALSE, &fz_ch) != STATUS_SUCCESS)
    return false;
  VmbChannelInitSetProcessPacketCallbacks(fz_ch, fz_process, NULL);
  VmbClientChannelInitSetTargetPnp(fz_ch, &fz_type, NULL, NULL);
  VmbClientChannelInitSetRingBufferPageCount(fz_ch, 3, 3);
  if (VmbChannelEnable(fz_ch) != STATUS_SUCCESS)
    return false;
  fz_settle();
  static uint8_t msg[24] = {1, 2, 3};
  for (int i = 0; i < 3; i++) {
    VMBPACKET p = VmbPacketAllocate(fz_ch);
    if (!p)
      return false;
    VmbPacketSetCompletionRoutine(p, fz_done);
    if (VmbPacketSend(p, msg, sizeof(msg), NULL, VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION))
      VmbPacketFree(p);
  }
  fz_settle();
  return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len) {
  if (!fz_bus.kb_ops) {
    fuzz_quiet();
    if (inproc_mem_setup(8u << 20))
      abort();
    fz_bus.kb_ops = &fz_ops;
    fz_bus.kb_instance_id = 77;
    fz_dev.do_bus = &fz_bus;
    kmcl_bus_register(&fz_bus);
    ev_item_init(&fz_offer_work, fz_offer_fn, NULL);
    ev_item_init(&fz_open_work, fz_open_fn, NULL);
  }
  fz_nheld = 0;
  fz_mode = 0;
  if (len) { /* the first byte: what the driver does with packets */
    fz_mode = in[0];
    in++, len--;
  }
  if (!fz_open_channel())
    abort();
  struct kmcl_channel *ch = fz_ch;
  struct ring *r = &ch->ch_in;
  if (!ch->ch_rings_up)
    abort(); /* the harness itself is broken */
  for (unsigned op = 0; op < 128 && len > 0; op++) {
    uint8_t o = in[0];
    in++, len--;
    switch (o % 4) {
    case 0: {
      uint32_t n = 0;
      memcpy(&n, in, len < 2 ? len : 2);
      n &= 0xffff;
      size_t k = len < 2 ? len : 2;
      in += k, len -= k;
      if (n > len)
        n = (uint32_t)len;
      if (n > r->r_size - 8)
        n = r->r_size - 8;
      uint32_t wr = r->r_ctl->write_index;
      if (wr >= r->r_size) /* the fuzzer broke it earlier: nothing to write */
        break;
      for (uint32_t i = 0; i < n; i++)
        r->r_data[(wr + i) % r->r_size] = in[i];
      in += n, len -= n;
      r->r_ctl->write_index = (wr + ((n + 7) & ~7u)) % r->r_size;
      break;
    }
    case 1: {
      uint32_t v = 0;
      memcpy(&v, in, len < 4 ? len : 4);
      size_t k = len < 4 ? len : 4;
      in += k, len -= k;
      r->r_ctl->write_index = v;
      break;
    }
    case 2: {
      uint32_t v[2] = {0, 0};
      memcpy(v, in, len < 8 ? len : 8);
      size_t k = len < 8 ? len : 8;
      in += k, len -= k;
      r->r_ctl->pending_send_sz = v[0];
      r->r_ctl->feature_bits = v[1];
      break;
    }
    default:
      fz_release_held();
      break;
    }
    kmcl_bus_interrupt(fz_ch);
    fz_settle();
  }
  fz_release_held();
  VmbChannelDisable(fz_ch);
  VmbChannelCleanup(fz_ch);
  fz_ch = NULL;
  fz_settle();
  return 0;
}
