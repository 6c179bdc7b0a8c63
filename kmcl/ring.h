/* kmcl/ring.h: VMBus ring buffer, one direction (pure functions).
 *
 * A VMBus channel has two rings, each a 4 KiB control page
 * (struct vmbus_ring_ctl) followed by a data area whose size is a multiple of
 * 4 KiB and NOT in general a power of two. Each side keeps its own
 * struct ring view of the same shared memory: the producer writes packets,
 * the consumer reads them. Nothing here allocates, locks, logs or calls the
 * hypervisor: "signal the peer" is a return value (STYLE.md rule 4). One
 * struct ring is used by one thread at a time; the producer and the consumer
 * of one ring may run concurrently on different CPUs.
 *
 * The peer is hostile (STYLE.md rule 5): shared indices and descriptors are
 * read once, validated, and only the local copy is used; inbound packets are
 * copied out whole before the caller looks at them. A malformed ring returns
 * -EPROTO and stays dead (r_corrupt is sticky) until ring_init again.
 *
 * Errors: 0 ok; -EAGAIN ring full (write) or empty (read); -EMSGSIZE the
 * caller's buffer is too small (read: packet left in place) or the packet
 * can never fit the ring (write); -EPROTO ring corrupt;
 * -EINVAL a caller bug (bad sizes, bad descriptor in ring_write).
 */
#ifndef KMCL_RING_H
#define KMCL_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kmcl/vmbus_ring_proto.h"

/** Round up to the 8-byte packet alignment (no overflow for len <= 2^32-8). */
#define RING_ALIGN8(len) (((len) + 7u) & ~(uint32_t)7u)
/** Ring bytes one packet of `len` bytes (descriptor + headers + payload)
 * occupies: padding to 8 and the 8-byte trailer. A write of such a packet
 * needs strictly more free space than this (the ring is never filled). Use
 * it for ring_set_pending_send(). */
#define RING_PKT_SPACE(len) (RING_ALIGN8(len) + VMBUS_PKT_TRAILER_SIZE)

/** One piece of an outbound packet (like struct iovec). */
struct ring_iov {
  const void *ri_base;
  uint32_t ri_len;
};

/** One side's view of one ring. Fields are private to ring.c except for
 * reading the statistics and r_corrupt. */
struct ring {
  volatile struct vmbus_ring_ctl *r_ctl; /* shared control page */
  uint8_t *r_data;                       /* shared data area */
  uint32_t r_size;                       /* data area bytes, multiple of 4096 */
  bool r_corrupt;                        /* sticky: peer broke the protocol */
  /* Producer: our write index (never re-read from shared memory), and the
   * last read_index seen (validated): the space below it is certainly free,
   * so read_index is re-read before a write only when that space is not
   * enough (it is re-read after every publish anyway, for the signal rule). */
  uint32_t r_wr;
  uint32_t r_rd_seen;
  /* Producer: the value last published in ctl->write_index; r_wr is ahead
   * of it while packets are staged (ring_write_stage) and not yet committed
   * (ring_write_commit). */
  uint32_t r_wr_pub;
  /* Producer: bytes after r_wr a packet's space may take (free space as of
   * r_rd_seen, minus the 8 bytes that keep the ring from filling). */
  uint32_t r_wr_room;
  /* Consumer: r_rd = next packet to read (private), r_rd_pub = the value last
   * published in ctl->read_index; they differ inside a batch. */
  uint32_t r_rd;
  uint32_t r_rd_pub;
  /* Consumer: the last write_index seen (validated). Packets below it are
   * complete, so it is re-read only when r_rd reaches it: the consumer then
   * touches the control line the producer writes once per burst, not once
   * per packet. */
  uint32_t r_wr_seen;
  /* Statistics, only ever incremented. */
  uint64_t r_stat_pkts;    /* packets written / read */
  uint64_t r_stat_bytes;   /* packet bytes written / read (len8*8, no trailer) */
  uint64_t r_stat_full;    /* ring_write -EAGAIN (ring full) */
  uint64_t r_stat_signals; /* times a function said "signal the peer" */
};

/**
 * Attach a view to a ring. Takes the ring as it is (indices are not reset),
 * so either side may attach to a ring that is in use; the indices are read
 * once and validated.
 * @param ctl_page  the 4 KiB control page
 * @param data      the data area (may be anywhere, need not follow ctl_page)
 * @param data_size bytes of data, nonzero multiple of 4096, at most 2^31
 * @ret 0, -EINVAL for bad arguments, -EPROTO if the shared indices are
 *      invalid (the view is then marked corrupt).
 */
int ring_init(struct ring *r, void *ctl_page, void *data, uint32_t data_size);

/** For the side that creates the ring, before the peer sees it: zero the
 * control page (indices, mask, pending_send_sz) and set feature_bits to
 * VMBUS_RING_FEAT_PENDING_SEND_SZ (what Linux does on both rings). Call
 * ring_init afterwards. */
void ring_reset_ctl(void *ctl_page);

/* ---- producer --------------------------------------------------------------- */

/**
 * Write one complete packet, gathered from iov[0..n-1]. iov[0] must begin
 * with the full 16-byte struct vmpacket_descriptor whose len8 equals
 * ALIGN8(total bytes)/8 and 2 <= offset8 <= len8; the ring adds zero padding
 * to 8 bytes and the trailer. The packet is published as a whole (together
 * with any packets staged before it by ring_write_stage).
 * @param need_signal set to true when the caller must signal the peer
 *        (see the rule in ring.c), false otherwise; written on success only.
 * @ret 0; -EAGAIN not enough space now (nothing written; see
 *      ring_set_pending_send); -EMSGSIZE the packet can never fit this ring
 *      (RING_PKT_SPACE(total) >= data size); -EINVAL bad iov/descriptor or
 *      larger than VMBUS_PKT_MAX_LEN; -EPROTO the peer's read_index is
 *      invalid (sticky; the ring is dead, and whether this packet was
 *      published no longer matters).
 */
int ring_write(struct ring *r, const struct ring_iov *iov, unsigned n, bool *need_signal);

/**
 * Batched writes: ring_write_stage() writes one packet exactly as ring_write
 * does (same checks, same bytes in the ring) but does not publish it;
 * ring_write_commit() then publishes every staged packet with one store of
 * write_index and evaluates the signalling rule once for the whole batch:
 * signal when the consumer had read everything published before the batch
 * and its interrupt_mask is 0. N packets so cost one full barrier instead
 * of N; the bytes in the ring are identical to N ring_write calls.
 *
 * Staged packets are invisible to the consumer until the commit: commit
 * before waiting for the consumer (ring_set_pending_send), or it may wait
 * for packets it cannot see. ring_write() commits earlier staged packets
 * together with its own.
 *
 * ring_write_stage returns what ring_write returns, but its -EPROTO means
 * a corrupt view or a bad read_index met while looking for space (nothing
 * published); -EAGAIN means this packet does not fit now (earlier staged
 * packets stay staged: commit them). ring_write_commit returns 0 (also when
 * nothing was staged: *need_signal false; written on 0 only), -EINVAL for a
 * NULL need_signal, or -EPROTO: the view was already corrupt (nothing is
 * published) or the read_index seen after publishing is invalid (sticky;
 * the ring is dead, as for ring_write).
 */
int ring_write_stage(struct ring *r, const struct ring_iov *iov, unsigned n);
int ring_write_commit(struct ring *r, bool *need_signal);

/** One packet for ring_write_batch: iov[0..n-1] as for ring_write. */
struct ring_pkt {
  const struct ring_iov *rp_iov;
  unsigned rp_n;
};

/**
 * Stage pkts[0..n-1] in order until one does not fit or is invalid, then
 * commit the packets staged so far (and any staged before), keeping the
 * ring's private state in registers for the whole batch. *done is the
 * number of pkts written (0 on -EINVAL for NULL arguments). Returns 0 when
 * all n were written, else the error of pkts[*done] (-EAGAIN, -EMSGSIZE,
 * -EINVAL: the packets before it are published all the same, and
 * *need_signal is set as by ring_write_commit: honour it) or -EPROTO.
 */
int ring_write_batch(struct ring *r, const struct ring_pkt *pkts, unsigned n, unsigned *done,
                     bool *need_signal);

/**
 * A blocked producer asks to be woken when more than `bytes` are free
 * (bytes = RING_PKT_SPACE(len) of the packet that did not fit); 0 clears
 * the request. Returns true when the space is already there after the
 * request was published (the consumer may have drained in between and will
 * not signal): then retry the write instead of waiting. Only meaningful if
 * the consumer honours it (it does when our side set the feature bit).
 */
bool ring_set_pending_send(struct ring *r, uint32_t bytes);

/** Bytes a producer could use now (free space minus the one reserved slot,
 * i.e. a packet with RING_PKT_SPACE(len) <= this fits). 0 when corrupt. */
uint32_t ring_write_avail(struct ring *r);

/* ---- consumer --------------------------------------------------------------- */

/**
 * Copy the next packet out and advance the private read index. The packet
 * (descriptor, headers, payload and padding: len8*8 bytes, no trailer) is
 * copied into buf; the descriptor in buf is the validated one. The read is
 * not visible to the producer until ring_read_commit().
 * @param pktlen set to len8*8 on 0 and on -EMSGSIZE
 * @ret 0; -EAGAIN ring empty; -EMSGSIZE buflen < *pktlen (packet stays);
 *      -EPROTO corrupt ring (sticky).
 */
int ring_read(struct ring *r, void *buf, uint32_t buflen, uint32_t *pktlen);

/**
 * Validate the next packet and copy only its descriptor (the len8/offset8 in
 * *desc are validated). Does not advance. Same errors as ring_read, without
 * -EMSGSIZE. pktlen may be NULL.
 */
int ring_peek(struct ring *r, struct vmpacket_descriptor *desc, uint32_t *pktlen);

/** Drop the next packet without copying it (after -EMSGSIZE, for example).
 * @ret 0, -EAGAIN, -EPROTO */
int ring_skip(struct ring *r);

/**
 * Publish the private read index to the producer (end of a batch of
 * ring_read/ring_skip). Returns true when the caller must signal the
 * producer (free space crossed its pending_send_sz; rule in ring.c).
 *
 * Before going idle after a commit, re-check the ring with
 * ring_unmask_interrupts() (or ring_read_avail()): the producer signals only
 * when it finds read_index equal to its old write_index, so a packet written
 * while our reads were not yet committed raises no interrupt.
 */
bool ring_read_commit(struct ring *r);

/** Bytes of unread data (packets and trailers) after the private read
 * index. 0 when empty or corrupt (check r_corrupt, or ring_read gives
 * -EPROTO). */
uint32_t ring_read_avail(struct ring *r);

/** Consumer: set interrupt_mask = 1 ("I'm draining, don't signal me"). */
void ring_mask_interrupts(struct ring *r);

/**
 * Consumer: set interrupt_mask = 0, then re-check the ring. Returns true
 * when data is waiting (a write that raced with the unmask did not signal,
 * so the caller must drain again instead of waiting for an interrupt).
 */
bool ring_unmask_interrupts(struct ring *r);

/* ---- debugging ---------------------------------------------------------------- */

/** Print indices, flags and statistics on one line, prefixed with `name`. */
void ring_dump(const struct ring *r, const char *name);

#endif
