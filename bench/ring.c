/* bench/ring.c: kmcl/ring.c throughput beside memcpy and DPDK rte_ring.
 *
 * What is measured (PERF-RELIABILITY-REFERENCE.md 1.5, items 1 and 2): P-byte
 * payloads moved from a producer buffer to a consumer buffer through a
 * 512 KiB ring (netvsc's default 128 pages), with a copy in and a copy out:
 *   ring     b x ring_write_stage (16-byte descriptor + payload, pad,
 *            trailer) + one ring_write_commit (one publish, one signalling
 *            barrier per batch), then b x ring_read (whole packet copied
 *            out) + one ring_read_commit. b = 1: ring_write per packet (its
 *            own publish and barrier), ring_read + ring_read_commit.
 *   memcpy   the same two copies at the same addresses, nothing else: the
 *            physical limit. With two threads each core does one of the
 *            copies, so the limit shown is one copy per packet.
 *   rte_ring DPDK SP/SC ring of pointers, rte_ring_sp_enqueue_burst /
 *            rte_ring_sc_dequeue_burst of the same b (b = 1: one element per
 *            call), plus the same two copies into/out of slots.
 * Two row sets: b = BURST (32, DPDK's usual burst) and b = 1, so that
 * nobody reads the batched figures as per-packet ones. Modes: one thread
 * (b written, then read back), and two threads on CPUs 0 and 1 spinning
 * with pause on full/empty.
 * Placements: "real" = producer buffer at page offset 130 (mbuf headroom 128
 * + 2), consumer buffer at page offset 64; the ring slot moves with the ring.
 * "alias" = both buffers at the same offset within a 4 KiB page as the ring
 * slot they copy to/from (4 KiB aliasing, section 0: up to 9x slower).
 * Each figure is the best of 5 runs (2T: 11 runs of a quarter the packets)
 * after a warm-up, implementations interleaved; GB/s counts payload
 * bytes delivered (each copied twice).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kmcl/ring.h"

#ifdef HAVE_DPDK
#include <rte_ring.h>
#include <rte_version.h>
#endif

#define RING_BYTES (128u * 4096u) /* netvsc default ring size */
#define BURST 32u
#define DASHES "--------------------------------"
#define REPEATS 5     /* 1T */
#define REPEATS_2T 11 /* 2T: shorter runs, more of them (noisy vCPUs) */
#define SRC_OFF_REAL 130u
#define DST_OFF_REAL 64u

static const uint32_t sizes[] = {64, 256, 1514, 4096};

static inline void cpu_relax(void) { __builtin_ia32_pause(); }

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *xalloc(size_t n) {
  void *p = aligned_alloc(4096, n);
  if (!p) {
    fprintf(stderr, "bench/ring: out of memory\n");
    exit(1);
  }
  memset(p, 0x5a, n);
  return p;
}

/* One configuration. Buffers: src/dst are 3 pages so any page offset plus a
 * 4 KiB payload (plus descriptor) fits. */
struct cfg {
  uint32_t size;
  uint32_t batch; /* packets per publish / commit / burst call: 1 or BURST */
  bool alias;
  uint64_t npkts;
  uint8_t *src;
  uint8_t *dst;
  /* ring */
  uint8_t *ctl;
  uint8_t *data;
  /* The two views sit on separate cache-line pairs: in the guest they live
   * on different machines, and false sharing would dominate the 2T rows. */
  _Alignas(128) struct ring tx;
  _Alignas(128) struct ring rx;
  _Alignas(128) char pad_end;
  /* rte_ring slots */
  uint8_t *slots;
  uint32_t nslots;
  uint32_t slot_stride;
#ifdef HAVE_DPDK
  struct rte_ring *rr;
#endif
};

/* Address of the producer's buffer for a packet whose payload goes to ring
 * address `slot`, and of the consumer's buffer for a copy-out of `pkt`. */
static inline const uint8_t *src_for(const struct cfg *c, const uint8_t *payload) {
  return c->alias ? c->src + ((uintptr_t)payload & 4095) : c->src + SRC_OFF_REAL;
}
static inline uint8_t *dst_for(const struct cfg *c, const uint8_t *pkt) {
  return c->alias ? c->dst + ((uintptr_t)pkt & 4095) : c->dst + DST_OFF_REAL;
}

static void ring_setup(struct cfg *c) {
  ring_reset_ctl(c->ctl);
  if (ring_init(&c->tx, c->ctl, c->data, RING_BYTES) ||
      ring_init(&c->rx, c->ctl, c->data, RING_BYTES)) {
    fprintf(stderr, "bench/ring: ring_init failed\n");
    exit(1);
  }
}

/* ---- kmcl ring -------------------------------------------------------------- */

/* Write packet seq: staged (published by the caller's ring_write_commit)
 * when `stage`, else ring_write (published and signal-checked alone). */
static inline int ring_put(struct cfg *c, uint64_t seq, bool stage) {
  struct vmpacket_descriptor d = {.type = VM_PKT_DATA_INBAND,
                                  .offset8 = 2,
                                  .len8 = (uint16_t)(RING_ALIGN8(16 + c->size) / 8),
                                  .flags = 0,
                                  .trans_id = seq};
  uint32_t w = c->tx.r_wr + 16;
  if (w >= RING_BYTES)
    w -= RING_BYTES;
  struct ring_iov iov[2] = {{&d, 16}, {src_for(c, c->data + w), c->size}};
  bool sig;
  return stage ? ring_write_stage(&c->tx, iov, 2) : ring_write(&c->tx, iov, 2, &sig);
}

/* Write up to c->batch packets from seq *s on, published together (batch 1:
 * ring_write, one publish each). Returns how many were written. */
static inline unsigned ring_put_batch(struct cfg *c, uint64_t *s) {
  unsigned k = 0;
  int rc = 0;
  bool stage = c->batch > 1, sig;
  while (k < c->batch && *s < c->npkts && (rc = ring_put(c, *s, stage)) == 0) {
    ++*s;
    k++;
  }
  if ((rc && rc != -EAGAIN) || (stage && ring_write_commit(&c->tx, &sig))) {
    fprintf(stderr, "bench/ring: ring write failed (%d)\n", rc);
    exit(1);
  }
  return k;
}

static inline int ring_get(struct cfg *c, uint64_t seq) {
  uint32_t len;
  uint8_t *buf = dst_for(c, c->data + c->rx.r_rd);
  int rc = ring_read(&c->rx, buf, 4096 + 64, &len);
  if (rc && rc != -EAGAIN) {
    fprintf(stderr, "bench/ring: ring_read failed (%d)\n", rc);
    exit(1);
  }
  if (rc == 0 && ((const struct vmpacket_descriptor *)buf)->trans_id != seq) {
    fprintf(stderr, "bench/ring: packet %llu lost\n", (unsigned long long)seq);
    exit(1);
  }
  return rc;
}

/* 1T: a batch written (one publish), then read back (one commit). */
static void ring_1t(struct cfg *c) {
  ring_setup(c);
  for (uint64_t s = 0, r = 0; r < c->npkts;) {
    ring_put_batch(c, &s);
    while (r < s && ring_get(c, r) == 0)
      r++;
    ring_read_commit(&c->rx);
  }
}

static void *ring_producer(void *arg) {
  struct cfg *c = arg;
  for (uint64_t s = 0; s < c->npkts;)
    if (ring_put_batch(c, &s) == 0)
      cpu_relax();
  return NULL;
}

/* Reads up to c->batch packets, then commits; pause when the ring is empty. */
static void ring_consumer(struct cfg *c) {
  for (uint64_t r = 0; r < c->npkts;) {
    unsigned k = 0;
    while (k < c->batch && r < c->npkts && ring_get(c, r) == 0) {
      r++;
      k++;
    }
    ring_read_commit(&c->rx);
    if (k == 0)
      cpu_relax();
  }
}

/* ---- memcpy reference ------------------------------------------------------- */

/* The same copies at the same addresses as the ring (payload to the slot the
 * ring would use, packet back out), wrap handled by splitting. */
static inline uint32_t copy_in(struct cfg *c, uint32_t w) {
  uint32_t p = w + 16 >= RING_BYTES ? w + 16 - RING_BYTES : w + 16;
  const uint8_t *s = src_for(c, c->data + p);
  uint32_t first = RING_BYTES - p;
  if (c->size <= first) {
    memcpy(c->data + p, s, c->size);
  } else {
    memcpy(c->data + p, s, first);
    memcpy(c->data, s + first, c->size - first);
  }
  w += RING_PKT_SPACE(16 + c->size);
  return w >= RING_BYTES ? w - RING_BYTES : w;
}

static inline uint32_t copy_out(struct cfg *c, uint32_t r) {
  uint32_t n = RING_ALIGN8(16 + c->size);
  uint8_t *d = dst_for(c, c->data + r);
  uint32_t first = RING_BYTES - r;
  if (n <= first) {
    memcpy(d, c->data + r, n);
  } else {
    memcpy(d, c->data + r, first);
    memcpy(d + first, c->data, n - first);
  }
  r += n + 8;
  return r >= RING_BYTES ? r - RING_BYTES : r;
}

static void memcpy_2copies(struct cfg *c) {
  uint32_t w = 0, r = 0;
  for (uint64_t s = 0; s < c->npkts;) {
    for (unsigned i = 0; i < c->batch && s < c->npkts; i++, s++)
      w = copy_in(c, w);
    for (unsigned i = 0; i < c->batch && r != w; i++)
      r = copy_out(c, r);
  }
  __asm__ volatile("" ::"r"(c->data), "r"(c->dst) : "memory");
}

static void memcpy_1copy(struct cfg *c) {
  uint32_t w = 0;
  for (uint64_t s = 0; s < c->npkts; s++)
    w = copy_in(c, w);
  __asm__ volatile("" ::"r"(c->data) : "memory");
}

/* ---- DPDK rte_ring ----------------------------------------------------------- */

#ifdef HAVE_DPDK
static void rr_setup(struct cfg *c) {
  /* As many packet slots as the VMBus ring holds packets of this size
   * (RING_F_EXACT_SZ: capacity exactly `count`). */
  unsigned count = RING_BYTES / RING_PKT_SPACE(16 + c->size);
  /* Slot j % nslots holds packet j. The producer fills slots only for
   * packets the ring has room for (j < dequeued + count), while the
   * consumer may still be copying out the up to BURST packets it dequeued
   * last (j >= dequeued - BURST): nslots >= count + BURST keeps them apart. */
  c->nslots = count + BURST + 8;
  c->slot_stride = RING_PKT_SPACE(16 + c->size);
  if (rte_ring_init(c->rr, "bench", count, RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ) != 0) {
    fprintf(stderr, "bench/ring: rte_ring_init failed\n");
    exit(1);
  }
}

/* Copy up to c->batch packets from seq *s on into their slots and enqueue
 * them with one burst call (batch 1: one element per call). Returns how many. */
static inline unsigned rr_put_batch(struct cfg *c, uint64_t *s) {
  void *objs[BURST];
  unsigned k = rte_ring_free_count(c->rr);
  if (k > c->batch)
    k = c->batch;
  if (k > c->npkts - *s)
    k = (unsigned)(c->npkts - *s);
  for (unsigned i = 0; i < k; i++) {
    uint64_t seq = *s + i;
    uint8_t *slot = c->slots + (size_t)(seq % c->nslots) * c->slot_stride;
    memcpy(slot, src_for(c, slot), c->size);
    memcpy(slot, &seq, sizeof(seq));
    objs[i] = slot;
  }
  if (k && rte_ring_sp_enqueue_burst(c->rr, objs, k, NULL) != k) {
    fprintf(stderr, "bench/ring: rte_ring enqueue short\n");
    exit(1);
  }
  *s += k;
  return k;
}

/* Dequeue up to c->batch packets with one burst call and copy them out,
 * checking their sequence numbers from *r on. Returns how many. */
static inline unsigned rr_get_batch(struct cfg *c, uint64_t *r) {
  void *objs[BURST];
  unsigned k = rte_ring_sc_dequeue_burst(c->rr, objs, c->batch, NULL);
  for (unsigned i = 0; i < k; i++) {
    uint8_t *d = dst_for(c, objs[i]);
    memcpy(d, objs[i], c->size);
    uint64_t got;
    memcpy(&got, d, sizeof(got));
    if (got != *r) {
      fprintf(stderr, "bench/ring: rte_ring packet %llu lost\n", (unsigned long long)*r);
      exit(1);
    }
    ++*r;
  }
  return k;
}

static void rr_1t(struct cfg *c) {
  rr_setup(c);
  for (uint64_t s = 0, r = 0; r < c->npkts;) {
    rr_put_batch(c, &s);
    while (r < s && rr_get_batch(c, &r))
      ;
  }
}

static void *rr_producer(void *arg) {
  struct cfg *c = arg;
  for (uint64_t s = 0; s < c->npkts;)
    if (rr_put_batch(c, &s) == 0)
      cpu_relax();
  return NULL;
}

static void rr_consumer(struct cfg *c) {
  for (uint64_t r = 0; r < c->npkts;)
    if (rr_get_batch(c, &r) == 0)
      cpu_relax();
}
#endif

/* ---- harness ------------------------------------------------------------------ */

static bool pin(pthread_t t, int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(t, sizeof(set), &set) == 0;
}

static void *noop(void *arg) { return arg; }

/* Can a thread be placed on CPU 1? */
static bool probe_cpu1(void) {
  pthread_t t;
  pthread_attr_t at;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(1, &set);
  bool ok = pthread_attr_init(&at) == 0 &&
            pthread_attr_setaffinity_np(&at, sizeof(set), &set) == 0 &&
            pthread_create(&t, &at, noop, NULL) == 0;
  if (ok)
    pthread_join(t, NULL);
  pthread_attr_destroy(&at);
  return ok;
}

enum impl { IMPL_RING, IMPL_MEMCPY, IMPL_RTE };

static bool two_cpus;

/* One timed run; returns seconds. */
static double run_once(struct cfg *c, enum impl impl, bool threads) {
  double t0, t1;
  if (!threads) {
    t0 = now_s();
    if (impl == IMPL_RING)
      ring_1t(c);
    else if (impl == IMPL_MEMCPY)
      memcpy_2copies(c);
#ifdef HAVE_DPDK
    else
      rr_1t(c);
#endif
    return now_s() - t0;
  }
  if (impl == IMPL_MEMCPY) { /* one copy per packet per stage */
    t0 = now_s();
    memcpy_1copy(c);
    return now_s() - t0;
  }
  void *(*prod)(void *) = ring_producer;
  if (impl == IMPL_RING)
    ring_setup(c);
#ifdef HAVE_DPDK
  else {
    rr_setup(c);
    prod = rr_producer;
  }
#endif
  /* The producer is created on CPU 1 (we are pinned to CPU 0); the clock
   * starts before it, so its head start is counted. */
  pthread_t th;
  pthread_attr_t at;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(1, &set);
  pthread_attr_init(&at);
  pthread_attr_setaffinity_np(&at, sizeof(set), &set);
  t0 = now_s();
  if (pthread_create(&th, &at, prod, c) != 0) {
    fprintf(stderr, "bench/ring: pthread_create failed\n");
    exit(1);
  }
  pthread_attr_destroy(&at);
  if (impl == IMPL_RING)
    ring_consumer(c);
#ifdef HAVE_DPDK
  else
    rr_consumer(c);
#endif
  t1 = now_s();
  pthread_join(th, NULL);
  return t1 - t0;
}

/* Best of REPEATS (REPEATS_2T) after a short warm-up, for `nimpl` implementations run
 * in turn (ABCABC...) so that load from elsewhere on the machine hits all of
 * them alike. Fills pps[] with packets per second. */
static void measure(struct cfg *c, const enum impl *impls, int nimpl, bool threads, double *pps,
                    double *spread) {
  uint64_t n = c->npkts;
  double best[3] = {1e30, 1e30, 1e30}, worst[3] = {0, 0, 0};
  c->npkts = n / 8;
  for (int k = 0; k < nimpl; k++)
    run_once(c, impls[k], threads);
  c->npkts = n;
  for (int i = 0; i < (threads ? REPEATS_2T : REPEATS); i++)
    for (int k = 0; k < nimpl; k++) {
      double t = run_once(c, impls[k], threads);
      if (t < best[k])
        best[k] = t;
      if (t > worst[k])
        worst[k] = t;
    }
  for (int k = 0; k < nimpl; k++) {
    pps[k] = (double)n / best[k];
    spread[k] = worst[k] / best[k];
  }
}

/* The buffers every configuration shares, and DPDK's ring's memory. Returns
 * why there are no rte_ring figures, or NULL when there are. */
static const char *bench_alloc(struct cfg *c) {
  c->src = xalloc(3 * 4096);
  c->dst = xalloc(3 * 4096);
  c->ctl = xalloc(4096);
  c->data = xalloc(RING_BYTES);
  c->slots = xalloc(RING_BYTES + 64 * 8192);
#ifdef HAVE_DPDK
  size_t rsz = (size_t)rte_ring_get_memsize(1u << 16);
  c->rr = aligned_alloc(64, (rsz + 63) & ~(size_t)63);
  return c->rr ? NULL : "out of memory";
#else
  return "not available (libdpdk not found by pkg-config at build time)";
#endif
}

/* The CPU's "model name" from /proc/cpuinfo, or "unknown CPU". */
static void cpu_model(char *model, size_t cap) {
  snprintf(model, cap, "unknown CPU");
  FILE *f = fopen("/proc/cpuinfo", "r");
  for (char line[256]; f && fgets(line, sizeof(line), f);)
    if (strncmp(line, "model name", 10) == 0 && strchr(line, ':')) {
      snprintf(model, cap, "%s", strchr(line, ':') + 2);
      model[strcspn(model, "\n")] = 0;
      break;
    }
  if (f)
    fclose(f);
}

/* What the tables measure, and on what machine. */
static void print_intro(const char *rte_why) {
  printf("bench/ring: kmcl ring (16 B descriptor + 8 B trailer per packet; b = batch: b "
         "ring_write_stage + one ring_write_commit,\n"
         "  b ring_read + one ring_read_commit; b = 1: ring_write, ring_read + ring_read_commit "
         "per packet)\n"
         "  beside memcpy of the same bytes at the same addresses (1T: copy in + copy out; 2T: "
         "one copy = per-stage limit)\n"
         "  and DPDK rte_ring SP/SC (pointers by rte_ring_sp_enqueue_burst/sc_dequeue_burst of "
         "b + the same copies).\n"
         "  Ring 512 KiB; 1T = b written, then read; 2T = CPU0/CPU1, pause on full/empty.\n"
         "  real = app buffers at page offsets 130/64; alias = app buffer at the ring slot's page "
         "offset (4 KiB aliasing). GB/s = payload bytes delivered.\n");
  char model[128];
  cpu_model(model, sizeof(model));
  printf("  machine: %s, %ld CPUs online; two-thread rows %s\n", model,
         sysconf(_SC_NPROCESSORS_ONLN), two_cpus ? "on CPUs 0 and 1" : "skipped");
  if (rte_why)
    printf("  rte_ring: %s\n", rte_why);
#ifdef HAVE_DPDK
  else
    printf("  rte_ring: %s, rte_ring_init on our own memory, no EAL\n", rte_version());
#endif
}

static void print_table_head(void) {
  printf("\n%5s %5s %2s %2s | %8s %7s | %7s %6s | %8s %7s %6s | %9s\n", "bytes", "place", "th", "b",
         "ring Mpps", "GB/s", "memcpy", "r/mcp", "rte Mpps", "GB/s", "r/rte", "spread");
  printf("%.18s+%.19s+%.16s+%.25s+%.10s\n", DASHES, DASHES, DASHES, DASHES, DASHES);
}

/* One row of the table: `size`-byte packets, placed `alias` or real, one
 * thread or two (th), in batches of c->batch; measured, then printed. */
static void bench_row(struct cfg *c, uint32_t size, bool alias, bool th, const char *rte_why) {
  c->size = size;
  c->alias = alias;
  uint64_t n = (1ull << 29) / c->size;
  if (n > (1u << 21))
    n = 1u << 21;
  c->npkts = th ? n / 4 : n;
  const char *place = alias ? "alias" : "real";
  if (th && !two_cpus) {
    printf("%5u %5s %2s %2u | n/a: fewer than 2 usable CPUs\n", c->size, place, "2T", c->batch);
    return;
  }
  static const enum impl impls[3] = {IMPL_RING, IMPL_MEMCPY, IMPL_RTE};
  double pps[3], spread[3];
  measure(c, impls, rte_why ? 2 : 3, th, pps, spread);
  double ring_pps = pps[0], mcp_pps = pps[1], gb = (double)c->size * 1e-9;
  printf("%5u %5s %2s %2u | %8.2f %7.2f | %7.2f %5.2fx |", c->size, place, th ? "2T" : "1T",
         c->batch, ring_pps * 1e-6, ring_pps * gb, mcp_pps * gb, ring_pps / mcp_pps);
  if (!rte_why)
    printf(" %8.2f %7.2f %5.2fx", pps[2] * 1e-6, pps[2] * gb, ring_pps / pps[2]);
  else
    printf(" %8s %7s %6s", "-", "-", "-");
  printf(" | %4.1f %4.1f\n", spread[0], rte_why ? 0.0 : spread[2]);
  fflush(stdout);
}

int main(void) {
  static struct cfg c;
  const char *rte_why = bench_alloc(&c);
  /* Pin ourselves to CPU 0; the producer thread goes to CPU 1. */
  two_cpus = pin(pthread_self(), 0) && probe_cpu1();
  print_intro(rte_why);
  double t_start = now_s();
  static const uint32_t batches[2] = {BURST, 1};
  for (int bi = 0; bi < 2; bi++) {
    c.batch = batches[bi];
    print_table_head();
    for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++)
      for (int alias = 0; alias < 2; alias++)
        for (int th = 0; th < 2; th++)
          bench_row(&c, sizes[si], alias, th, rte_why);
  }
  printf("bench/ring: r/mcp = ring GB/s / memcpy GB/s, r/rte = ring / rte_ring (higher = ring "
         "faster);\n  spread = slowest/fastest of this process's runs (ring, rte_ring). 2T rows "
         "also differ up to several-fold\n  between processes on a shared 2-vCPU VM (vCPU "
         "placement): compare 2T rows with care. %.1f s total\n",
         now_s() - t_start);
  return 0;
}
