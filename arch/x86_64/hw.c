/* arch/x86_64/hw.c: the kernel's implementation of kernel/hw.h. */
#include "kernel/hw.h"

#include <errno.h>

#include "arch/x86_64/arch.h"
#include "arch/x86_64/cpu.h"

#define EXIT_PORT 0xf4

unsigned long hw_irq_save(void) {
  unsigned long f = (unsigned long)read_rflags();
  cpu_cli();
  return f;
}

void hw_irq_restore(unsigned long flags) {
  if (flags & RFLAGS_IF)
    cpu_sti();
}

/* STI's one-instruction shadow covers HLT, so an interrupt that became
 * pending after the caller's last check wakes the HLT instead of being
 * taken before it and lost (KVM-NOTES.md pitfall 9). */
void hw_idle(void) { __asm__ volatile("sti; hlt; cli" ::: "memory"); }

void hw_timer_program(uint64_t deadline_ns) { lapic_timer_program(deadline_ns); }

bool hw_poll(void) { return false; }

/* Identity mapped below 4 GiB (boot/multiboot.S). */
uint64_t hw_virt_to_phys(const void *p) { return (uint64_t)(uintptr_t)p; }

void *hw_phys_to_virt(uint64_t pa) { return pa < (4ull << 30) ? (void *)(uintptr_t)pa : (void *)0; }

void hw_cpuid(uint32_t leaf, uint32_t subleaf, struct hw_cpuid_regs *out) {
  struct cpuid_regs r = cpuid(leaf, subleaf);
  out->eax = r.eax;
  out->ebx = r.ebx;
  out->ecx = r.ecx;
  out->edx = r.edx;
}

int hw_rdmsr_safe(uint32_t msr, uint64_t *val) { return rdmsr_safe(msr, val) ? -EIO : 0; }
int hw_wrmsr_safe(uint32_t msr, uint64_t val) { return wrmsr_safe(msr, val) ? -EIO : 0; }

static void *hypercall_page;

void hw_hypercall_set_page(void *page) { hypercall_page = page; }

/* The TLFS x64 calling convention: control in RCX, input in RDX, output in
 * R8, result in RAX; the page's code may clobber R9-R11 as well (Linux
 * declares r8-r11 clobbered), and touches memory (the input/output pages). */
uint64_t hw_hypercall(uint64_t control, uint64_t input, uint64_t output) {
  if (!hypercall_page)
    return 2; /* HV_STATUS_INVALID_HYPERCALL_CODE */
  uint64_t status;
  register uint64_t r8 __asm__("r8") = output;
  __asm__ volatile("call *%[page]"
                   : "=a"(status), "+c"(control), "+d"(input), "+r"(r8)
                   : [page] "m"(hypercall_page)
                   : "cc", "memory", "r9", "r10", "r11");
  return status;
}

void hw_irq_register(uint8_t vector, void (*fn)(uint8_t vector)) { irq_register(vector, fn); }

/* QEMU's isa-debug-exit ends the VM on the status write; hvhost records it.
 * Then ACPI power-off (real Hyper-V, QEMU without the exit device, hvhost),
 * and a halt for good where that is not possible (arch/x86_64/power.c). */
void hw_exit(int status) {
  outb(EXIT_PORT, (uint8_t)status);
  power_off();
}

void hw_reset(int status) {
  outb(EXIT_PORT, (uint8_t)status);
  power_reset();
}
