/* kmcl/ring.c: VMBus ring buffer, one direction: pure, hostile-peer-safe.
 *
 * Layout (PROTOCOL-REFERENCE.md 3.1, 3.2): a control page with write_index
 * and read_index (byte offsets into the data area), then the data area of
 * r_size bytes, a multiple of 4 KiB but not in general a power of two, so
 * indices wrap by compare-and-subtract, never by mask. read == write means
 * empty, so the producer never fills the ring completely. Each packet is
 *   descriptor (16) | extended header | payload | zero pad to 8 | trailer (8)
 * where the trailer is the u64 (packet start index << 32).
 *
 * Memory ordering. The peer runs on another CPU (or is the host), so every
 * shared control field is accessed with __atomic builtins:
 *  - the producer copies a packet, then publishes write_index with a
 *    RELEASE store; the consumer loads write_index with ACQUIRE before it
 *    touches packet bytes. Symmetrically the consumer publishes read_index
 *    with RELEASE after its copies, and the producer loads it with ACQUIRE
 *    before it overwrites the freed bytes.
 *  - each signalling decision is a "store my index, then load the peer's
 *    flag" against the peer's "store my flag, then load your index" (Dekker).
 *    x86 may reorder a store with a later load, so those stores and loads are
 *    SEQ_CST (GCC emits xchg for the store: a full barrier), the
 *    "full barrier" of the reference (Linux virt_mb()).
 * Shared data bytes are copied with memcpy between those barriers. Whatever
 * is read from shared memory is read once into a local, validated, and only
 * the local is used; a compiler barrier stops GCC from re-reading it.
 */
#include "kmcl/ring.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

_Static_assert(sizeof(struct vmpacket_descriptor) == 16, "descriptor = two 8-byte words");

#define RING_DESC_SIZE ((uint32_t)sizeof(struct vmpacket_descriptor))
/** Largest data area accepted: keeps index + packet length below 2^32. */
#define RING_MAX_SIZE 0x80000000u

/* Shared-field accessors; the comment at each use says why the order. */
#define LOAD_ACQ(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define LOAD_SC(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define LOAD_RLX(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define STORE_SC(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define STORE_RLX(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
/* Compiler-only barrier: forbids re-fetching a value already copied out. */
#define COMPILER_BARRIER() __atomic_signal_fence(__ATOMIC_SEQ_CST)

/* ---- index arithmetic ------------------------------------------------------- */

/** A shared index is usable only inside the data area and 8-byte aligned
 * (mu_msvm PkpValidatePointer). */
static bool ring_index_ok(const struct ring *r, uint32_t idx) {
  return idx < r->r_size && (idx & (VMBUS_PKT_ALIGN - 1)) == 0;
}

/** idx + n, wrapped; requires idx < size and n <= size. */
static uint32_t ring_index_add(const struct ring *r, uint32_t idx, uint32_t n) {
  idx += n; /* < 2 * RING_MAX_SIZE: no overflow */
  if (idx >= r->r_size)
    idx -= r->r_size;
  return idx;
}

/** Bytes written and not yet read, from read index rd to write index wr. */
static uint32_t ring_used(const struct ring *r, uint32_t wr, uint32_t rd) {
  return wr >= rd ? wr - rd : r->r_size - rd + wr;
}

/** Free bytes as the reference counts them (3.3 step 2): size - used. A
 * write needs strictly more than its packet space. */
static uint32_t ring_free(const struct ring *r, uint32_t wr, uint32_t rd) {
  return r->r_size - ring_used(r, wr, rd);
}

/** Pieces up to this many bytes are copied inline, larger ones by the C
 * library's memcpy. Measured on the host (bench/ring, glibc's AVX-512
 * memcpy): inline moves win below ~32 bytes (no call, no size dispatch),
 * break even at 64, and lose by a fifth at 256 (16-byte moves against
 * 64-byte ones). */
#define RING_COPY_INLINE_MAX 32u

/**
 * Copy len bytes between buffers that do not overlap. Descriptor tails,
 * completions and small headers are a few words: fixed-size moves the
 * compiler inlines (16-byte chunks and one overlapping tail chunk; GPR moves
 * in the kernel build, SSE in host builds); anything larger goes to memcpy.
 */
static inline void ring_memcpy(void *dst, const void *src, uint32_t len) {
  uint8_t *d = dst;
  const uint8_t *s = src;
  if (len > RING_COPY_INLINE_MAX) {
    memcpy(d, s, len);
  } else if (len >= 16) {
    /* Chunks at 0, 16, ... while more than a chunk remains after them,
     * then the last 16 bytes (overlapping the previous chunk when
     * len % 16 != 0). */
    for (uint32_t i = 0; i + 16 < len; i += 16)
      __builtin_memcpy(d + i, s + i, 16);
    __builtin_memcpy(d + len - 16, s + len - 16, 16);
  } else if (len >= 8) {
    __builtin_memcpy(d, s, 8);
    __builtin_memcpy(d + len - 8, s + len - 8, 8);
  } else if (len >= 4) {
    __builtin_memcpy(d, s, 4);
    __builtin_memcpy(d + len - 4, s + len - 4, 4);
  } else {
    for (uint32_t i = 0; i < len; i++)
      d[i] = s[i];
  }
}

/** Copy len bytes into the data area at off, wrapping; returns the index
 * after them. Requires off < size, len <= size. */
static uint32_t ring_copy_in(struct ring *r, uint32_t off, const void *src, uint32_t len) {
  uint32_t first = r->r_size - off;
  if (len <= first) {
    ring_memcpy(r->r_data + off, src, len);
  } else {
    ring_memcpy(r->r_data + off, src, first);
    ring_memcpy(r->r_data, (const uint8_t *)src + first, len - first);
  }
  return ring_index_add(r, off, len);
}

/** Copy len bytes out of the data area at off, wrapping. Same bounds. */
static void ring_copy_out(const struct ring *r, uint32_t off, void *dst, uint32_t len) {
  uint32_t first = r->r_size - off;
  if (len <= first) {
    ring_memcpy(dst, r->r_data + off, len);
  } else {
    ring_memcpy(dst, r->r_data + off, first);
    ring_memcpy((uint8_t *)dst + first, r->r_data, len - first);
  }
}

/* 8-byte words at 8-aligned indices never straddle the wrap (the size and
 * every index are multiples of 8), so they need no split. */
static void ring_put_word(struct ring *r, uint32_t idx, uint64_t v) {
  memcpy(r->r_data + idx, &v, sizeof(v));
}
static uint64_t ring_get_word(const struct ring *r, uint32_t idx) {
  uint64_t v;
  memcpy(&v, r->r_data + idx, sizeof(v));
  return v;
}

/** One 16-bit load of the caller's memory that the compiler may not merge
 * with its neighbours into a wider load (GCC merges adjacent loads that
 * are shifted and or-ed together): see ring_load_desc. */
static inline uint16_t ring_load16(const uint8_t *p) {
  uint16_t v;
  memcpy(&v, p, sizeof(v));
  COMPILER_BARRIER();
  return v;
}

/** The producer saw read_index == rd (validated): remember it, and the room
 * it leaves after r_wr. */
static void ring_saw_read_index(struct ring *r, uint32_t rd) {
  r->r_rd_seen = rd;
  r->r_wr_room = ring_free(r, r->r_wr, rd) - VMBUS_PKT_ALIGN;
}

/** Mark the view dead. Every later call on it fails with -EPROTO. */
static int ring_set_corrupt(struct ring *r) {
  r->r_corrupt = true;
  return -EPROTO;
}

/** Load the peer's index at `p` (acquire) into *idx. False when the view
 * is dead already or the value is out of range or unaligned (the view is
 * then dead for good). */
static bool ring_load_index(struct ring *r, const volatile uint32_t *p, uint32_t *idx) {
  if (r->r_corrupt)
    return false;
  *idx = LOAD_ACQ(p);
  if (!ring_index_ok(r, *idx)) {
    ring_set_corrupt(r);
    return false;
  }
  return true;
}

/* ---- set-up ------------------------------------------------------------------ */

int ring_init(struct ring *r, void *ctl_page, void *data, uint32_t data_size) {
  if (!r || !ctl_page || !data || data_size == 0 || data_size % VMBUS_RING_DATA_ALIGN != 0 ||
      data_size > RING_MAX_SIZE)
    return -EINVAL;
  memset(r, 0, sizeof(*r));
  r->r_ctl = ctl_page;
  r->r_data = data;
  r->r_size = data_size;

  /* Attach: take both indices once. ACQUIRE, because they seed the cached
   * r_wr_seen / r_rd_seen that later reads and writes trust without a new
   * load (packet bytes below write_index, free space below read_index). */
  uint32_t wr = LOAD_ACQ(&r->r_ctl->write_index);
  uint32_t rd = LOAD_ACQ(&r->r_ctl->read_index);
  if (!ring_index_ok(r, wr) || !ring_index_ok(r, rd))
    return ring_set_corrupt(r);
  r->r_wr = wr;
  r->r_wr_pub = wr;
  r->r_rd = rd;
  r->r_rd_pub = rd;
  r->r_wr_seen = wr;
  ring_saw_read_index(r, rd);
  return 0;
}

void ring_reset_ctl(void *ctl_page) {
  volatile struct vmbus_ring_ctl *ctl = ctl_page;
  /* The peer does not see the ring yet (the GPADL is not offered), so a
   * plain memset is fine; the feature bit goes in with the rest. */
  memset(ctl_page, 0, sizeof(struct vmbus_ring_ctl));
  ctl->feature_bits = VMBUS_RING_FEAT_PENDING_SEND_SZ;
}

/* ---- producer ----------------------------------------------------------------- */

/*
 * When the producer signals (PROTOCOL-REFERENCE.md 3.3 step 5; FreeBSD
 * vmbus_txbr_need_signal, Linux hv_signal_on_write).
 *
 * Windows hosts treat unexpected interrupts as a DoS and throttle the guest;
 * they expect one only when the ring goes from empty to non-empty. So after
 * publishing write_index the producer signals only if
 *   - the consumer's interrupt_mask is 0 (a consumer that is draining, mask
 *     1, will re-check the ring when it unmasks), and
 *   - read_index equals the write_index before this packet: the consumer had
 *     read everything, so it may be idle and has not seen this packet.
 * If read_index is anything else, either the ring was not empty (the
 * consumer has not finished the earlier packets, it will find this one) or
 * the consumer already moved past this packet.
 *
 * The race this must not lose: consumer unmasks (store mask = 0) then
 * re-checks write_index, while the producer publishes write_index then
 * checks the mask. With both store->load pairs SEQ_CST at least one side sees
 * the other's store: either the producer sees mask 0 and signals, or the
 * consumer's re-check sees the packet. Same for read_index vs write_index.
 */
/*
 * Batches. ring_write_stage writes a packet past the published write_index
 * (r_wr runs ahead of r_wr_pub); ring_write_commit publishes them all. The
 * signalling rule above then reads "read_index equals the write_index
 * before this batch": the consumer had read everything it could see, so it
 * may be idle; if it had not, it will find the whole batch when it gets to
 * it. Linux applies the same rule to one packet made of many pieces.
 */

/** A packet the caller handed in, checked (ring_check_out): the
 * descriptor's two words as they go into the ring, the packet's length
 * len8*8, and the bytes its pieces hold (padded - 8 < total <= padded). */
struct ring_out {
  uint64_t desc_w0;
  uint64_t trans_id;
  uint32_t padded;
  uint32_t total;
};

/**
 * Read the caller's descriptor at dp (16 bytes) into o->desc_w0,
 * o->trans_id and o->padded. False when offset8 does not lie inside the
 * packet: a wrong len8 desynchronises the peer's parser for good, so our
 * own descriptor must describe exactly this packet.
 */
static inline __attribute__((always_inline)) bool ring_load_desc(const uint8_t *dp,
                                                                 struct ring_out *o) {
  /* The descriptor is read field by field, never as one 16-byte block:
   * callers build it field by field just before, and a wider load than the
   * stores that wrote it stalls on store forwarding (measured: a fifth of
   * ring_write's time at 64 bytes, for the copy as for the checks). The
   * ring gets the two words rebuilt from these loads (little endian, like
   * the whole ring format). */
  uint16_t type = ring_load16(dp + offsetof(struct vmpacket_descriptor, type));
  uint16_t offset8 = ring_load16(dp + offsetof(struct vmpacket_descriptor, offset8));
  uint16_t len8 = ring_load16(dp + offsetof(struct vmpacket_descriptor, len8));
  uint16_t flags = ring_load16(dp + offsetof(struct vmpacket_descriptor, flags));
  memcpy(&o->trans_id, dp + offsetof(struct vmpacket_descriptor, trans_id), sizeof(o->trans_id));
  o->desc_w0 = type | (uint64_t)offset8 << 16 | (uint64_t)len8 << 32 | (uint64_t)flags << 48;
  o->padded = (uint32_t)len8 * VMBUS_PKT_ALIGN; /* <= VMBUS_PKT_MAX_LEN */
  return offset8 >= 2 && offset8 <= len8;
}

/**
 * Check the packet in iov[0..n) (iov[0] starts with its descriptor) and
 * fill *o. -EINVAL when the pieces are missing or do not add up to what
 * the descriptor says, -EMSGSIZE when the packet could never fit in this
 * ring, even empty.
 */
static inline __attribute__((always_inline)) int
ring_check_out(const struct ring *r, const struct ring_iov *iov, unsigned n, struct ring_out *o) {
  if (!iov || n == 0)
    return -EINVAL;
  const uint8_t *dp = iov[0].ri_base;
  uint32_t len0 = iov[0].ri_len;
  if (len0 < RING_DESC_SIZE || !dp)
    return -EINVAL;
  if (!ring_load_desc(dp, o))
    return -EINVAL;
  /* The pieces must add up to what len8 says: ALIGN8(total) == padded,
   * i.e. padded - 8 < total <= padded. Summed against padded, so no sum
   * can overflow, and a piece with bytes needs a buffer. */
  uint32_t padded = o->padded;
  uint32_t total = len0;
  if (total > padded)
    return -EINVAL;
  for (unsigned i = 1; i < n; i++) {
    uint32_t len = iov[i].ri_len;
    if (len > padded - total || (len && !iov[i].ri_base))
      return -EINVAL;
    total += len;
  }
  if (padded - total >= VMBUS_PKT_ALIGN)
    return -EINVAL;
  o->total = total;
  /* Could never fit, even in an empty ring: say so instead of -EAGAIN, or
   * the caller would wait forever (OpenVMM: total >= ring size - 8). */
  if (padded + VMBUS_PKT_TRAILER_SIZE >= r->r_size)
    return -EMSGSIZE;
  return 0;
}

/**
 * Take `space` bytes of the *roomp known free after the private write
 * index wr. 0 with *roomp reduced; -EAGAIN when the ring is too full;
 * -EPROTO when the peer's read_index is bad (the view is then dead).
 */
static inline __attribute__((always_inline)) int ring_reserve(struct ring *r, uint32_t wr,
                                                              uint32_t space, uint32_t *roomp) {
  /* Free space must stay strictly greater than what we write: a write that
   * fills the ring would make write_index == read_index, which means empty
   * (3.3 step 2); *roomp already holds back those 8 bytes. It comes from
   * the last read_index seen, so usually shows enough space; only when it
   * does not, re-read read_index: the control line then moves between the
   * CPUs once per batch (the commit's store), not twice. ACQUIRE: the
   * consumer's copies out of the bytes below read_index are complete before
   * we overwrite them. Staged packets count as used: they are ours. */
  if (space > *roomp) {
    uint32_t rd = LOAD_ACQ(&r->r_ctl->read_index);
    if (!ring_index_ok(r, rd))
      return ring_set_corrupt(r);
    r->r_rd_seen = rd;
    *roomp = ring_free(r, wr, rd) - VMBUS_PKT_ALIGN;
    if (space > *roomp) {
      r->r_stat_full++;
      return -EAGAIN;
    }
  }
  *roomp -= space;
  return 0;
}

/*
 * Copying a checked packet in at wr, where its space is reserved. The
 * bytes the payload does not cover, up to 8-byte alignment, are zero
 * padding: zero the packet's last word first (only when there is padding),
 * then the payload over it, then the trailer word: high half the packet's
 * start index, low half reserved (0). Both return the index after the
 * trailer.
 */

/** The usual case: the packet does not wrap (wr + space <= size); plain
 * pointer copies. */
static inline __attribute__((always_inline)) uint32_t ring_put_flat(struct ring *r, uint32_t wr,
                                                                    const struct ring_iov *iov,
                                                                    unsigned n,
                                                                    const struct ring_out *o) {
  const uint8_t *dp = iov[0].ri_base;
  uint32_t len0 = iov[0].ri_len;
  uint8_t *p = r->r_data + wr;
  if (o->padded != o->total)
    __builtin_memset(p + o->padded - VMBUS_PKT_ALIGN, 0, VMBUS_PKT_ALIGN);
  ring_put_word(r, wr, o->desc_w0);
  ring_put_word(r, wr + VMBUS_PKT_ALIGN, o->trans_id);
  p += RING_DESC_SIZE;
  if (len0 > RING_DESC_SIZE) {
    ring_memcpy(p, dp + RING_DESC_SIZE, len0 - RING_DESC_SIZE);
    p += len0 - RING_DESC_SIZE;
  }
  for (unsigned i = 1; i < n; i++) {
    uint32_t len = iov[i].ri_len;
    ring_memcpy(p, iov[i].ri_base, len);
    p += len;
  }
  ring_put_word(r, wr + o->padded, (uint64_t)wr << 32);
  uint32_t end = wr + o->padded + VMBUS_PKT_TRAILER_SIZE;
  return end == r->r_size ? 0 : end;
}

/** The packet runs past the end of the data area and wraps to its start.
 * 8-byte words at 8-aligned indices never straddle the wrap. */
static inline __attribute__((always_inline)) uint32_t
ring_put_wrapped(struct ring *r, uint32_t old_wr, const struct ring_iov *iov, unsigned n,
                 const struct ring_out *o) {
  const uint8_t *dp = iov[0].ri_base;
  uint32_t len0 = iov[0].ri_len;
  uint32_t wr = ring_index_add(r, old_wr, RING_DESC_SIZE);
  if (o->padded != o->total)
    ring_put_word(r, ring_index_add(r, old_wr, o->padded - VMBUS_PKT_ALIGN), 0);
  ring_put_word(r, old_wr, o->desc_w0);
  ring_put_word(r, ring_index_add(r, old_wr, VMBUS_PKT_ALIGN), o->trans_id);
  if (len0 > RING_DESC_SIZE)
    wr = ring_copy_in(r, wr, dp + RING_DESC_SIZE, len0 - RING_DESC_SIZE);
  for (unsigned i = 1; i < n; i++)
    if (iov[i].ri_len)
      wr = ring_copy_in(r, wr, iov[i].ri_base, iov[i].ri_len);
  wr = ring_index_add(r, old_wr, o->padded);
  ring_put_word(r, wr, (uint64_t)old_wr << 32);
  return ring_index_add(r, wr, VMBUS_PKT_TRAILER_SIZE);
}

/**
 * Write one packet at the private write index *wrp, not published, where
 * *roomp bytes are known free (see r_wr_room); advance both. On 0,
 * *paddedp is the packet's len8*8. The caller keeps *wrp / *roomp in
 * registers across a batch and stores them back into r. Nothing in the
 * ring's visible part changes on any error.
 */
static inline __attribute__((always_inline)) int ring_put_pkt(struct ring *r,
                                                              const struct ring_iov *iov,
                                                              unsigned n, uint32_t *wrp,
                                                              uint32_t *roomp, uint32_t *paddedp) {
  struct ring_out o;
  int rc = ring_check_out(r, iov, n, &o);
  if (rc)
    return rc;
  uint32_t wr = *wrp;
  uint32_t space = o.padded + VMBUS_PKT_TRAILER_SIZE;
  rc = ring_reserve(r, wr, space, roomp);
  if (rc)
    return rc;
  if (wr + space <= r->r_size) /* < 2 * RING_MAX_SIZE: no overflow */
    *wrp = ring_put_flat(r, wr, iov, n, &o);
  else
    *wrp = ring_put_wrapped(r, wr, iov, n, &o);
  *paddedp = o.padded;
  return 0;
}

int ring_write_stage(struct ring *r, const struct ring_iov *iov, unsigned n) {
  if (r->r_corrupt)
    return -EPROTO;
  uint32_t wr = r->r_wr, room = r->r_wr_room, padded;
  int rc = ring_put_pkt(r, iov, n, &wr, &room, &padded);
  r->r_wr_room = room; /* a re-read of read_index may have changed it */
  if (rc)
    return rc;
  r->r_wr = wr;
  r->r_stat_pkts++;
  r->r_stat_bytes += padded;
  return 0;
}

int ring_write_commit(struct ring *r, bool *need_signal) {
  if (r->r_corrupt)
    return -EPROTO;
  if (!need_signal)
    return -EINVAL;
  uint32_t old_wr = r->r_wr_pub;
  uint32_t wr = r->r_wr;
  /* Nothing staged (the ring never fills, so r_wr cannot come all the way
   * round to r_wr_pub). */
  if (wr == old_wr) {
    *need_signal = false;
    return 0;
  }

  /* SEQ_CST store: a RELEASE (the packet bytes are visible before the
   * index that covers them) and the full barrier before the loads below
   * (see "When the producer signals" above). */
  STORE_SC(&r->r_ctl->write_index, wr);
  r->r_wr_pub = wr;
  uint32_t mask = LOAD_SC(&r->r_ctl->interrupt_mask);
  uint32_t rd_now = LOAD_SC(&r->r_ctl->read_index);
  if (!ring_index_ok(r, rd_now))
    return ring_set_corrupt(r);
  ring_saw_read_index(r, rd_now); /* SEQ_CST load: also an ACQUIRE */
  bool sig = mask == 0 && rd_now == old_wr;
  *need_signal = sig;
  if (sig)
    r->r_stat_signals++;
  return 0;
}

int ring_write(struct ring *r, const struct ring_iov *iov, unsigned n, bool *need_signal) {
  if (r->r_corrupt)
    return -EPROTO;
  if (!need_signal)
    return -EINVAL;
  int rc = ring_write_stage(r, iov, n);
  if (rc)
    return rc;
  return ring_write_commit(r, need_signal);
}

int ring_write_batch(struct ring *r, const struct ring_pkt *pkts, unsigned n, unsigned *done,
                     bool *need_signal) {
  if (!done || !need_signal)
    return -EINVAL;
  *done = 0;
  if (r->r_corrupt)
    return -EPROTO;
  if (n && !pkts)
    return -EINVAL;
  /* The private index and room stay in registers for the whole batch. */
  uint32_t wr = r->r_wr, room = r->r_wr_room, padded;
  uint64_t bytes = 0;
  unsigned i = 0;
  int rc = 0;
  for (; i < n; i++) {
    rc = ring_put_pkt(r, pkts[i].rp_iov, pkts[i].rp_n, &wr, &room, &padded);
    if (rc)
      break;
    bytes += padded;
  }
  r->r_wr = wr;
  r->r_wr_room = room;
  r->r_stat_pkts += i;
  r->r_stat_bytes += bytes;
  *done = i;
  int crc = ring_write_commit(r, need_signal); /* -EPROTO when a stage found it */
  return crc ? crc : rc;
}

/*
 * Blocked producer (3.3 "Blocked writer"; Linux
 * set_channel_pending_send_size): publish the space we wait for, then look
 * at read_index again. The consumer publishes read_index, then reads
 * pending_send_sz (ring_read_commit); both pairs are SEQ_CST so one of us
 * sees the other: either the consumer signals us, or we see the space here.
 */
bool ring_set_pending_send(struct ring *r, uint32_t bytes) {
  STORE_SC(&r->r_ctl->pending_send_sz, bytes);
  if (bytes == 0)
    return false;
  uint32_t rd = LOAD_SC(&r->r_ctl->read_index);
  if (r->r_corrupt || !ring_index_ok(r, rd)) {
    r->r_corrupt = true;
    STORE_RLX(&r->r_ctl->pending_send_sz, 0);
    return true; /* retry: ring_write reports -EPROTO */
  }
  ring_saw_read_index(r, rd);
  if (ring_free(r, r->r_wr, rd) > bytes) {
    /* Already there; nobody will signal. Withdraw the request. */
    STORE_RLX(&r->r_ctl->pending_send_sz, 0);
    return true;
  }
  return false;
}

uint32_t ring_write_avail(struct ring *r) {
  uint32_t rd;
  if (!ring_load_index(r, &r->r_ctl->read_index, &rd))
    return 0;
  /* Free space is a nonzero multiple of 8; keep the one 8-byte unit that
   * stops the ring from filling. */
  ring_saw_read_index(r, rd);
  return r->r_wr_room;
}

/* ---- consumer ------------------------------------------------------------------- */

/**
 * Locate and validate the packet at the private read index. On 0, desc[]
 * holds the two words of its descriptor (read once from the ring) and
 * *pktlen its length len8*8, guaranteed 16 <= offset8*8 <= *pktlen and
 * *pktlen + trailer <= bytes the producer published. Inlined: it is most of
 * ring_read's work per packet.
 */
static inline __attribute__((always_inline)) int ring_next(struct ring *r, uint64_t desc[2],
                                                           uint32_t *pktlen) {
  if (r->r_corrupt)
    return -EPROTO;
  /* ACQUIRE: the packet bytes below write_index are visible before we copy
   * them. Read once; only `wr` is used afterwards. While packets remain below
   * the write_index seen last time, those are complete and that value is
   * still good: no need to touch the shared line. */
  uint32_t rd = r->r_rd;
  uint32_t wr = r->r_wr_seen;
  if (wr == rd) {
    wr = LOAD_ACQ(&r->r_ctl->write_index);
    if (!ring_index_ok(r, wr))
      return ring_set_corrupt(r);
    r->r_wr_seen = wr;
  }
  uint32_t avail = ring_used(r, wr, rd);
  if (avail == 0)
    return -EAGAIN;
  /* Producers publish whole packets: anything shorter than a descriptor
   * plus trailer is a broken peer. */
  if (avail < RING_DESC_SIZE + VMBUS_PKT_TRAILER_SIZE)
    return ring_set_corrupt(r);

  uint64_t w0 = ring_get_word(r, rd);
  desc[1] = ring_get_word(r, ring_index_add(r, rd, VMBUS_PKT_ALIGN));
  COMPILER_BARRIER(); /* use the copy only: no second fetch of len8/offset8 */
  desc[0] = w0;
  /* offset8 is bits 16..31 of the first word, len8 bits 32..47 (little
   * endian: struct vmpacket_descriptor). */
  uint32_t len = (uint32_t)(w0 >> 32 & 0xffff) * VMBUS_PKT_ALIGN;
  uint32_t off = (uint32_t)(w0 >> 16 & 0xffff) * VMBUS_PKT_ALIGN;
  if (len < RING_DESC_SIZE || off < RING_DESC_SIZE || off > len ||
      len > avail - VMBUS_PKT_TRAILER_SIZE)
    return ring_set_corrupt(r);
  /* The type, the flags and the trailer are not checked here: the ring layer
   * carries any packet; kmcl/channel.c decides what it accepts. */
  *pktlen = len;
  return 0;
}

int ring_read(struct ring *r, void *buf, uint32_t buflen, uint32_t *pktlen) {
  uint64_t desc[2];
  uint32_t len;
  int rc = ring_next(r, desc, &len);
  if (rc)
    return rc;
  *pktlen = len;
  if (!buf || buflen < len)
    return -EMSGSIZE;
  /* The producer may have changed the descriptor since we validated it:
   * the caller sees the validated copy, and the ring's descriptor bytes are
   * not copied again. Then the rest of the packet. */
  uint32_t rd = r->r_rd;
  uint32_t next = rd + len + VMBUS_PKT_TRAILER_SIZE; /* <= rd + size: no overflow */
  memcpy(buf, desc, RING_DESC_SIZE);
  if (next <= r->r_size) {
    /* The usual case: the packet does not wrap. */
    ring_memcpy((uint8_t *)buf + RING_DESC_SIZE, r->r_data + rd + RING_DESC_SIZE,
                len - RING_DESC_SIZE);
    r->r_rd = next == r->r_size ? 0 : next;
  } else {
    ring_copy_out(r, ring_index_add(r, rd, RING_DESC_SIZE), (uint8_t *)buf + RING_DESC_SIZE,
                  len - RING_DESC_SIZE);
    r->r_rd = next - r->r_size;
  }
  r->r_stat_pkts++;
  r->r_stat_bytes += len;
  return 0;
}

int ring_peek(struct ring *r, struct vmpacket_descriptor *desc, uint32_t *pktlen) {
  uint64_t d[2];
  uint32_t len;
  int rc = ring_next(r, d, &len);
  if (rc == 0) {
    memcpy(desc, d, sizeof(d));
    if (pktlen)
      *pktlen = len;
  }
  return rc;
}

int ring_skip(struct ring *r) {
  uint64_t desc[2];
  uint32_t len;
  int rc = ring_next(r, desc, &len);
  if (rc)
    return rc;
  r->r_rd = ring_index_add(r, r->r_rd, len + VMBUS_PKT_TRAILER_SIZE);
  r->r_stat_pkts++;
  return 0;
}

/*
 * When the consumer signals (PROTOCOL-REFERENCE.md 3.4; Linux
 * hv_pkt_iter_close, FreeBSD vmbus_rxbr_read).
 *
 * A producer that found the ring full writes the space it needs into
 * pending_send_sz and waits (ring_set_pending_send). The consumer signals
 * only when this batch moved the free space from <= pending_send_sz to
 * > pending_send_sz, so the producer gets one interrupt per wait, and only
 * when the ring's writer declared FEAT_PENDING_SEND_SZ in feature_bits.
 * The store of read_index and the load of pending_send_sz are SEQ_CST
 * against the producer's store of pending_send_sz and load of read_index.
 */
bool ring_read_commit(struct ring *r) {
  uint32_t old_rd = r->r_rd_pub;
  uint32_t new_rd = r->r_rd;
  if (old_rd == new_rd)
    return false;
  /* SEQ_CST store: RELEASE for our copies out of the freed bytes, and the
   * full barrier before reading pending_send_sz. */
  STORE_SC(&r->r_ctl->read_index, new_rd);
  r->r_rd_pub = new_rd;

  if (!(LOAD_RLX(&r->r_ctl->feature_bits) & VMBUS_RING_FEAT_PENDING_SEND_SZ))
    return false;
  uint32_t pending = LOAD_SC(&r->r_ctl->pending_send_sz);
  if (pending == 0)
    return false;
  uint32_t wr = LOAD_SC(&r->r_ctl->write_index);
  if (!ring_index_ok(r, wr)) {
    ring_set_corrupt(r);
    return false;
  }
  uint32_t free_now = ring_free(r, wr, new_rd);
  uint32_t freed = ring_used(r, new_rd, old_rd);
  /* free_now >= freed unless the producer wrote past our read index, which
   * a valid producer cannot do; then do not signal. */
  if (free_now <= pending || freed > free_now || free_now - freed > pending)
    return false;
  r->r_stat_signals++;
  return true;
}

uint32_t ring_read_avail(struct ring *r) {
  uint32_t wr;
  if (!ring_load_index(r, &r->r_ctl->write_index, &wr))
    return 0;
  r->r_wr_seen = wr;
  return ring_used(r, wr, r->r_rd);
}

void ring_mask_interrupts(struct ring *r) {
  /* SEQ_CST so the producer sees the mask as early as possible; correctness
   * does not depend on it (an extra interrupt is harmless), only the unmask
   * below must be ordered. */
  STORE_SC(&r->r_ctl->interrupt_mask, 1);
}

bool ring_unmask_interrupts(struct ring *r) {
  /* SEQ_CST store then SEQ_CST load of write_index: the full barrier of
   * Linux hv_end_read. Without it the load could pass the store; a producer
   * that wrote meanwhile could still see mask 1 and not signal, while we see
   * the old write_index and go idle: a lost wake-up. */
  STORE_SC(&r->r_ctl->interrupt_mask, 0);
  if (r->r_corrupt)
    return true; /* let the caller's next read report -EPROTO */
  uint32_t wr = LOAD_SC(&r->r_ctl->write_index);
  if (!ring_index_ok(r, wr)) {
    ring_set_corrupt(r);
    return true;
  }
  r->r_wr_seen = wr;
  return wr != r->r_rd;
}

/* ---- debugging ------------------------------------------------------------------- */

void ring_dump(const struct ring *r, const char *name) {
  volatile struct vmbus_ring_ctl *c = r->r_ctl;
  printf("ring %s: size %u shared w=%u r=%u mask=%u pend=%u feat=%#x; local w=%u r=%u "
         "r_pub=%u w_seen=%u r_seen=%u w_pub=%u room=%u%s; pkts %lu bytes %lu full %lu "
         "signals %lu\n",
         name ? name : "?", (unsigned)r->r_size, (unsigned)LOAD_RLX(&c->write_index),
         (unsigned)LOAD_RLX(&c->read_index), (unsigned)LOAD_RLX(&c->interrupt_mask),
         (unsigned)LOAD_RLX(&c->pending_send_sz), (unsigned)LOAD_RLX(&c->feature_bits),
         (unsigned)r->r_wr, (unsigned)r->r_rd, (unsigned)r->r_rd_pub, (unsigned)r->r_wr_seen,
         (unsigned)r->r_rd_seen, (unsigned)r->r_wr_pub, (unsigned)r->r_wr_room,
         r->r_corrupt ? " CORRUPT" : "", (unsigned long)r->r_stat_pkts,
         (unsigned long)r->r_stat_bytes, (unsigned long)r->r_stat_full,
         (unsigned long)r->r_stat_signals);
}
