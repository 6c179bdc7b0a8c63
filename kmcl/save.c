/* kmcl/save.c: channel save and restore (KMCL-REFERENCE.md section (c) and
 * section (e), Q15).
 *
 * The channel must be paused (no incoming packet outstanding) before
 * VmbChannelSaveBegin, which snapshots KMCL's state into a list of records:
 * the channel (transaction sequence, open parameters), then every packet
 * object in use (queued or waiting for a completion) with the driver's own
 * data from EvtVmbChannelSavePacket, then queued completion packets.
 * VmbChannelSaveContinue hands the records out in chunks, each chunk whole
 * records behind a header:
 *
 *   u32 magic "KMSV" | u16 version | u16 flags (bit 0: last chunk)
 *   u32 sequence     | u32 payload bytes | u32 FNV-1a of the payload | u32 0
 *
 * and VmbChannelRestoreFromBuffer checks magic, version, sequence, lengths
 * and checksum before it believes a byte (a bad chunk is an error, never a
 * crash). A restored channel, enabled, takes over the connection its saved
 * predecessor left with the bus (bus.h: rescind with keep, offer with
 * bo_restore), so completions for the restored packets arrive as usual.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/log.h"
#include "kmcl/kmcl_priv.h"

#define SAVE_MAGIC 0x56534d4bu /* "KMSV" */
#define SAVE_VERSION 1u
#define SAVE_FLAG_LAST 0x1u
#define SAVE_HDR 24u
#define SAVE_PKT_MAGIC 0x534b504bu /* "KPKS": VmbPacketRestore's LibBuf */

enum { SREC_CHANNEL = 1, SREC_PACKET = 2, SREC_COMP = 3 };

/** Record: u16 type | u16 0 | u32 data bytes | data, padded to 8. */
#define SREC_HDR 8u

struct save_chan_rec {
  uint32_t sc_xid_seq;
  uint32_t sc_max_pkt;
  uint32_t sc_ring_gpadl;
  uint32_t sc_downstream;
  uint32_t sc_packets;
  uint32_t sc_reserved;
};

/** The library part of a saved packet (LibBuf of EvtVmbChannelRestorePacket). */
struct save_pkt_lib {
  uint32_t sp_magic;
  uint16_t sp_version;
  uint16_t sp_state; /* KP_QUEUED or KP_INFLIGHT */
  uint64_t sp_tid;
  uint32_t sp_flags;
  uint32_t sp_len; /* wire bytes that follow */
  uint32_t sp_payload;
  uint32_t sp_reserved;
};

struct kmcl_save_ctx {
  uint8_t *sv_buf; /* all records */
  uint32_t sv_len, sv_cap;
  uint32_t sv_pos; /* next record to hand out */
  uint32_t sv_seq;
};

static uint32_t save_fnv(const uint8_t *p, uint32_t n) {
  uint32_t h = 2166136261u;
  for (uint32_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 16777619u;
  }
  return h;
}

static int save_put(struct kmcl_save_ctx *s, uint16_t type, const void *a, uint32_t alen,
                    const void *b, uint32_t blen) {
  uint64_t need = SREC_HDR + (((uint64_t)alen + blen + 7u) & ~7ull);
  if (need > 0x7fffffffu || need > 0x7fffffffu - s->sv_len)
    return -ENOMEM;
  if (s->sv_len + need > s->sv_cap) {
    uint32_t cap = s->sv_cap ? s->sv_cap : 1024;
    while (cap < s->sv_len + need)
      cap *= 2;
    uint8_t *nb = realloc(s->sv_buf, cap);
    if (!nb)
      return -ENOMEM;
    s->sv_buf = nb;
    s->sv_cap = cap;
  }
  uint8_t *w = s->sv_buf + s->sv_len;
  uint32_t dlen = alen + blen;
  memset(w, 0, (size_t)need);
  memcpy(w, &type, 2);
  memcpy(w + 4, &dlen, 4);
  if (alen)
    memcpy(w + SREC_HDR, a, alen);
  if (blen)
    memcpy(w + SREC_HDR + alen, b, blen);
  s->sv_len += (uint32_t)need;
  return 0;
}

/** One packet object: the library record plus the driver's data. */
static NTSTATUS save_packet(struct kmcl_channel *ch, struct kmcl_save_ctx *s,
                            struct kmcl_packet *p) {
  uint8_t *lib = malloc(sizeof(struct save_pkt_lib) + p->pk_len);
  if (!lib)
    return STATUS_INSUFFICIENT_RESOURCES;
  struct save_pkt_lib h;
  memset(&h, 0, sizeof(h));
  h.sp_magic = SAVE_PKT_MAGIC;
  h.sp_version = SAVE_VERSION;
  h.sp_state = p->pk_state;
  h.sp_tid = p->pk_slot ? p->pk_tid : 0;
  h.sp_flags = p->pk_flags;
  h.sp_len = p->pk_len;
  h.sp_payload = p->pk_payload;
  memcpy(lib, &h, sizeof(h));
  memcpy(lib + sizeof(h), p->pk_buf, p->pk_len);
  uint32_t liblen = (uint32_t)sizeof(h) + p->pk_len;

  uint8_t *vsp = NULL;
  uint32_t vsplen = 0;
  NTSTATUS st = STATUS_SUCCESS;
  if (ch->ch_save_pkt) {
    /* First with no buffer; a driver with private state fails that call and
     * says how much it needs (reference (c), Save 3). */
    UINT32 needed = 0;
    st = ch->ch_save_pkt(ch, p, NULL, 0, &needed);
    if (!NT_SUCCESS(st) && needed) {
      vsp = malloc(needed);
      if (!vsp) {
        free(lib);
        return STATUS_INSUFFICIENT_RESOURCES;
      }
      UINT32 again = 0;
      st = ch->ch_save_pkt(ch, p, vsp, needed, &again);
      vsplen = needed;
    }
    if (!NT_SUCCESS(st)) {
      free(lib);
      free(vsp);
      return st;
    }
  }
  uint32_t head[2] = {liblen, vsplen};
  uint8_t *rec = malloc(8u + liblen + vsplen);
  int rc = -ENOMEM;
  if (rec) {
    memcpy(rec, head, 8);
    memcpy(rec + 8, lib, liblen);
    if (vsplen)
      memcpy(rec + 8 + liblen, vsp, vsplen);
    rc = save_put(s, SREC_PACKET, rec, 8u + liblen + vsplen, NULL, 0);
  }
  free(rec);
  free(lib);
  free(vsp);
  return rc ? STATUS_INSUFFICIENT_RESOURCES : STATUS_SUCCESS;
}

NTSTATUS VmbChannelSaveBegin(VMBCHANNEL Channel) {
  struct kmcl_channel *ch = Channel;
  if (!chan_valid(ch))
    return STATUS_INVALID_PARAMETER_1;
  if (ch->ch_save || !ch->ch_paused || ch->ch_started || ch->ch_outstanding ||
      kmcl_dispatch_depth || ch->ch_cb != KCB_NONE)
    return STATUS_INVALID_DEVICE_STATE; /* section (e): paused first */
  struct kmcl_save_ctx *s = calloc(1, sizeof(*s));
  if (!s)
    return STATUS_INSUFFICIENT_RESOURCES;
  struct save_chan_rec cr;
  memset(&cr, 0, sizeof(cr));
  cr.sc_xid_seq = ch->ch_xid_seq;
  cr.sc_max_pkt = ch->ch_max_pkt;
  cr.sc_ring_gpadl = ch->ch_open.bp_ring_gpadl;
  cr.sc_downstream = ch->ch_open.bp_downstream_offset;
  NTSTATUS st = STATUS_INSUFFICIENT_RESOURCES;
  if (save_put(s, SREC_CHANNEL, &cr, sizeof(cr), NULL, 0))
    goto fail;
  uint32_t npk = 0;
  /* In flight (waiting for the peer's completion), in table order. */
  for (uint32_t i = 0; ch->ch_xids && i < KMCL_XID_SLOTS; i++) {
    struct kmcl_packet *p = ch->ch_xids[i].xs_pkt;
    if (!p || p->pk_state != KP_INFLIGHT || p->pk_orphan || p->pk_sync)
      continue;
    st = save_packet(ch, s, p);
    if (!NT_SUCCESS(st))
      goto fail;
    npk++;
  }
  /* Queued, in send order; our own completion packets as raw records. */
  for (struct kmcl_packet *p = STAILQ_FIRST(&ch->ch_txq); p; p = STAILQ_NEXT(p, pk_link)) {
    if (p->pk_sync || p->pk_orphan)
      continue;
    if (p->pk_comp) {
      if (save_put(s, SREC_COMP, p->pk_buf, p->pk_len, NULL, 0)) {
        st = STATUS_INSUFFICIENT_RESOURCES;
        goto fail;
      }
      continue;
    }
    st = save_packet(ch, s, p);
    if (!NT_SUCCESS(st))
      goto fail;
    npk++;
  }
  cr.sc_packets = npk; /* patch the count into the first record */
  memcpy(s->sv_buf + SREC_HDR, &cr, sizeof(cr));
  ch->ch_save = s;
  return STATUS_SUCCESS;
fail:
  free(s->sv_buf);
  free(s);
  return st;
}

NTSTATUS VmbChannelSaveContinue(VMBCHANNEL Channel, PVOID SaveBuffer, ULONG SaveBufferSize,
                                PULONG BytesFilled, PULONG BytesRequired) {
  struct kmcl_channel *ch = Channel;
  if (!chan_valid(ch))
    return STATUS_INVALID_PARAMETER_1;
  if (!SaveBuffer && SaveBufferSize)
    return STATUS_INVALID_PARAMETER_2;
  if (!BytesFilled || !BytesRequired)
    return STATUS_INVALID_PARAMETER;
  struct kmcl_save_ctx *s = ch->ch_save;
  if (!s)
    return STATUS_INVALID_DEVICE_STATE;
  *BytesFilled = 0;
  *BytesRequired = 0;
  if (s->sv_pos >= s->sv_len && s->sv_seq > 0)
    return STATUS_SUCCESS; /* everything went out already */
  /* Whole records only: take as many as fit. */
  uint32_t pos = s->sv_pos, take = 0;
  while (pos < s->sv_len) {
    uint32_t dlen;
    memcpy(&dlen, s->sv_buf + pos + 4, 4);
    uint32_t rlen = SREC_HDR + ((dlen + 7u) & ~7u);
    if ((uint64_t)SAVE_HDR + take + rlen > SaveBufferSize)
      break;
    take += rlen;
    pos += rlen;
  }
  if (take == 0 && s->sv_pos < s->sv_len) {
    uint32_t dlen;
    memcpy(&dlen, s->sv_buf + s->sv_pos + 4, 4);
    *BytesRequired = SAVE_HDR + SREC_HDR + ((dlen + 7u) & ~7u);
    return STATUS_BUFFER_TOO_SMALL;
  }
  if (SaveBufferSize < SAVE_HDR) {
    *BytesRequired = SAVE_HDR;
    return STATUS_BUFFER_TOO_SMALL;
  }
  bool last = pos >= s->sv_len;
  uint8_t *w = SaveBuffer;
  uint32_t magic = SAVE_MAGIC, seq = s->sv_seq, sum = save_fnv(s->sv_buf + s->sv_pos, take);
  uint16_t ver = SAVE_VERSION, fl = last ? SAVE_FLAG_LAST : 0;
  uint32_t zero = 0;
  memcpy(w, &magic, 4);
  memcpy(w + 4, &ver, 2);
  memcpy(w + 6, &fl, 2);
  memcpy(w + 8, &seq, 4);
  memcpy(w + 12, &take, 4);
  memcpy(w + 16, &sum, 4);
  memcpy(w + 20, &zero, 4);
  memcpy(w + SAVE_HDR, s->sv_buf + s->sv_pos, take);
  s->sv_pos = pos;
  s->sv_seq++;
  *BytesFilled = SAVE_HDR + take;
  return last ? STATUS_SUCCESS : STATUS_BUFFER_OVERFLOW;
}

VOID VmbChannelSaveEnd(VMBCHANNEL Channel) {
  struct kmcl_channel *ch = Channel;
  if (!chan_valid(ch) || !ch->ch_save)
    return;
  /* A complete save means the driver is handing the connection over: the
   * following Disable keeps it with the bus for the restored channel. */
  ch->ch_saved = ch->ch_save->sv_pos >= ch->ch_save->sv_len && ch->ch_save->sv_seq > 0;
  save_channel_free(ch);
}

void save_channel_free(struct kmcl_channel *ch) {
  if (!ch->ch_save)
    return;
  free(ch->ch_save->sv_buf);
  free(ch->ch_save);
  ch->ch_save = NULL;
}

/* ---- restore ------------------------------------------------------------------ */

static NTSTATUS restore_record(struct kmcl_channel *ch, uint16_t type, const uint8_t *d,
                               uint32_t len) {
  switch (type) {
  case SREC_CHANNEL: {
    struct save_chan_rec cr;
    if (len != sizeof(cr))
      return STATUS_DATA_ERROR;
    memcpy(&cr, d, sizeof(cr));
    if (cr.sc_max_pkt > ch->ch_max_pkt)
      return STATUS_INVALID_PARAMETER; /* restored channel configured smaller */
    if (cr.sc_xid_seq > ch->ch_xid_seq)
      ch->ch_xid_seq = cr.sc_xid_seq;
    return STATUS_SUCCESS;
  }
  case SREC_PACKET: {
    uint32_t head[2];
    if (len < 8)
      return STATUS_DATA_ERROR;
    memcpy(head, d, 8);
    if (head[0] > len - 8 || head[1] != len - 8 - head[0])
      return STATUS_DATA_ERROR;
    void *lib = (void *)(uintptr_t)(d + 8);
    void *vsp = head[1] ? (void *)(uintptr_t)(d + 8 + head[0]) : NULL;
    if (ch->ch_restore_pkt)
      return ch->ch_restore_pkt(ch, lib, head[0], vsp, head[1]);
    /* No driver callback: restore into a packet of our own whose default
     * routine frees it on completion. */
    VMBPACKET p = VmbPacketAllocate(ch);
    if (!p)
      return STATUS_INSUFFICIENT_RESOURCES;
    NTSTATUS st = VmbPacketRestore(p, lib, head[0]);
    if (!NT_SUCCESS(st))
      VmbPacketFree(p);
    return st;
  }
  case SREC_COMP: {
    struct vmpacket_descriptor dd;
    if (len < sizeof(dd) || len > VMBUS_PKT_MAX_LEN)
      return STATUS_DATA_ERROR;
    memcpy(&dd, d, sizeof(dd));
    if (dd.type != VM_PKT_COMP || (uint32_t)dd.len8 * 8u != RING_ALIGN8(len) || dd.offset8 != 2)
      return STATUS_DATA_ERROR;
    struct kmcl_packet *c = pkt_new_comp(ch, len);
    if (!c)
      return STATUS_INSUFFICIENT_RESOURCES;
    memcpy(c->pk_buf, d, len);
    c->pk_len = len;
    pkt_enqueue_restored(ch, c);
    return STATUS_SUCCESS;
  }
  default:
    return STATUS_DATA_ERROR;
  }
}

/** One chunk at b[0..n); *used = its size. */
static NTSTATUS restore_chunk(struct kmcl_channel *ch, const uint8_t *b, uint32_t n, uint32_t *used,
                              bool *last) {
  uint32_t magic, seq, plen, sum;
  uint16_t ver, fl;
  if (n < SAVE_HDR)
    return STATUS_DATA_ERROR;
  memcpy(&magic, b, 4);
  memcpy(&ver, b + 4, 2);
  memcpy(&fl, b + 6, 2);
  memcpy(&seq, b + 8, 4);
  memcpy(&plen, b + 12, 4);
  memcpy(&sum, b + 16, 4);
  if (magic != SAVE_MAGIC)
    return STATUS_DATA_ERROR;
  if (ver != SAVE_VERSION)
    return STATUS_REVISION_MISMATCH;
  if (plen > n - SAVE_HDR || seq != ch->ch_restore_seq || (fl & ~SAVE_FLAG_LAST))
    return STATUS_DATA_ERROR;
  const uint8_t *p = b + SAVE_HDR;
  if (save_fnv(p, plen) != sum)
    return STATUS_DATA_ERROR;
  /* The first chunk starts with the channel record. */
  for (uint32_t pos = 0; pos < plen;) {
    uint16_t type;
    uint32_t dlen;
    if (plen - pos < SREC_HDR)
      return STATUS_DATA_ERROR;
    memcpy(&type, p + pos, 2);
    memcpy(&dlen, p + pos + 4, 4);
    if (dlen > plen - pos - SREC_HDR)
      return STATUS_DATA_ERROR;
    if ((seq == 0 && pos == 0) != (type == SREC_CHANNEL))
      return STATUS_DATA_ERROR;
    NTSTATUS st = restore_record(ch, type, p + pos + SREC_HDR, dlen);
    if (!NT_SUCCESS(st))
      return st;
    uint32_t rlen = SREC_HDR + ((dlen + 7u) & ~7u);
    if (rlen > plen - pos)
      rlen = plen - pos;
    pos += rlen;
  }
  ch->ch_restore_seq++;
  *used = SAVE_HDR + plen;
  *last = (fl & SAVE_FLAG_LAST) != 0;
  return STATUS_SUCCESS;
}

NTSTATUS VmbChannelRestoreFromBuffer(VMBCHANNEL Channel, PVOID Buffer, ULONG BufferSize) {
  struct kmcl_channel *ch = Channel;
  if (!chan_valid(ch))
    return STATUS_INVALID_PARAMETER_1;
  if (!Buffer)
    return STATUS_INVALID_PARAMETER_2;
  if (ch->ch_conn != KC_DISABLED || ch->ch_save || ch->ch_restored)
    return STATUS_INVALID_DEVICE_STATE; /* section (e): on a Disabled channel */
  if (!ch->ch_xids) {
    ch->ch_xids = calloc(KMCL_XID_SLOTS, sizeof(*ch->ch_xids));
    if (!ch->ch_xids)
      return STATUS_INSUFFICIENT_RESOURCES;
  }
  const uint8_t *b = Buffer;
  uint32_t left = BufferSize;
  bool last = false;
  if (left == 0)
    return STATUS_DATA_ERROR;
  while (left && !last) {
    uint32_t used = 0;
    NTSTATUS st = restore_chunk(ch, b, left, &used, &last);
    if (!NT_SUCCESS(st)) {
      pr_err("kmcl %s: restore rejected chunk %u (status 0x%08x)\n", ch->ch_name,
             ch->ch_restore_seq, (unsigned)st);
      return st;
    }
    b += used;
    left -= used;
  }
  if (!last)
    return STATUS_MORE_PROCESSING_REQUIRED;
  ch->ch_restored = true;
  ch->ch_restore_seq = 0;
  return STATUS_SUCCESS;
}

NTSTATUS VmbPacketRestore(VMBPACKET PacketObject, PVOID Buffer, ULONG BufferSize) {
  struct kmcl_packet *p = PacketObject;
  if (!pkt_valid(p) || p->pk_state != KP_IDLE)
    return STATUS_INVALID_PARAMETER_1;
  if (!Buffer)
    return STATUS_INVALID_PARAMETER_2;
  struct save_pkt_lib h;
  if (BufferSize < sizeof(h))
    return STATUS_INVALID_PARAMETER_3;
  memcpy(&h, Buffer, sizeof(h));
  if (h.sp_magic != SAVE_PKT_MAGIC || h.sp_version != SAVE_VERSION ||
      h.sp_len != BufferSize - sizeof(h) || h.sp_len > p->pk_cap || h.sp_len < 16 ||
      (h.sp_state != KP_QUEUED && h.sp_state != KP_INFLIGHT))
    return STATUS_INVALID_PARAMETER_3;
  struct kmcl_channel *ch = p->pk_chan;
  if (ch->ch_conn != KC_DISABLED)
    return STATUS_INVALID_DEVICE_STATE;
  struct vmpacket_descriptor d;
  memcpy(&d, (const uint8_t *)Buffer + sizeof(h), sizeof(d));
  if ((uint32_t)d.len8 * 8u != RING_ALIGN8(h.sp_len) || d.trans_id != h.sp_tid)
    return STATUS_INVALID_PARAMETER_3;
  if (h.sp_tid && !pkt_xid_claim(ch, p, h.sp_tid))
    return STATUS_INVALID_PARAMETER_3; /* duplicate or out-of-range id */
  memcpy(p->pk_buf, (const uint8_t *)Buffer + sizeof(h), h.sp_len);
  p->pk_len = h.sp_len;
  p->pk_flags = h.sp_flags;
  p->pk_payload = h.sp_payload;
  if (h.sp_state == KP_INFLIGHT)
    p->pk_state = KP_INFLIGHT; /* already in the ring: wait for the completion */
  else
    pkt_enqueue_restored(ch, p);
  return STATUS_SUCCESS;
}
