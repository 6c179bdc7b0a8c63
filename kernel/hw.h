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

/** Arm the platform's one-shot wake-up interrupt for deadline_ns (hw_now_ns
 * time; UINT64_MAX: none), so that hw_idle() returns by then. The event
 * loop calls it with the earliest timer before idling. Kernel: the LAPIC
 * timer once calibrated (before that, nothing). Host builds: nothing
 * (hw_idle() sleeps at most until the next timer deadline by itself). */
void hw_timer_program(uint64_t deadline_ns);

/** Let the platform's own work run once, before the event loop idles:
 * true when it did something (the loop then turns again instead of
 * idling). Kernel: false, the host is elsewhere. Host builds: the
 * in-process host's emulator pollers (host/inproc_hw.c). */
bool hw_poll(void);

/** Guest physical address of a kernel pointer, and back. The kernel is
 * identity mapped; host builds translate through the guest-memory arena.
 * hw_phys_to_virt returns NULL for an address outside guest memory. */
uint64_t hw_virt_to_phys(const void *p);
void *hw_phys_to_virt(uint64_t pa);

/* ---- Hypervisor access (used by hv/ only) --------------------------------
 * Kernel: the instructions themselves (arch/x86_64/hw.c). Host builds: the
 * in-process Hyper-V emulator answers (host/inproc_hw.c), so hv/ runs
 * unchanged against it. */
struct hw_cpuid_regs {
  uint32_t eax, ebx, ecx, edx;
};
void hw_cpuid(uint32_t leaf, uint32_t subleaf, struct hw_cpuid_regs *out);
/** MSR access that reports a #GP instead of taking it: 0, or -EIO when the
 * (real or emulated) CPU refused the access; *val is 0 then. */
int hw_rdmsr_safe(uint32_t msr, uint64_t *val);
int hw_wrmsr_safe(uint32_t msr, uint64_t val);
/** Tell the platform where the hypercall page is, once the hypervisor has
 * filled it (after HV_X64_MSR_HYPERCALL enable); NULL forgets it. */
void hw_hypercall_set_page(void *page);
/** One hypercall: RCX = control, RDX = input (GPA, or the value of a fast
 * call), R8 = output GPA (or 0). Returns RAX (HV_STATUS in bits 15:0).
 * Returns HV_STATUS_INVALID_HYPERCALL_CODE (2) when no page is set. */
uint64_t hw_hypercall(uint64_t control, uint64_t input, uint64_t output);
/** Route interrupt vector (32..254) to fn. Kernel: IDT entry, LAPIC EOI
 * after fn returns. Host: the emulator's injection calls fn from the event
 * loop with "interrupts" off. fn must only copy state and queue a DPC. */
void hw_irq_register(uint8_t vector, void (*fn)(uint8_t vector));

/** End the machine with a status byte (0 ok, 1 failure, 2 panic). Kernel:
 * the status goes to port 0xf4 (QEMU's isa-debug-exit, hvhost), then the
 * machine powers off through ACPI (SLP_TYPa|SLP_EN to PM1a_CNT, and PM1b),
 * then halts for good if it is still running. Host builds: records the
 * status and power=off (host/inproc_hw.h) and ends the run. */
_Noreturn void hw_exit(int status);
/** The same, but the machine resets instead of powering off (the shutdown
 * service's restart flag): FADT RESET_REG, else port 0xCF9, else the
 * keyboard controller, then a halt. Host builds: records power=reset. */
_Noreturn void hw_reset(int status);

#endif
