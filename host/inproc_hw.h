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

/** Called by hw_exit() when set; must not return (longjmp out). Without it
 * hw_exit() ends the process with the status. */
extern void (*inproc_exit_hook)(int status);

#endif
