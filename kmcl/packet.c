/* kmcl/packet.c: KMCL packets: outgoing packet objects (VMBPACKET), incoming
 * tokens (VMBPACKETCOMPLETION), transaction ids, the send queue and the
 * receive loop. KMCL-REFERENCE.md section (b); wire formats
 * PROTOCOL-REFERENCE.md section 3 (kmcl/vmbus_ring_proto.h).
 *
 * Outgoing: the whole wire packet is built into the packet object at send
 * time, then written to the ring or, when the ring is full or the channel is
 * not open, queued on ch_txq and written in order later (pending_send_sz
 * asks the peer to signal when space frees up). A packet that asks for a
 * completion holds a slot of the bounded transaction table; its trans_id is
 * (sequence << 32) | (slot + 1), so a completion naming a free slot or an
 * older sequence is detected (STYLE.md rule 5.6) and fails the channel.
 *
 * Incoming: each packet is copied out of the ring into a token of its own
 * (ring_read validates len8/offset8), parsed only from that copy, and
 * handed to EvtVmbChannelProcessPacket. Anything malformed is a sticky
 * channel failure (rule 5.7): processing stops, nothing crashes or loops.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/event.h"
#include "kernel/hw.h"
#include "kernel/log.h"
#include "kernel/page.h"
#include "kmcl/kmcl_priv.h"
#include "kmcl/kmcl_test.h"

uint32_t kmcl_live_packets;
uint32_t kmcl_live_tokens;

/** Packets read before publishing the read index mid-batch (policy). */
#define PKT_RX_COMMIT_EVERY 64u
/** Packets one DPC/work item run reads before yielding to the rest of the
 * event loop (policy, Linux NAPI's weight: a peer that writes without pause
 * cannot starve it). A count is no time bound: on hvhost each of our
 * signals lets the host write more before we return, so a run lasts as
 * long as the host takes to produce this many (1024 took seconds under
 * --peer-traffic). So a run also ends at the write index it began with,
 * and yields, after its first packet, as soon as a timer is due
 * (ev_timer_due). */
#define PKT_RX_BUDGET 64u
#define PKT_DESC ((uint32_t)sizeof(struct vmpacket_descriptor))

bool pkt_valid(const struct kmcl_packet *p) {
  return p && p->pk_magic == KMCL_PKT_MAGIC && chan_valid(p->pk_chan);
}

/* ---- live token set (D8) ----------------------------------------------------
 * A driver may hand back a token it already completed; that memory may be
 * freed. tok_valid looks the pointer up in this set of live tokens before
 * anything reads through it: open addressing, linear probing, backward-shift
 * deletion, grown by doubling at half load. */
static struct kmcl_incoming **tok_set;
static uint32_t tok_set_cap, tok_set_n;

static uint32_t tok_hash(const struct kmcl_incoming *t, uint32_t cap) {
  uint64_t v = (uint64_t)(uintptr_t)t;
  v ^= v >> 29;
  v *= 0x9e3779b97f4a7c15ull;
  return (uint32_t)(v >> 32) & (cap - 1);
}

static bool tok_set_has(const struct kmcl_incoming *t) {
  if (!t || !tok_set_cap)
    return false;
  for (uint32_t i = tok_hash(t, tok_set_cap);; i = (i + 1) & (tok_set_cap - 1)) {
    if (!tok_set[i])
      return false;
    if (tok_set[i] == t)
      return true;
  }
}

static int tok_set_add(struct kmcl_incoming *t) {
  if ((tok_set_n + 1) * 2 > tok_set_cap) {
    uint32_t ncap = tok_set_cap ? tok_set_cap * 2 : 64;
    struct kmcl_incoming **nt = calloc(ncap, sizeof(*nt));
    if (!nt)
      return -ENOMEM;
    for (uint32_t i = 0; i < tok_set_cap; i++) {
      if (!tok_set[i])
        continue;
      uint32_t j = tok_hash(tok_set[i], ncap);
      while (nt[j])
        j = (j + 1) & (ncap - 1);
      nt[j] = tok_set[i];
    }
    free(tok_set);
    tok_set = nt;
    tok_set_cap = ncap;
  }
  uint32_t i = tok_hash(t, tok_set_cap);
  while (tok_set[i])
    i = (i + 1) & (tok_set_cap - 1);
  tok_set[i] = t;
  tok_set_n++;
  return 0;
}

static void tok_set_del(const struct kmcl_incoming *t) {
  uint32_t m = tok_set_cap - 1, i = tok_hash(t, tok_set_cap);
  while (tok_set[i] != t) {
    if (!tok_set[i])
      return;
    i = (i + 1) & m;
  }
  tok_set[i] = NULL;
  tok_set_n--;
  /* Backward shift: re-place the entries of the cluster after the hole. */
  for (uint32_t j = (i + 1) & m; tok_set[j]; j = (j + 1) & m) {
    uint32_t h = tok_hash(tok_set[j], tok_set_cap);
    /* Entry j may move into hole i unless its home lies cyclically in (i, j]. */
    bool stays = (i <= j) ? (h > i && h <= j) : (h > i || h <= j);
    if (stays)
      continue;
    tok_set[i] = tok_set[j];
    tok_set[j] = NULL;
    i = j;
  }
  if (tok_set_n == 0) {
    free(tok_set);
    tok_set = NULL;
    tok_set_cap = 0;
  }
}

bool tok_valid(const struct kmcl_incoming *t) {
  return tok_set_has(t) && t->in_magic == KMCL_IN_MAGIC && chan_valid(t->in_chan);
}

/** Most pages an external-data description may name: the data plus one
 * extra page per chained MDL for a start that is not page aligned. */
static uint32_t pkt_max_ext_pages(const struct kmcl_channel *ch) {
  return ch->ch_max_ext / PAGE_SIZE + 2u * ch->ch_max_chain + 1u;
}

uint32_t pkt_buf_cap(const struct kmcl_channel *ch) {
  uint64_t n = PKT_DESC + 8u /* GPA direct header */ + KMCL_PIPE_HDR_SIZE +
               8ull * ch->ch_max_chain + 8ull * pkt_max_ext_pages(ch) + ch->ch_max_pkt;
  n = (n + 7u) & ~7ull;
  return n > VMBUS_PKT_MAX_LEN ? VMBUS_PKT_MAX_LEN : (uint32_t)n;
}

/* ---- packet objects --------------------------------------------------------- */

UINT32 VmbChannelSizeofPacket(VMBCHANNEL Channel) {
  if (!chan_valid(Channel))
    return 0;
  return (UINT32)(sizeof(struct kmcl_packet) + pkt_buf_cap(Channel));
}

static void pkt_default_done(VMBPACKET Packet, NTSTATUS Status, PVOID Buffer, UINT32 Len) {
  (void)Status;
  (void)Buffer;
  (void)Len;
  VmbPacketFree(Packet);
}

static void pkt_init(struct kmcl_packet *p, struct kmcl_channel *ch, uint32_t cap) {
  memset(p, 0, sizeof(*p));
  p->pk_magic = KMCL_PKT_MAGIC;
  p->pk_chan = ch;
  p->pk_cap = cap;
  p->pk_state = KP_IDLE;
}

VMBPACKET VmbPacketAllocate(VMBCHANNEL Channel) {
  struct kmcl_channel *ch = Channel;
  if (!chan_valid(ch))
    return NULL;
  struct kmcl_packet *p = STAILQ_FIRST(&ch->ch_pool);
  uint32_t cap = pkt_buf_cap(ch);
  if (p) {
    STAILQ_REMOVE_HEAD(&ch->ch_pool, pk_link);
    ch->ch_pool_len--;
  } else {
    p = malloc(sizeof(*p) + cap);
    if (!p)
      return NULL;
    kmcl_live_packets++;
  }
  pkt_init(p, ch, cap);
  p->pk_pooled = true;
  p->pk_done = pkt_default_done;
  ch->ch_pkts_live++;
  return p;
}

NTSTATUS VmbPacketInitialize(VMBCHANNEL Channel, VMBPACKET VmbPacket, UINT32 ByteCount) {
  struct kmcl_channel *ch = Channel;
  if (!chan_valid(ch))
    return STATUS_INVALID_PARAMETER_1;
  if (!VmbPacket || ((uintptr_t)VmbPacket & 7u))
    return STATUS_INVALID_PARAMETER_2;
  if (ByteCount <= ch->ch_max_pkt + sizeof(PVOID) || ByteCount < VmbChannelSizeofPacket(ch))
    return STATUS_INVALID_PARAMETER_3;
  pkt_init(VmbPacket, ch, ByteCount - (uint32_t)sizeof(struct kmcl_packet));
  /* The completion routine is invalid until set (reference 2.5). */
  return STATUS_SUCCESS;
}

/** Give a pooled packet back (to the lookaside list or the heap). */
static void pkt_release(struct kmcl_packet *p) {
  struct kmcl_channel *ch = p->pk_chan;
  p->pk_state = KP_FREE;
  if (p->pk_pooled && !p->pk_comp && !p->pk_sync)
    ch->ch_pkts_live--;
  if (ch->ch_pool_len < KMCL_POOL_KEEP && p->pk_cap == pkt_buf_cap(ch)) {
    STAILQ_INSERT_HEAD(&ch->ch_pool, p, pk_link);
    ch->ch_pool_len++;
    return;
  }
  p->pk_magic = 0;
  kmcl_live_packets--;
  free(p);
}

VOID VmbPacketFree(VMBPACKET VmbPacket) {
  struct kmcl_packet *p = VmbPacket;
  if (!pkt_valid(p) || p->pk_state == KP_FREE) {
    pr_err("kmcl: VmbPacketFree of an invalid or free packet %p\n", (void *)p);
    return;
  }
  if (p->pk_state != KP_IDLE) {
    pr_err("kmcl %s: VmbPacketFree of a packet in flight; ignored\n", p->pk_chan->ch_name);
    return;
  }
  if (!p->pk_pooled) {
    /* Caller memory (VmbPacketInitialize): only forget it. */
    p->pk_magic = 0;
    return;
  }
  pkt_release(p);
}

VOID VmbPacketSetCompletionRoutine(VMBPACKET PacketObject,
                                   PFN_VMB_PACKET_COMPLETION_ROUTINE CompletionRoutine) {
  if (pkt_valid(PacketObject))
    PacketObject->pk_done = CompletionRoutine;
}

VOID FASTCALL VmbPacketSetPointer(VMBPACKET PacketObject, PVOID Pointer) {
  if (pkt_valid(PacketObject))
    PacketObject->pk_ptr = Pointer;
}

PVOID FASTCALL VmbPacketGetPointer(VMBPACKET PacketObject) {
  return pkt_valid(PacketObject) ? PacketObject->pk_ptr : NULL;
}

VMBCHANNEL FASTCALL VmbPacketGetChannel(VMBPACKET PacketObject) {
  return pkt_valid(PacketObject) ? PacketObject->pk_chan : NULL;
}

/* ---- transaction table ------------------------------------------------------ */

bool pkt_xid_alloc(struct kmcl_channel *ch, struct kmcl_packet *p) {
  if (!ch->ch_xids || ch->ch_xid_busy >= KMCL_XID_SLOTS)
    return false;
  for (uint32_t n = 0; n < KMCL_XID_SLOTS; n++) {
    uint32_t i = (ch->ch_xid_hint + n) % KMCL_XID_SLOTS;
    if (ch->ch_xids[i].xs_pkt)
      continue;
    ch->ch_xid_seq++;
    p->pk_slot = i + 1;
    p->pk_tid = ((uint64_t)ch->ch_xid_seq << 32) | (i + 1);
    ch->ch_xids[i].xs_pkt = p;
    ch->ch_xids[i].xs_tid = p->pk_tid;
    ch->ch_xid_busy++;
    ch->ch_xid_hint = i + 1;
    return true;
  }
  return false;
}

bool pkt_xid_claim(struct kmcl_channel *ch, struct kmcl_packet *p, uint64_t tid) {
  uint32_t slot = (uint32_t)tid;
  if (!ch->ch_xids || slot == 0 || slot > KMCL_XID_SLOTS || ch->ch_xids[slot - 1].xs_pkt)
    return false;
  ch->ch_xids[slot - 1].xs_pkt = p;
  ch->ch_xids[slot - 1].xs_tid = tid;
  ch->ch_xid_busy++;
  p->pk_slot = slot;
  p->pk_tid = tid;
  if ((uint32_t)(tid >> 32) > ch->ch_xid_seq)
    ch->ch_xid_seq = (uint32_t)(tid >> 32);
  return true;
}

static void pkt_xid_free(struct kmcl_channel *ch, struct kmcl_packet *p) {
  if (!p->pk_slot)
    return;
  ch->ch_xids[p->pk_slot - 1].xs_pkt = NULL;
  ch->ch_xids[p->pk_slot - 1].xs_tid = 0;
  ch->ch_xid_busy--;
  p->pk_slot = 0;
}

/* ---- completion routines ---------------------------------------------------- */

static void pkt_done_push(struct kmcl_channel *ch, struct kmcl_packet *p, NTSTATUS st) {
  p->pk_status = st;
  p->pk_state = KP_DONE_WAIT;
  STAILQ_INSERT_TAIL(&ch->ch_done, p, pk_link);
}

/** Deliver one completion: the packet becomes idle first, so the routine
 * may send it again or free it. Internal packets are released here. */
static void pkt_finish(struct kmcl_packet *p, NTSTATUS st, void *buf, uint32_t len) {
  p->pk_state = KP_IDLE;
  if (p->pk_comp || p->pk_orphan) {
    pkt_release(p);
    return;
  }
  if (p->pk_done)
    p->pk_done(p, st, buf, len);
}

void pkt_run_done(struct kmcl_channel *ch) {
  struct kmcl_packet *p;
  while ((p = STAILQ_FIRST(&ch->ch_done)) != NULL) {
    STAILQ_REMOVE_HEAD(&ch->ch_done, pk_link);
    kmcl_dispatch_depth++;
    pkt_finish(p, p->pk_status, NULL, 0);
    kmcl_dispatch_depth--;
  }
}

/* ---- send ------------------------------------------------------------------- */

/** A wire packet of `len` bytes can never fit the outgoing ring (ring.h: a
 * packet needs strictly less than the data area). */
static bool pkt_never_fits(const struct kmcl_channel *ch, uint32_t len) {
  return RING_PKT_SPACE((uint64_t)len) >= ch->ch_out.r_size;
}

/**
 * Write queued packets into the outgoing ring in order until it is full.
 * On a full ring the head's size goes to pending_send_sz so that the peer
 * signals once enough space is free (ring.h); the DPC then drains again.
 * Packets without a completion request complete once written. While the
 * channel is paused only completions at the head of the queue are written,
 * and nothing from SaveBegin until the channel runs or closes (D1: a save
 * must see exactly what is in the ring and what is not). A packet queued before the open that
 * the peer's ring can never carry completes with STATUS_INVALID_BUFFER_SIZE
 * (D3), the channel stays healthy.
 */
void pkt_tx_drain(struct kmcl_channel *ch) {
  bool sig = false, done = false;
  unsigned retries = 0;
  struct kmcl_packet *p;
  if (ch->ch_save || ch->ch_saved)
    return; /* D1: the saved queue is what the restored channel will send */
  while ((p = STAILQ_FIRST(&ch->ch_txq)) != NULL && ch->ch_rings_up && !ch->ch_fail) {
    if (ch->ch_paused && !p->pk_comp)
      break; /* D1: paused, no new I/O; completions owed for old I/O still go */
    if (pkt_never_fits(ch, p->pk_len)) {
      STAILQ_REMOVE_HEAD(&ch->ch_txq, pk_link);
      ch->ch_txq_len--;
      pr_warn("kmcl %s: queued packet of %u bytes cannot fit the peer's ring; failed\n",
              ch->ch_name, p->pk_len);
      pkt_xid_free(ch, p);
      pkt_done_push(ch, p, STATUS_INVALID_BUFFER_SIZE);
      done = true;
      continue;
    }
    struct ring_iov iov = {p->pk_buf, p->pk_len};
    bool need = false;
    int rc = ring_write(&ch->ch_out, &iov, 1, &need);
    if (rc == -EAGAIN) {
      ch->ch_pending_armed = true;
      if (ring_set_pending_send(&ch->ch_out, RING_PKT_SPACE(p->pk_len)) && retries++ < 2)
        continue; /* the peer drained meanwhile */
      break;
    }
    if (rc) {
      chan_fail(ch, rc, "outgoing ring write failed");
      break;
    }
    sig |= need;
    STAILQ_REMOVE_HEAD(&ch->ch_txq, pk_link);
    ch->ch_txq_len--;
    if (p->pk_slot) {
      p->pk_state = KP_INFLIGHT;
    } else {
      pkt_done_push(ch, p, STATUS_SUCCESS);
      done = true;
    }
  }
  if (STAILQ_EMPTY(&ch->ch_txq) && ch->ch_pending_armed && ch->ch_rings_up) {
    ring_set_pending_send(&ch->ch_out, 0);
    ch->ch_pending_armed = false;
  }
  if (sig)
    chan_signal(ch);
  if (done)
    chan_kick(ch);
}

static void pkt_enqueue(struct kmcl_channel *ch, struct kmcl_packet *p) {
  p->pk_state = KP_QUEUED;
  STAILQ_INSERT_TAIL(&ch->ch_txq, p, pk_link);
  ch->ch_txq_len++;
}

static bool pkt_txq_remove(struct kmcl_channel *ch, struct kmcl_packet *p) {
  for (struct kmcl_packet *c = STAILQ_FIRST(&ch->ch_txq); c; c = STAILQ_NEXT(c, pk_link)) {
    if (c != p)
      continue;
    STAILQ_REMOVE(&ch->ch_txq, c, kmcl_packet, pk_link);
    ch->ch_txq_len--;
    return true;
  }
  return false;
}

struct kmcl_packet *pkt_new_comp(struct kmcl_channel *ch, uint32_t len) {
  struct kmcl_packet *c = malloc(sizeof(*c) + RING_ALIGN8(len));
  if (!c)
    return NULL;
  kmcl_live_packets++;
  pkt_init(c, ch, RING_ALIGN8(len));
  c->pk_comp = true;
  return c;
}

void pkt_enqueue_restored(struct kmcl_channel *ch, struct kmcl_packet *p) { pkt_enqueue(ch, p); }

/** Queue p and write what fits now (only when open: "before Opened and
 * after Closed, packets are queued but not sent"). */
static void pkt_submit(struct kmcl_channel *ch, struct kmcl_packet *p) {
  pkt_enqueue(ch, p);
  if (chan_tx_enabled(ch))
    pkt_tx_drain(ch);
}

/** External data described for the wire: GPA ranges appended to p. */
struct pkt_ext {
  PMDL mdl;
  uint32_t mdl_off, mdl_len;
  bool force_len; /* FORCE_MDL_LENGTH: first MDL only, length may round up */
  const PFN_NUMBER *pfns;
  uint32_t npfn;
};

/** Append one GPA range {count, offset, pfns} at *pos; false when it does
 * not fit in cap. */
static bool pkt_put_range(uint8_t *buf, uint32_t *pos, uint32_t cap, uint32_t count,
                          uint32_t offset, const PFN_NUMBER *pfns, uint32_t npfn) {
  uint64_t need = 8ull + 8ull * npfn;
  if (need > cap - *pos)
    return false;
  struct vmbus_gpa_range r = {count, offset};
  memcpy(buf + *pos, &r, sizeof(r));
  memcpy(buf + *pos + 8, pfns, 8ull * npfn);
  *pos += (uint32_t)need;
  return true;
}

/** Serialize an MDL chain (or a sub-range of it) as GPA ranges. Returns
 * the range count, or -1 for a bad description. */
static int pkt_put_mdl(struct kmcl_channel *ch, const struct pkt_ext *e, uint8_t *buf,
                       uint32_t *pos, uint32_t cap) {
  uint64_t skip = e->mdl_off, left = e->mdl_len, total = 0;
  bool to_end = e->mdl_len == 0;
  uint32_t ranges = 0;
  for (PMDL m = e->mdl; m; m = e->force_len ? NULL : m->Next) {
    uint64_t count = m->ByteCount;
    uint32_t pages_in_mdl = kmcl_mdl_page_count(m);
    if (e->force_len) {
      /* Only the first MDL; the length may exceed ByteCount only up to the
       * end of its last page (reference 2.5). */
      count = (uint64_t)pages_in_mdl * PAGE_SIZE - m->ByteOffset;
      if (to_end)
        left = m->ByteCount > skip ? m->ByteCount - skip : 0;
    }
    if (skip >= count) {
      skip -= count;
      continue;
    }
    uint64_t start = (uint64_t)m->ByteOffset + skip;
    uint64_t n = count - skip;
    if (!to_end || e->force_len)
      n = n < left ? n : left;
    skip = 0;
    if (n == 0)
      break;
    uint32_t first = (uint32_t)(start / PAGE_SIZE);
    uint32_t off = (uint32_t)(start % PAGE_SIZE);
    uint32_t np = (uint32_t)((off + n + PAGE_SIZE - 1) / PAGE_SIZE);
    if (first + np > pages_in_mdl + (e->force_len ? 1u : 0u) || first + np > pages_in_mdl)
      return -1;
    if (++ranges > ch->ch_max_chain)
      return -1;
    if (!pkt_put_range(buf, pos, cap, (uint32_t)n, off, m->PfnArray + first, np))
      return -1;
    total += n;
    if (!to_end || e->force_len) {
      left -= n;
      if (left == 0)
        break;
    }
  }
  if (ranges == 0 || total > ch->ch_max_ext || (!to_end && left != 0))
    return -1;
  return (int)ranges;
}

/** The packet object a send is given: valid, not freed, and with its
 * completion routine set (reference 2.5). Parameter 1 of every send. */
static bool pkt_send_obj_ok(const struct kmcl_packet *p) {
  return pkt_valid(p) && p->pk_state != KP_FREE && p->pk_done;
}

/** When flags ask the peer for a completion, give p a transaction slot and
 * mark its descriptor d (COMPLETION_REQUESTED, trans_id); otherwise p has
 * none. False when the transaction table is full. */
static bool pkt_want_completion(struct kmcl_channel *ch, struct kmcl_packet *p, uint32_t flags,
                                struct vmpacket_descriptor *d) {
  p->pk_slot = 0;
  p->pk_tid = 0;
  if (!(flags & VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION))
    return true;
  if (!pkt_xid_alloc(ch, p))
    return false;
  d->flags = VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED;
  d->trans_id = p->pk_tid;
  return true;
}

/**
 * Build and send one packet (all VmbPacketSend* variants).
 * @ret STATUS_SUCCESS (written or queued), or the error for a bad argument;
 *      nothing is queued on error.
 */
static NTSTATUS pkt_send(struct kmcl_packet *p, const void *buf, uint32_t len,
                         const struct pkt_ext *e, uint32_t flags) {
  if (!pkt_send_obj_ok(p))
    return STATUS_INVALID_PARAMETER_1;
  struct kmcl_channel *ch = p->pk_chan;
  if (len && !buf)
    return STATUS_INVALID_PARAMETER_2;
  if (len > ch->ch_max_pkt)
    return STATUS_INVALID_PARAMETER_3;
  if (flags & ~VMBUS_CHANNEL_FORMAT_FLAGS)
    return STATUS_INVALID_PARAMETER;
  bool ext = e && (e->mdl || e->pfns);
  if (ext && !(flags & VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION))
    return STATUS_INVALID_PARAMETER; /* section (e), Q13 */
  bool pipe = (ch->ch_init_flags & VMBUS_CHANNEL_INIT_FLAG_IS_PIPE) != 0;
  if (pipe && ext)
    return STATUS_NOT_SUPPORTED; /* pipes carry no memory descriptors */
  if (p->pk_state != KP_IDLE)
    return STATUS_INVALID_DEVICE_STATE;

  uint8_t *w = p->pk_buf;
  uint32_t pos = PKT_DESC;
  struct vmpacket_descriptor d;
  memset(&d, 0, sizeof(d));
  memset(w, 0, PKT_DESC + 8u); /* rule 5.8: no stale bytes in headers */
  if (ext) {
    d.type = VM_PKT_DATA_USING_GPA_DIRECT;
    pos += 8; /* reserved, range_cnt */
    int ranges;
    if (e->pfns) {
      ranges = 1;
      if (e->npfn > pkt_max_ext_pages(ch) || (uint64_t)e->npfn * PAGE_SIZE > ch->ch_max_ext ||
          !pkt_put_range(w, &pos, p->pk_cap, e->npfn * PAGE_SIZE, 0, e->pfns, e->npfn))
        return STATUS_INVALID_PARAMETER;
    } else {
      ranges = pkt_put_mdl(ch, e, w, &pos, p->pk_cap);
      if (ranges < 0)
        return STATUS_INVALID_PARAMETER;
    }
    struct vmbus_gpa_direct_header h;
    memset(&h, 0, sizeof(h));
    h.range_cnt = (uint32_t)ranges;
    memcpy(w + PKT_DESC, (const uint8_t *)&h + PKT_DESC, 8);
  } else {
    d.type = VM_PKT_DATA_INBAND;
  }
  d.offset8 = (uint16_t)(pos / 8u);
  if (pipe) {
    uint32_t ph[2] = {KMCL_PIPE_TYPE_DATA, len};
    memcpy(w + pos, ph, sizeof(ph));
    pos += KMCL_PIPE_HDR_SIZE;
  }
  if ((uint64_t)pos + len > p->pk_cap)
    return STATUS_INVALID_PARAMETER;
  if (len)
    memcpy(w + pos, buf, len); /* copied now: PAGED_BUFFER needs nothing more */
  pos += len;
  d.len8 = (uint16_t)(RING_ALIGN8(pos) / 8u);
  p->pk_flags = flags;
  p->pk_payload = len;
  /* D3: a packet the peer's ring can never carry fails here, not later. */
  if (ch->ch_rings_up && pkt_never_fits(ch, pos))
    return STATUS_INVALID_BUFFER_SIZE;
  if (!pkt_want_completion(ch, p, flags, &d))
    return STATUS_INSUFFICIENT_RESOURCES;
  memcpy(w, &d, sizeof(d));
  p->pk_len = pos;
  pkt_submit(ch, p);
  return STATUS_SUCCESS;
}

NTSTATUS VmbPacketSend(VMBPACKET PacketObject, PVOID Buffer, UINT32 BufferLength,
                       PMDL ExternalDataMdl, UINT32 Flags) {
  if (Flags & VMBUS_CHANNEL_FORMAT_FLAG_FORCE_MDL_LENGTH)
    return STATUS_INVALID_PARAMETER; /* only for SendWithExternalMdl */
  struct pkt_ext e = {ExternalDataMdl, 0, 0, false, NULL, 0};
  return pkt_send(PacketObject, Buffer, BufferLength, ExternalDataMdl ? &e : NULL, Flags);
}

NTSTATUS VmbPacketSendWithExternalMdl(VMBPACKET PacketObject, PVOID Buffer, UINT32 BufferLength,
                                      PMDL ExternalDataMdl, UINT32 MdlOffset, UINT32 MdlLength,
                                      UINT32 Flags) {
  if (!ExternalDataMdl || !(Flags & VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION))
    return pkt_valid(PacketObject) ? STATUS_INVALID_PARAMETER : STATUS_INVALID_PARAMETER_1;
  bool force = (Flags & VMBUS_CHANNEL_FORMAT_FLAG_FORCE_MDL_LENGTH) != 0;
  struct pkt_ext e = {ExternalDataMdl, MdlOffset, MdlLength, force, NULL, 0};
  return pkt_send(PacketObject, Buffer, BufferLength, &e, Flags);
}

NTSTATUS VmbPacketSendWithExternalPfns(VMBPACKET PacketObject, PVOID Buffer, UINT32 BufferLength,
                                       PPFN_NUMBER ExternalDataPfns, UINT32 PfnLength,
                                       UINT32 Flags) {
  if (!ExternalDataPfns || PfnLength == 0 ||
      (Flags & (VMBUS_CHANNEL_FORMAT_FLAG_FORCE_MDL_LENGTH |
                VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION)) !=
          VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION)
    return pkt_valid(PacketObject) ? STATUS_INVALID_PARAMETER : STATUS_INVALID_PARAMETER_1;
  struct pkt_ext e = {NULL, 0, 0, false, ExternalDataPfns, PfnLength};
  return pkt_send(PacketObject, Buffer, BufferLength, &e, Flags);
}

NTSTATUS kmcl_packet_send_xfer_pages(VMBPACKET PacketObject, UINT16 PagesetId,
                                     const struct vmtransfer_page_range *Ranges, UINT32 RangeCount,
                                     PVOID Buffer, UINT32 BufferLength, UINT32 Flags) {
  struct kmcl_packet *p = PacketObject;
  if (!pkt_send_obj_ok(p))
    return STATUS_INVALID_PARAMETER_1;
  struct kmcl_channel *ch = p->pk_chan;
  if (!Ranges || RangeCount == 0 || RangeCount > 64 || (BufferLength && !Buffer))
    return STATUS_INVALID_PARAMETER;
  if (BufferLength > ch->ch_max_pkt || (Flags & ~VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION))
    return STATUS_INVALID_PARAMETER;
  if (ch->ch_init_flags & VMBUS_CHANNEL_INIT_FLAG_IS_PIPE)
    return STATUS_NOT_SUPPORTED;
  if (p->pk_state != KP_IDLE)
    return STATUS_INVALID_DEVICE_STATE;
  uint32_t hdr = (uint32_t)sizeof(struct vmtransfer_page_packet_header) + 8u * RangeCount;
  uint64_t total = (uint64_t)hdr + BufferLength;
  if (RING_ALIGN8(total) > p->pk_cap)
    return STATUS_INVALID_PARAMETER;
  if (ch->ch_rings_up && pkt_never_fits(ch, (uint32_t)total))
    return STATUS_INVALID_BUFFER_SIZE;
  struct vmtransfer_page_packet_header h;
  memset(&h, 0, sizeof(h));
  h.d.type = VM_PKT_DATA_USING_XFER_PAGES;
  h.d.offset8 = (uint16_t)(hdr / 8u);
  h.d.len8 = (uint16_t)(RING_ALIGN8(total) / 8u);
  h.xfer_pageset_id = PagesetId;
  h.sender_owns_set = 1;
  h.range_cnt = RangeCount;
  if (!pkt_want_completion(ch, p, Flags, &h.d))
    return STATUS_INSUFFICIENT_RESOURCES;
  memset(p->pk_buf, 0, RING_ALIGN8(total)); /* rule 5.8: no stale bytes */
  memcpy(p->pk_buf, &h, sizeof(h));
  memcpy(p->pk_buf + sizeof(h), Ranges, 8ull * RangeCount);
  if (BufferLength)
    memcpy(p->pk_buf + hdr, Buffer, BufferLength);
  p->pk_flags = Flags;
  p->pk_payload = BufferLength;
  p->pk_len = (uint32_t)total;
  pkt_submit(ch, p);
  return STATUS_SUCCESS;
}

int kmcl_test_send_raw(VMBCHANNEL Channel, const void *pkt, uint32_t len) {
  struct kmcl_channel *ch = Channel;
  if (!chan_valid(ch) || !kmcl_channel_is_open(ch))
    return -ENODEV;
  if (!pkt || len < PKT_DESC || len > VMBUS_PKT_MAX_LEN)
    return -EINVAL;
  struct kmcl_packet *c = pkt_new_comp(ch, len); /* freed once written */
  if (!c)
    return -ENOMEM;
  memset(c->pk_buf, 0, RING_ALIGN8(len));
  memcpy(c->pk_buf, pkt, len);
  c->pk_len = len;
  pkt_submit(ch, c);
  return 0;
}

void pkt_cancel_inflight(struct kmcl_channel *ch) {
  for (uint32_t i = 0; ch->ch_xids && i < KMCL_XID_SLOTS && ch->ch_xid_busy; i++) {
    struct kmcl_packet *p = ch->ch_xids[i].xs_pkt;
    if (!p || p->pk_state != KP_INFLIGHT)
      continue;
    pkt_xid_free(ch, p);
    pkt_done_push(ch, p, STATUS_CANCELLED);
  }
  pkt_run_done(ch);
}

void pkt_cancel_all(struct kmcl_channel *ch) {
  struct kmcl_packet *p;
  while ((p = STAILQ_FIRST(&ch->ch_txq)) != NULL) {
    STAILQ_REMOVE_HEAD(&ch->ch_txq, pk_link);
    ch->ch_txq_len--;
    pkt_xid_free(ch, p);
    pkt_done_push(ch, p, STATUS_CANCELLED);
  }
  for (uint32_t i = 0; ch->ch_xids && i < KMCL_XID_SLOTS && ch->ch_xid_busy; i++) {
    p = ch->ch_xids[i].xs_pkt;
    if (!p)
      continue;
    pkt_xid_free(ch, p);
    pkt_done_push(ch, p, STATUS_CANCELLED);
  }
  pkt_run_done(ch);
}

/* ---- synchronous requests ---------------------------------------------------- */

struct pkt_sync {
  bool ps_done;
  NTSTATUS ps_status;
  uint8_t *ps_buf;
  uint32_t ps_cap;
  uint32_t ps_len;
  bool ps_truncated;
};

static void pkt_sync_done(VMBPACKET Packet, NTSTATUS Status, PVOID Buffer, UINT32 Len) {
  struct pkt_sync *s = Packet->pk_ptr;
  s->ps_status = Status;
  if (Buffer && s->ps_buf) {
    uint32_t n = Len < s->ps_cap ? Len : s->ps_cap;
    memcpy(s->ps_buf, Buffer, n);
    s->ps_len = n;
    s->ps_truncated = n < Len;
  }
  s->ps_done = true;
}

static bool pkt_sync_is_done(void *arg) { return ((struct pkt_sync *)arg)->ps_done; }

/** Timeout in KeWaitForSingleObject form to milliseconds: NULL = forever
 * (UINT64_MAX), negative = relative 100 ns units, positive = absolute in
 * 100 ns units of hw_now_ns() (no wall clock here), 0 = do not wait. */
static uint64_t pkt_timeout_ms(const LARGE_INTEGER *t) {
  if (!t)
    return UINT64_MAX;
  if (t->QuadPart < 0)
    return ((uint64_t)(-(t->QuadPart + 1)) + 1u + 9999u) / 10000u;
  uint64_t now100 = hw_now_ns() / 100u;
  if (t->QuadPart == 0 || (uint64_t)t->QuadPart <= now100)
    return 0;
  return ((uint64_t)t->QuadPart - now100 + 9999u) / 10000u;
}

/** Cancel an unfinished synchronous request: a queued packet leaves the
 * queue; an in-flight one keeps its transaction slot (a late completion is
 * then absorbed, not an unknown id) and is freed when it completes. */
static void pkt_sync_cancel(struct kmcl_channel *ch, struct kmcl_packet *p) {
  if (p->pk_state == KP_QUEUED && pkt_txq_remove(ch, p)) {
    pkt_xid_free(ch, p);
    p->pk_state = KP_IDLE;
    pkt_release(p);
    return;
  }
  if (p->pk_state == KP_DONE_WAIT) {
    p->pk_orphan = true; /* freed when the done list runs */
    return;
  }
  p->pk_orphan = true;
}

/** The fire-and-forget form after pkt_send accepted p: a packet that did
 * not fit (queued) is taken back, STATUS_BUFFER_OVERFLOW; a written one is
 * left to the done list, which frees it, STATUS_SUCCESS with no completion
 * bytes. */
static NTSTATUS pkt_sync_sent_nowait(struct kmcl_channel *ch, struct kmcl_packet *p,
                                     PUINT32 CompletionBufferSize) {
  if (p->pk_state == KP_QUEUED) { /* did not fit */
    pkt_txq_remove(ch, p);
    p->pk_state = KP_IDLE;
    pkt_release(p);
    return STATUS_BUFFER_OVERFLOW;
  }
  /* Written; the completion routine frees it from the done list. */
  p->pk_orphan = true;
  if (CompletionBufferSize)
    *CompletionBufferSize = 0;
  return STATUS_SUCCESS;
}

/** Wait up to ms milliseconds (UINT64_MAX: until done or the channel goes)
 * for the completion of the sent request p, whose pkt_sync_done fills *s;
 * free or cancel p; store the completion's length; return the request's
 * status. */
static NTSTATUS pkt_sync_wait(struct kmcl_channel *ch, struct kmcl_packet *p, struct pkt_sync *s,
                              uint64_t ms, PUINT32 CompletionBufferSize) {
  /* Bounded slices, so that a channel going away ends a long wait. */
  int rc;
  do {
    rc = chan_wait(pkt_sync_is_done, s, ms > 1000u ? 1000u : ms);
    if (ms != UINT64_MAX)
      ms = ms > 1000u ? ms - 1000u : 0;
  } while (rc && ms && ch->ch_conn != KC_DISABLED);
  if (!s->ps_done) {
    pkt_sync_cancel(ch, p);
    if (CompletionBufferSize)
      *CompletionBufferSize = 0;
    return (ch->ch_conn == KC_DISABLED || ch->ch_conn == KC_CLOSING) ? STATUS_DEVICE_REMOVED
                                                                     : STATUS_CANCELLED;
  }
  pkt_release(p);
  if (CompletionBufferSize)
    *CompletionBufferSize = s->ps_len;
  if (s->ps_status == STATUS_CANCELLED)
    return STATUS_DEVICE_REMOVED; /* cancelled by the channel closing */
  if (s->ps_truncated)
    return STATUS_BUFFER_OVERFLOW;
  return s->ps_status;
}

NTSTATUS VmbChannelSendSynchronousRequest(VMBCHANNEL Channel, PVOID Buffer, UINT32 BufferSize,
                                          PMDL ExternalDataMdl, UINT32 Flags,
                                          PVOID CompletionBuffer, PUINT32 CompletionBufferSize,
                                          PLARGE_INTEGER Timeout) {
  struct kmcl_channel *ch = Channel;
  if (!chan_valid(ch))
    return STATUS_INVALID_PARAMETER_1;
  if (Flags & ~VMBUS_CHANNEL_FORMAT_FLAGS)
    return STATUS_INVALID_PARAMETER;
  if (CompletionBufferSize && (*CompletionBufferSize % 8u))
    return STATUS_INVALID_PARAMETER;
  if (CompletionBufferSize && *CompletionBufferSize && !CompletionBuffer)
    return STATUS_INVALID_PARAMETER;
  uint64_t ms = pkt_timeout_ms(Timeout);
  /* D10: the call "waits for the response": whenever it waits at all, the
   * peer is asked for a completion even without WAIT_FOR_COMPLETION. Only
   * a zero timeout without the flag is fire-and-forget (the root's form). */
  if (ms != 0)
    Flags |= VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION;
  bool wait_comp = (Flags & VMBUS_CHANNEL_FORMAT_FLAG_WAIT_FOR_COMPLETION) != 0;
  bool blocks = ms != 0 || wait_comp;
  /* Blocking is passive-only, and never from Started (reference 2.5). */
  if (blocks && (kmcl_dispatch_depth || ch->ch_cb == KCB_STARTED || ch->ch_cb == KCB_OPENED))
    return STATUS_INVALID_DEVICE_STATE;
  if (ch->ch_conn == KC_DISABLED || ch->ch_conn == KC_CLOSING || ch->ch_fail)
    return STATUS_DEVICE_REMOVED;

  struct kmcl_packet *p = VmbPacketAllocate(ch);
  if (!p)
    return STATUS_INSUFFICIENT_RESOURCES;
  ch->ch_pkts_live--; /* internal: not the driver's */
  p->pk_sync = true;
  struct pkt_sync s = {
      false, STATUS_SUCCESS, CompletionBuffer, CompletionBufferSize ? *CompletionBufferSize : 0,
      0,     false};
  p->pk_ptr = &s;
  p->pk_done = pkt_sync_done;

  if (ms == 0 && !wait_comp) {
    /* Do not wait: written now or not at all (not queued). */
    if (ch->ch_conn != KC_OPEN || !ch->ch_rings_up || ch->ch_paused || !STAILQ_EMPTY(&ch->ch_txq)) {
      pkt_release(p);
      return STATUS_BUFFER_OVERFLOW;
    }
  }
  NTSTATUS st = pkt_send(
      p, Buffer, BufferSize,
      ExternalDataMdl ? &(struct pkt_ext){ExternalDataMdl, 0, 0, false, NULL, 0} : NULL, Flags);
  if (!NT_SUCCESS(st)) {
    pkt_release(p);
    return st;
  }
  if (ms == 0 && !wait_comp)
    return pkt_sync_sent_nowait(ch, p, CompletionBufferSize);
  return pkt_sync_wait(ch, p, &s, ms, CompletionBufferSize);
}

/* ---- incoming --------------------------------------------------------------- */

static void tok_free(struct kmcl_incoming *t) {
  gpadl_mdl_chain_free(t->in_mdl);
  tok_set_del(t);
  t->in_magic = 0;
  kmcl_live_tokens--;
  free(t);
}

/** The token arrived on the channel's current connection (D2: a token of an
 * earlier connection neither counts nor reaches the new ring). */
static bool tok_current(const struct kmcl_incoming *t) { return t->in_gen == t->in_chan->ch_gen; }

/** Retire a token (complete or fail): unlink, count down, free unless the
 * driver is still inside ProcessPacket with it. */
static void tok_retire(struct kmcl_incoming *t) {
  struct kmcl_channel *ch = t->in_chan;
  bool current = tok_current(t);
  if (t->in_state == KI_DEFERRED)
    TAILQ_REMOVE(&ch->ch_defer, t, in_link);
  else
    TAILQ_REMOVE(&ch->ch_outl, t, in_link);
  t->in_state = 0;
  if (t->in_inline)
    t->in_done = true; /* freed when ProcessPacket returns */
  else
    tok_free(t);
  if (!current)
    return;
  ch->ch_outstanding--;
  /* A completion restarts a queue blocked on quota (also one lowered below
   * the outstanding count meanwhile); the DPC finds out whether it was. */
  if ((ch->ch_quota && ch->ch_outstanding < ch->ch_quota) ||
      ch->ch_outstanding + 1 == KMCL_MAX_OUTSTANDING)
    chan_kick(ch);
  chan_outstanding_dropped(ch);
}

/** Queue a VM_PKT_COMP answering trans_id `tid` with `len` payload bytes. */
static NTSTATUS tok_send_comp(struct kmcl_channel *ch, uint64_t tid, const void *buf,
                              uint32_t len) {
  uint32_t total = PKT_DESC + len;
  struct kmcl_packet *c = pkt_new_comp(ch, total);
  if (!c) {
    chan_fail(ch, -ENOMEM, "no memory for a completion packet");
    return STATUS_INSUFFICIENT_RESOURCES;
  }
  struct vmpacket_descriptor d;
  memset(&d, 0, sizeof(d));
  d.type = VM_PKT_COMP;
  d.offset8 = PKT_DESC / 8u;
  d.len8 = (uint16_t)(RING_ALIGN8(total) / 8u);
  d.trans_id = tid;
  memcpy(c->pk_buf, &d, sizeof(d));
  if (len)
    memcpy(c->pk_buf + PKT_DESC, buf, len);
  c->pk_len = total;
  pkt_submit(ch, c);
  return STATUS_SUCCESS;
}

NTSTATUS kmcl_packet_complete(VMBPACKETCOMPLETION PacketCompletionContext,
                              PVOID PacketCompletionBuffer, UINT32 BufSize) {
  struct kmcl_incoming *t = PacketCompletionContext;
  if (!tok_valid(t) || !t->in_state) {
    pr_err("kmcl: VmbChannelPacketComplete of an invalid token %p\n", (void *)t);
    return STATUS_INVALID_PARAMETER_1;
  }
  struct kmcl_channel *ch = t->in_chan;
  NTSTATUS st = STATUS_SUCCESS;
  if (BufSize && !PacketCompletionBuffer)
    BufSize = 0;
  /* No completion packet unless the sender asked for one (reference 2.6),
   * and none into the ring of a later connection (D2). */
  if (t->in_want_comp && tok_current(t) && ch->ch_rings_up && !ch->ch_fail) {
    uint64_t len = (uint64_t)PKT_DESC + BufSize;
    if (len > VMBUS_PKT_MAX_LEN || pkt_never_fits(ch, (uint32_t)len)) {
      /* D4: VMBus completions carry no status, so the requester's
       * transaction ends with an empty completion; the caller learns of
       * the failure from the status and the log. */
      pr_err("kmcl %s: completion of %u bytes cannot fit the ring; sent empty\n", ch->ch_name,
             BufSize);
      st = STATUS_INVALID_BUFFER_SIZE;
      tok_send_comp(ch, t->in_tid, NULL, 0);
    } else {
      NTSTATUS cs = tok_send_comp(ch, t->in_tid, PacketCompletionBuffer, BufSize);
      if (!NT_SUCCESS(cs))
        st = cs;
    }
  } else if (!tok_current(t)) {
    st = STATUS_INVALID_DEVICE_STATE; /* D2: its connection is gone, nothing sent */
  }
  tok_retire(t);
  return st;
}

VOID VmbChannelPacketComplete(VMBPACKETCOMPLETION PacketCompletionContext,
                              PVOID PacketCompletionBuffer, UINT32 BufSize) {
  (void)kmcl_packet_complete(PacketCompletionContext, PacketCompletionBuffer, BufSize);
}

NTSTATUS kmcl_packet_reply(VMBPACKETCOMPLETION PacketCompletionContext, PVOID Buffer,
                           UINT32 BufSize) {
  struct kmcl_incoming *t = PacketCompletionContext;
  if (!tok_valid(t) || !t->in_state)
    return STATUS_INVALID_PARAMETER_1;
  struct kmcl_channel *ch = t->in_chan;
  if (BufSize && !Buffer)
    BufSize = 0;
  bool pipe = (ch->ch_init_flags & VMBUS_CHANNEL_INIT_FLAG_IS_PIPE) != 0;
  uint32_t hdr = PKT_DESC + (pipe ? KMCL_PIPE_HDR_SIZE : 0u);
  NTSTATUS st = STATUS_SUCCESS;
  uint64_t len = (uint64_t)hdr + BufSize;
  if (!tok_current(t)) {
    st = STATUS_INVALID_DEVICE_STATE; /* D2: its connection is gone, nothing sent */
  } else if (!ch->ch_rings_up || ch->ch_fail) {
    st = STATUS_DEVICE_REMOVED;
  } else if (len > VMBUS_PKT_MAX_LEN || pkt_never_fits(ch, (uint32_t)len)) {
    st = STATUS_BUFFER_OVERFLOW;
  } else {
    /* A completion-sized packet object carries it: written as in-band data. */
    struct kmcl_packet *c = pkt_new_comp(ch, (uint32_t)len);
    if (!c) {
      st = STATUS_INSUFFICIENT_RESOURCES;
    } else {
      struct vmpacket_descriptor d;
      memset(&d, 0, sizeof(d));
      d.type = VM_PKT_DATA_INBAND;
      d.offset8 = PKT_DESC / 8u;
      d.len8 = (uint16_t)(RING_ALIGN8(len) / 8u);
      d.trans_id = t->in_tid;
      memset(c->pk_buf, 0, hdr);
      memcpy(c->pk_buf, &d, sizeof(d));
      if (pipe) {
        uint32_t ph[2] = {KMCL_PIPE_TYPE_DATA, BufSize};
        memcpy(c->pk_buf + PKT_DESC, ph, sizeof(ph));
      }
      if (BufSize)
        memcpy(c->pk_buf + hdr, Buffer, BufSize);
      c->pk_len = (uint32_t)len;
      pkt_submit(ch, c);
    }
  }
  tok_retire(t);
  return st;
}

UINT64 kmcl_packet_trans_id(VMBPACKETCOMPLETION PacketCompletionContext) {
  const struct kmcl_incoming *t = PacketCompletionContext;
  return tok_valid(t) ? t->in_tid : 0;
}

VOID FASTCALL VmbChannelPacketDeferToPassive(VMBPACKETCOMPLETION PacketCompletionContext) {
  struct kmcl_incoming *t = PacketCompletionContext;
  if (!tok_valid(t) || !t->in_inline) {
    pr_err("kmcl: VmbChannelPacketDeferToPassive outside ProcessPacket; ignored\n");
    return;
  }
  t->in_defer = true;
}

VOID FASTCALL VmbChannelPacketFail(VMBPACKETCOMPLETION PacketCompletionContext) {
  struct kmcl_incoming *t = PacketCompletionContext;
  if (!tok_valid(t) || !t->in_state) {
    pr_err("kmcl: VmbChannelPacketFail of an invalid token\n");
    return;
  }
  if (tok_current(t))
    chan_fail(t->in_chan, -ECANCELED, "VmbChannelPacketFail");
  tok_retire(t);
}

PVOID FASTCALL VmbChannelPacketGetClientContext(VMBPACKETCOMPLETION PacketCompletionContext) {
  struct kmcl_incoming *t = PacketCompletionContext;
  return tok_valid(t) ? t->in_ctx : NULL;
}

/** GPA-direct ranges of an incoming packet as an MDL chain (no VA). The
 * ranges were validated when the packet was parsed. */
static PMDL tok_gpa_mdl(struct kmcl_incoming *t) {
  const uint8_t *p = t->in_pkt;
  uint32_t cnt;
  memcpy(&cnt, p + 20, 4);
  uint32_t pos = 24;
  PMDL head = NULL, *tail = &head;
  for (uint32_t i = 0; i < cnt; i++) {
    struct vmbus_gpa_range r;
    memcpy(&r, p + pos, sizeof(r));
    uint32_t np = (uint32_t)(((uint64_t)r.byte_offset + r.byte_count + PAGE_SIZE - 1) / PAGE_SIZE);
    PMDL m = gpadl_pfn_mdl(p + pos + 8, np, r.byte_offset, r.byte_count);
    if (!m) {
      gpadl_mdl_chain_free(head);
      return NULL;
    }
    *tail = m;
    tail = &m->Next;
    pos += 8 + 8 * np;
  }
  return head;
}

NTSTATUS VmbChannelPacketGetExternalData(VMBPACKETCOMPLETION PacketCompletionContext, UINT32 Flags,
                                         PMDL *Mdl) {
  struct kmcl_incoming *t = PacketCompletionContext;
  if (!tok_valid(t) || !t->in_state)
    return STATUS_INVALID_PARAMETER_1;
  if (Flags & ~VMBUS_CHANNEL_PACKET_EXTERNAL_DATA_FLAGS)
    return STATUS_INVALID_PARAMETER_2;
  if (!Mdl)
    return STATUS_INVALID_PARAMETER_3;
  if (!t->in_ext)
    return STATUS_NOT_FOUND;
  if (!t->in_mdl) {
    if (t->in_type == VM_PKT_DATA_USING_GPA_DIRECT) {
      t->in_mdl = tok_gpa_mdl(t);
    } else {
      const struct vmtransfer_page_packet_header *h = (const void *)t->in_pkt;
      t->in_mdl = gpadl_xfer_mdl(t->in_chan, h->xfer_pageset_id, h->ranges, h->range_cnt);
      if (!t->in_mdl) /* no GPADL bound to that page set, or a hostile range */
        return t->in_chan->ch_fail ? STATUS_DATA_ERROR : STATUS_NOT_FOUND;
    }
    if (!t->in_mdl)
      return STATUS_INSUFFICIENT_RESOURCES;
  }
  /* Memory is always resident here: never STATUS_PENDING. */
  *Mdl = t->in_mdl;
  return STATUS_SUCCESS;
}

/**
 * Validate a data packet's extended header in our copy (rule 5.4: every
 * count checked against the bytes received). Sets in_ext.
 * @ret 0 or -EPROTO.
 */
static int tok_parse(struct kmcl_channel *ch, struct kmcl_incoming *t) {
  const uint8_t *p = t->in_pkt;
  struct vmpacket_descriptor d;
  memcpy(&d, p, sizeof(d));
  uint32_t off = (uint32_t)d.offset8 * 8u, len = t->in_pktlen;
  if (d.flags & ~VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED)
    return -EPROTO;
  t->in_type = d.type;
  t->in_tid = d.trans_id;
  t->in_want_comp = (d.flags & VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED) != 0;
  t->in_off = off;
  t->in_len = len - off;
  if (d.type == VM_PKT_DATA_USING_GPA_DIRECT || d.type == VM_PKT_DATA_USING_XFER_PAGES) {
    if (off < 24)
      return -EPROTO;
    uint32_t cnt;
    memcpy(&cnt, p + 20, 4);
    uint32_t pos = 24;
    if (d.type == VM_PKT_DATA_USING_XFER_PAGES) {
      if (cnt > (off - 24) / 8u)
        return -EPROTO;
    } else {
      /* A GPA-direct packet names at least one range (OpenVMM rejects 0;
       * 2.4 C6): zero is a malformed packet, not "no external data". */
      if (cnt == 0)
        return -EPROTO;
      for (uint32_t i = 0; i < cnt; i++) {
        struct vmbus_gpa_range r;
        if (off - pos < 8)
          return -EPROTO;
        memcpy(&r, p + pos, sizeof(r));
        if (r.byte_count == 0 || r.byte_offset >= PAGE_SIZE)
          return -EPROTO;
        uint64_t np = ((uint64_t)r.byte_offset + r.byte_count + PAGE_SIZE - 1) / PAGE_SIZE;
        if (np > (off - pos - 8) / 8u)
          return -EPROTO;
        pos += 8u + 8u * (uint32_t)np;
      }
    }
    t->in_ext = cnt > 0;
  } else if (d.type != VM_PKT_DATA_INBAND) {
    return -EPROTO;
  }
  if (ch->ch_init_flags & VMBUS_CHANNEL_INIT_FLAG_IS_PIPE) {
    uint32_t ph[2];
    if (d.type != VM_PKT_DATA_INBAND || t->in_len < KMCL_PIPE_HDR_SIZE)
      return -EPROTO;
    memcpy(ph, p + off, sizeof(ph));
    if (ph[1] > t->in_len - KMCL_PIPE_HDR_SIZE)
      return -EPROTO;
    t->in_off += KMCL_PIPE_HDR_SIZE;
    t->in_len = ph[1];
  }
  return 0;
}

/** A VM_PKT_COMP from the peer: match its trans_id and complete the packet.
 * An id that names no packet in flight (unknown, stale or duplicate) fails
 * the channel. */
static void pkt_rx_completion(struct kmcl_channel *ch, uint8_t *pkt, uint32_t len) {
  struct vmpacket_descriptor d;
  memcpy(&d, pkt, sizeof(d));
  uint32_t slot = (uint32_t)d.trans_id;
  struct kmcl_xid_slot *xs = (slot && slot <= KMCL_XID_SLOTS) ? &ch->ch_xids[slot - 1] : NULL;
  if (!xs || !xs->xs_pkt || xs->xs_tid != d.trans_id || xs->xs_pkt->pk_state != KP_INFLIGHT) {
    chan_fail(ch, -EPROTO, "completion for an unknown or already completed transaction id");
    return;
  }
  struct kmcl_packet *p = xs->xs_pkt;
  pkt_xid_free(ch, p);
  uint32_t off = (uint32_t)d.offset8 * 8u;
  kmcl_dispatch_depth++;
  pkt_finish(p, STATUS_SUCCESS, len > off ? pkt + off : NULL, len - off);
  kmcl_dispatch_depth--;
}

/** Hand a token to ProcessPacket, then act on Defer/Complete done inline.
 * A deferred attempt is not counted as processed (D7); DeferToPassive
 * during a passive delivery is ignored (the packet counts as delivered and
 * the driver still owes its completion). */
static void tok_deliver(struct kmcl_channel *ch, struct kmcl_incoming *t, bool at_passive) {
  t->in_inline = true;
  t->in_defer = false;
  ch->ch_process(ch, t, t->in_pkt + t->in_off, t->in_len,
                 t->in_ext ? VMBUS_CHANNEL_PROCESS_PACKET_FLAG_EXTERNAL_DATA : 0);
  t->in_inline = false;
  if (t->in_done) {
    tok_free(t);
    ch->ch_batch++;
    return;
  }
  if (t->in_defer && !at_passive) {
    t->in_defer = false;
    TAILQ_REMOVE(&ch->ch_outl, t, in_link);
    t->in_state = KI_DEFERRED;
    TAILQ_INSERT_TAIL(&ch->ch_defer, t, in_link);
    ev_work_queue(&ch->ch_rx_work);
    return;
  }
  if (t->in_defer) {
    t->in_defer = false;
    pr_warn("kmcl %s: DeferToPassive at passive level; ignored\n", ch->ch_name);
  }
  ch->ch_batch++;
}

/** Delivery pauses (ring empty, quota, suspend, deferral or failure): the
 * batch ends with ProcessingComplete(number the driver processed). */
static void pkt_batch_end(struct kmcl_channel *ch) {
  if (ch->ch_batch) {
    uint32_t n = ch->ch_batch;
    ch->ch_batch = 0;
    if (ch->ch_proc_done)
      ch->ch_proc_done(ch, n);
  }
}

void pkt_rx_deferred(struct kmcl_channel *ch) {
  struct kmcl_incoming *t;
  bool any = false;
  while (chan_rx_enabled(ch) && (t = TAILQ_FIRST(&ch->ch_defer)) != NULL) {
    TAILQ_REMOVE(&ch->ch_defer, t, in_link);
    t->in_state = KI_OUTSTANDING;
    TAILQ_INSERT_TAIL(&ch->ch_outl, t, in_link);
    tok_deliver(ch, t, true);
    any = true;
  }
  if (!any)
    return;
  pkt_batch_end(ch);
  /* D7: the ring was not read past a deferred packet; resume now. */
  if (TAILQ_EMPTY(&ch->ch_defer))
    chan_kick(ch);
}

/** Largest incoming packet this channel accepts (bytes, descriptor and
 * extended header included): kmcl_channel_init_set_max_incoming, else what
 * the channel itself may send but at least one page (docs/SECURITY.md C4). */
static uint32_t pkt_max_in(const struct kmcl_channel *ch) {
  if (ch->ch_max_in)
    return ch->ch_max_in;
  uint32_t own = pkt_buf_cap(ch);
  return own > KMCL_MIN_MAX_IN ? own : KMCL_MIN_MAX_IN;
}

/** Read one data packet into a new token and deliver it. */
static int pkt_rx_data(struct kmcl_channel *ch, uint32_t len, bool at_passive) {
  if (len > pkt_max_in(ch))
    return -EMSGSIZE; /* the packet stays in the ring; the channel fails */
  struct kmcl_incoming *t = calloc(1, sizeof(*t) + RING_ALIGN8(len) + ch->ch_ctx_size);
  if (!t)
    return -ENOMEM;
  if (tok_set_add(t)) {
    free(t);
    return -ENOMEM;
  }
  kmcl_live_tokens++;
  t->in_magic = KMCL_IN_MAGIC;
  t->in_chan = ch;
  t->in_gen = ch->ch_gen;
  uint32_t got = 0;
  int rc = ring_read(&ch->ch_in, t->in_pkt, len, &got);
  if (rc == 0 && got != len)
    rc = -EPROTO;
  if (rc == 0) {
    t->in_pktlen = got;
    rc = tok_parse(ch, t);
  }
  if (rc) {
    tok_free(t);
    return rc == -EAGAIN ? -EPROTO : rc;
  }
  t->in_ctx = ch->ch_ctx_size ? t->in_pkt + RING_ALIGN8(len) : NULL;
  t->in_state = KI_OUTSTANDING;
  ch->ch_outstanding++;
  TAILQ_INSERT_TAIL(&ch->ch_outl, t, in_link);
  tok_deliver(ch, t, at_passive);
  return 0;
}

/** Quota or the hard cap stops reading until a completion. */
static bool pkt_rx_quota_ok(const struct kmcl_channel *ch) {
  if (ch->ch_outstanding >= KMCL_MAX_OUTSTANDING)
    return false;
  return !ch->ch_quota || ch->ch_outstanding < ch->ch_quota;
}

/**
 * The receive loop (dispatch level from the channel DPC, or passive level
 * from its work item). Reads while the queue is enabled and the quota
 * allows; interrupts stay masked while draining and are re-checked after
 * unmasking (ring.h) so no wake-up is lost. ProcessingComplete runs when a
 * batch ends with the ring empty.
 */
/** Read the completion packet of len bytes at the ring's read index (peeked)
 * into the channel's scratch buffer, grown as needed, and complete its
 * transaction. 0, a ring error, -EPROTO for reserved flags, or -ENOMEM
 * (the channel has then failed, the packet is still in the ring). */
static int pkt_rx_comp(struct kmcl_channel *ch, uint32_t len) {
  if (len > ch->ch_scratch_cap) {
    uint8_t *nb = malloc(len);
    if (!nb) {
      chan_fail(ch, -ENOMEM, "no memory for a completion");
      return -ENOMEM;
    }
    free(ch->ch_scratch);
    ch->ch_scratch = nb;
    ch->ch_scratch_cap = len;
  }
  int rc = ring_read(&ch->ch_in, ch->ch_scratch, ch->ch_scratch_cap, &len);
  if (rc)
    return rc;
  struct vmpacket_descriptor d;
  memcpy(&d, ch->ch_scratch, sizeof(d));
  if (d.flags & ~VMBUS_DATA_PACKET_FLAG_COMPLETION_REQUESTED)
    return -EPROTO;
  pkt_rx_completion(ch, ch->ch_scratch, len);
  return 0;
}

void pkt_rx_process(struct kmcl_channel *ch, bool at_passive) {
  if (ch->ch_in_rx)
    return;
  ch->ch_in_rx = true;
  unsigned since_commit = 0, budget = PKT_RX_BUDGET;
  ring_mask_interrupts(&ch->ch_in);
  /* The run reads what the ring held when it began (bytes up to the write
   * index read here): what the peer writes meanwhile, on our signals, waits
   * for the next run like what races with the unmask below. At least one
   * packet is read, so a ring that is empty now, or corrupt, still ends in
   * -EAGAIN or the channel failing as before. */
  uint32_t run_left = ring_read_avail(&ch->ch_in);
  bool stop = false;
  while (chan_rx_enabled(ch)) {
    if (!pkt_rx_quota_ok(ch) || !TAILQ_EMPTY(&ch->ch_defer)) {
      stop = true; /* D7: nothing is delivered past a deferred packet */
      break;
    }
    if (budget-- == 0 || (budget + 1 < PKT_RX_BUDGET && ev_timer_due())) {
      stop = true;
      chan_kick(ch); /* more later, after the rest of the loop ran */
      break;
    }
    struct vmpacket_descriptor d;
    uint32_t len = 0;
    int rc = ring_peek(&ch->ch_in, &d, &len);
    if (rc == -EAGAIN)
      break;
    if (rc == 0 && d.type == VM_PKT_COMP) {
      rc = pkt_rx_comp(ch, len);
      if (rc == -ENOMEM)
        break; /* the channel failed */
    } else if (rc == 0) {
      rc = pkt_rx_data(ch, len, at_passive);
    }
    if (rc) {
      chan_fail(ch, rc,
                rc == -EPROTO     ? "malformed incoming packet or ring"
                : rc == -EMSGSIZE ? "incoming packet larger than the channel accepts"
                                  : "receive error");
      break;
    }
    if (++since_commit >= PKT_RX_COMMIT_EVERY) {
      since_commit = 0;
      if (ring_read_commit(&ch->ch_in))
        chan_signal(ch);
    }
    uint32_t space = len + VMBUS_PKT_TRAILER_SIZE; /* what the packet took in the ring */
    if (space >= run_left)
      break; /* the write index this run began with */
    run_left -= space;
  }
  if (ring_read_commit(&ch->ch_in))
    chan_signal(ch);
  /* Unmask, then re-check: a write that raced with the unmask did not
   * signal us. It is read on the next turn (the DPC, re-queued behind the
   * event loop's timers and passive work), never in this one: a peer that
   * refills the ring each time we signal it (the commits above, our sends)
   * would otherwise keep this loop, and the whole guest, here. */
  bool more = !ch->ch_fail && ring_unmask_interrupts(&ch->ch_in);
  if (more && !stop && chan_rx_enabled(ch))
    chan_kick(ch);
  ch->ch_in_rx = false;
  pkt_batch_end(ch);
}

void pkt_drop_deferred(struct kmcl_channel *ch) {
  struct kmcl_incoming *t;
  while ((t = TAILQ_FIRST(&ch->ch_defer)) != NULL) {
    TAILQ_REMOVE(&ch->ch_defer, t, in_link);
    if (tok_current(t))
      ch->ch_outstanding--;
    tok_free(t);
  }
}

void pkt_channel_free(struct kmcl_channel *ch) {
  struct kmcl_incoming *t;
  /* Tokens the driver never completed: the channel goes, so do they. */
  while ((t = TAILQ_FIRST(&ch->ch_outl)) != NULL) {
    TAILQ_REMOVE(&ch->ch_outl, t, in_link);
    tok_free(t);
  }
  pkt_drop_deferred(ch);
  ch->ch_outstanding = 0;
  struct kmcl_packet *p;
  while ((p = STAILQ_FIRST(&ch->ch_pool)) != NULL) {
    STAILQ_REMOVE_HEAD(&ch->ch_pool, pk_link);
    p->pk_magic = 0;
    kmcl_live_packets--;
    free(p);
  }
  ch->ch_pool_len = 0;
  if (ch->ch_pkts_live)
    pr_warn("kmcl %s: %u packet objects never freed by the driver\n", ch->ch_name,
            ch->ch_pkts_live);
}
