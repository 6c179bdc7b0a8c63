/* host/partition.h: the partition the host emulator serves (STYLE.md rule 12).
 *
 * One `struct partition` plus a backend-private part (Solo5's struct hvt /
 * struct hvt_b). The emulator (host/hvemu.c) and the VMBus server
 * (host/vmbus_server.c) reach the guest only through this file:
 *  - guest memory by guest physical address, every access checked for start,
 *    length and overflow through part_gpa_ptr() / PART_CHECKED_GPA_P();
 *  - interrupts through part_inject();
 *  - the hypercall page content, written by the backend when the guest enables
 *    HV_X64_MSR_HYPERCALL (the code differs: KVM traps an OUT, in-process
 *    calls do not execute the page at all).
 *
 * Two backends: in-process (host/inproc_hw.c; interrupts are calls into the
 * guest's handler from the event loop) and KVM (next issue: RAM mmapped into
 * the VM, KVM_SIGNAL_MSI for injection). The backend calls the emulator's
 * entry points (hvemu_cpuid, hvemu_rdmsr, hvemu_wrmsr, hvemu_hypercall) from
 * its exits; the partition never calls them itself.
 *
 * Guest misbehaviour that must stop the VM is recorded with part_fail(): the
 * first error (file, line, text) sticks and part_failed() turns true. The
 * library never exits; only the command-line tools do (STYLE.md rule 12).
 */
#ifndef HOST_PARTITION_H
#define HOST_PARTITION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PART_MAX_REGIONS 4
#define PART_ERR_MAX 256

struct partition;

/** A contiguous range of guest physical memory backed by host memory. */
struct part_region {
  uint64_t pr_gpa;  /* first guest physical address */
  uint64_t pr_size; /* bytes; pr_gpa + pr_size does not overflow */
  uint8_t *pr_host; /* host address of pr_gpa */
};

/** Backend operations. Every op is called from the host's one thread. */
struct part_ops {
  const char *po_name; /* "inproc", "kvm" */
  /** Deliver interrupt `vector` (16..255) to virtual processor `vp`.
   * Must not call into the guest synchronously (the caller may be inside a
   * hypercall or MSR exit): queue it. 0 or -errno. */
  int (*po_inject)(struct partition *p, uint32_t vp, uint8_t vector);
  /** Fill the 4 KiB hypercall page at `page` (host pointer of guest memory,
   * already checked) with the backend's calling sequence. NULL: the
   * partition writes part_hypercall_code. */
  void (*po_write_hypercall_page)(struct partition *p, uint8_t *page);
  /** Free the backend-private part (may be NULL). */
  void (*po_destroy)(struct partition *p);
};

struct partition {
  const struct part_ops *p_ops;
  void *p_backend; /* backend-private (struct hvt_b) */
  struct part_region p_regions[PART_MAX_REGIONS];
  unsigned p_nregions;
  uint32_t p_vp_count; /* 1 for now */
  /* first guest-misbehaviour error (part_fail) */
  bool p_failed;
  char p_err[PART_ERR_MAX];
  const char *p_err_file;
  int p_err_line;
  /* statistics */
  uint64_t p_injections;
  uint64_t p_bad_gpa; /* rejected gpa lookups through the checked macro */
};

/** The bytes written into the hypercall page when the backend has no op:
 * `endbr64; out %al,$0xe5; ret` (KVM-NOTES.md pitfalls 1 and "endbr64"). */
extern const uint8_t part_hypercall_code[7];
#define PART_HYPERCALL_PORT 0xe5

/** Initialise `p` with backend ops and private data; no memory yet. */
void part_init(struct partition *p, const struct part_ops *ops, void *backend);
/** Call the backend's destroy op and forget the regions. */
void part_destroy(struct partition *p);

/** Add guest memory [gpa, gpa+size) at host address `host`. Regions must
 * not overlap. 0, -EINVAL (empty, overflow, overlap), -ENOSPC (too many). */
int part_add_region(struct partition *p, uint64_t gpa, uint64_t size, void *host);

/** Host pointer for [gpa, gpa+len) when every byte lies inside one region,
 * else NULL. Overflow-safe for any gpa and len; len 0 is treated as 1. */
void *part_gpa_ptr(const struct partition *p, uint64_t gpa, uint64_t len);

/** part_gpa_ptr that logs a failed check with the caller's file and line
 * (rate-limited) and counts it: use it for every guest-supplied address. */
void *part_gpa_ptr_checked(struct partition *p, uint64_t gpa, uint64_t len, const char *file,
                           int line);
#define PART_CHECKED_GPA_P(p, gpa, len) part_gpa_ptr_checked((p), (gpa), (len), __FILE__, __LINE__)

/** True when `pfn` names a 4 KiB page wholly inside guest memory. */
bool part_pfn_valid(const struct partition *p, uint64_t pfn);

/** Inject `vector` into vp through the backend; counts injections. */
int part_inject(struct partition *p, uint32_t vp, uint8_t vector);

/** Record guest misbehaviour that stops the VM (first one sticks; logged). */
void part_fail_at(struct partition *p, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define part_fail(p, ...) part_fail_at((p), __FILE__, __LINE__, __VA_ARGS__)
static inline bool part_failed(const struct partition *p) { return p->p_failed; }

#endif
