/* host/inproc_hw.h: the in-process hardware backend (DESIGN.md, first seam).
 *
 * Host builds link this instead of arch/x86_64/hw.c. It owns an arena that
 * stands for guest physical memory: the page allocator hands out its pages,
 * and hw_virt_to_phys/hw_phys_to_virt translate between arena pointers and
 * guest physical addresses, so a GPADL PFN means the same page to the guest
 * code and to the host emulator in one process.
 */
#ifndef HOST_INPROC_HW_H
#define HOST_INPROC_HW_H

#include <stddef.h>
#include <stdint.h>

/* Guest physical address of the arena's first byte: above the low 1 MiB, as
 * in the kernel, so that 0 is never a valid page. */
#define INPROC_GPA_BASE 0x100000ull

/** Map an arena of `bytes` (rounded up to pages) and hand every page to the
 * page allocator (which is reset first). Returns 0 or -ENOMEM. Calling it
 * again replaces the arena. */
int inproc_mem_setup(size_t bytes);
/** Unmap the arena. */
void inproc_mem_teardown(void);
/** The arena, for the host emulator's gpa -> pointer translation. */
void *inproc_mem_base(void);
size_t inproc_mem_size(void);

/** Register what hw_exit() and hw_reset() (and so panic()) call: fn must
 * not return (it longjmps out); NULL, the default, ends the process with
 * the status. */
void inproc_set_exit(void (*fn)(int status));

/* How the guest ended the machine (the values of enum acpifw_power):
 * hw_exit() powers off, hw_reset() resets. */
#define INPROC_POWER_NONE 0
#define INPROC_POWER_OFF 1
#define INPROC_POWER_RESET 2
/** INPROC_POWER_*: what the last hw_exit()/hw_reset() asked for. */
int inproc_power(void);
/** Forget it (a new run). */
void inproc_power_reset(void);

/* ---- the in-process partition backend (host/partition.h) ---------------- */
struct partition;
struct hvemu;

/** Make `p` the in-process partition over the arena (inproc_mem_setup
 * first): one region at INPROC_GPA_BASE, interrupts delivered by a DPC that
 * calls the handler registered with hw_irq_register. 0 or -ENODEV. */
int inproc_part_init(struct partition *p);
/** Route hw_cpuid, hw_rdmsr_safe/hw_wrmsr_safe and hw_hypercall to `hv`,
 * and hw_poll to its pollers (hvemu_poll). Forgets the
 * hypercall page and pending interrupts. */
void inproc_attach(struct hvemu *hv);
/** Undo inproc_attach; also forgets the registered interrupt handlers. */
void inproc_detach(void);

struct inproc_irq_stats {
  uint64_t is_injected;  /* part_inject calls */
  uint64_t is_delivered; /* handler calls */
  uint64_t is_unhandled; /* vectors with no handler */
};
const struct inproc_irq_stats *inproc_irq_stats(void);

#endif
