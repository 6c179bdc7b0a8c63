/* arch/x86_64/hw.c: the kernel's implementation of kernel/hw.h. */
#include "kernel/hw.h"

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

/* Identity mapped below 4 GiB (boot/multiboot.S). */
uint64_t hw_virt_to_phys(const void *p) { return (uint64_t)(uintptr_t)p; }

void *hw_phys_to_virt(uint64_t pa) { return pa < (4ull << 30) ? (void *)(uintptr_t)pa : (void *)0; }

/* QEMU's isa-debug-exit and hvhost end the VM on this write. On a machine
 * without such a device (real Hyper-V) nothing happens: halt for good. */
void hw_exit(int status) {
  outb(EXIT_PORT, (uint8_t)status);
  for (;;)
    __asm__ volatile("cli; hlt");
}
