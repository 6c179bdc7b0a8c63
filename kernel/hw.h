/* kernel/hw.h: the hardware primitives seam (DESIGN.md, first seam).
 *
 * Everything above arch/ reaches the machine only through these calls. The
 * kernel build implements them in arch/x86_64/hw.c (inline assembly behind
 * out-of-line functions); host builds link host/inproc_hw.c instead, which
 * runs them over an arena of "guest physical" pages and the host's clock.
 * Nothing here may be called with a pointer the caller did not allocate.
 */
#ifndef KERNEL_HW_H
#define KERNEL_HW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Monotonic time in nanoseconds since an arbitrary origin (boot). */
uint64_t hw_now_ns(void);

/** Interrupt state: save-and-disable, and restore what was saved. */
unsigned long hw_irq_save(void);
void hw_irq_restore(unsigned long flags);

/** Wait for the next interrupt (kernel: `sti; hlt; cli`, race-free because
 * STI's shadow covers HLT). Called with interrupts disabled; returns with
 * interrupts disabled. Host builds: lets the in-process host run instead. */
void hw_idle(void);

/** Guest physical address of a kernel pointer, and back. The kernel is
 * identity mapped; host builds translate through the guest-memory arena.
 * hw_phys_to_virt returns NULL for an address outside guest memory. */
uint64_t hw_virt_to_phys(const void *p);
void *hw_phys_to_virt(uint64_t pa);

/** End the machine with a status byte (0 ok, 1 failure, 2 panic). */
_Noreturn void hw_exit(int status);

#endif
