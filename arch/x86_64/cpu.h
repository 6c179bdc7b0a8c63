/* arch/x86_64/cpu.h: instruction wrappers (STYLE.md rule 2, bottom level).
 * Only arch/x86_64/ includes this; portable code uses kernel/hw.h. */
#ifndef ARCH_X86_64_CPU_H
#define ARCH_X86_64_CPU_H

#include <stdbool.h>
#include <stdint.h>

struct cpuid_regs {
  uint32_t eax, ebx, ecx, edx;
};

static inline struct cpuid_regs cpuid(uint32_t leaf, uint32_t subleaf) {
  struct cpuid_regs r;
  __asm__ volatile("cpuid"
                   : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
                   : "a"(leaf), "c"(subleaf));
  return r;
}

static inline uint64_t rdmsr(uint32_t msr) {
  uint32_t lo, hi;
  __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return ((uint64_t)hi << 32) | lo;
}

static inline void wrmsr(uint32_t msr, uint64_t v) {
  __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

/* The assembly of one such access: instruction `insn` at 1:, %[err] cleared
 * after it; the fixup at 3: sets %[err] to -1, runs `fix` (more clearing)
 * and resumes at 2:; the .extable entry maps 1: to 3:. */
#define CPU_ASM_SAFE(insn, fix)                                                                    \
  "1: " insn "\n"                                                                                  \
  "   xorl %[err], %[err]\n"                                                                       \
  "2:\n"                                                                                           \
  ".pushsection .text.fixup, \"ax\"\n"                                                             \
  "3: movl $-1, %[err]\n" fix "   jmp 2b\n"                                                        \
  ".popsection\n"                                                                                  \
  ".pushsection .extable, \"a\"\n"                                                                 \
  ".balign 8\n"                                                                                    \
  ".quad 1b, 3b\n"                                                                                 \
  ".popsection\n"

/* Fault-tolerant MSR access: a #GP on the instruction is caught by the trap
 * handler through the exception table (.extable: faulting address, fixup
 * address), which resumes at the fixup; the fixup sets the error.
 * Returns 0, or -1 when the MSR access faulted (value then 0). */
static inline int rdmsr_safe(uint32_t msr, uint64_t *val) {
  uint32_t lo, hi;
  int err;
  __asm__ volatile(CPU_ASM_SAFE("rdmsr", "   xorl %%eax, %%eax\n"
                                         "   xorl %%edx, %%edx\n")
                   : "=a"(lo), "=d"(hi), [err] "=r"(err)
                   : "c"(msr));
  *val = ((uint64_t)hi << 32) | lo;
  return err;
}

static inline int wrmsr_safe(uint32_t msr, uint64_t v) {
  int err;
  __asm__ volatile(CPU_ASM_SAFE("wrmsr", "")
                   : [err] "=r"(err)
                   : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
                   : "memory");
  return err;
}

/* Port I/O of one width: out##sfx(port, v) writes v, in##sfx(port) reads. */
#define CPU_PORT_IO(sfx, type)                                                                     \
  static inline void out##sfx(uint16_t port, type v) {                                             \
    __asm__ volatile("out" #sfx " %0, %1" ::"a"(v), "Nd"(port));                                   \
  }                                                                                                \
  static inline type in##sfx(uint16_t port) {                                                      \
    type v;                                                                                        \
    __asm__ volatile("in" #sfx " %1, %0" : "=a"(v) : "Nd"(port));                                  \
    return v;                                                                                      \
  }
CPU_PORT_IO(b, uint8_t)
CPU_PORT_IO(w, uint16_t)
#undef CPU_PORT_IO

static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

static inline uint64_t read_cr2(void) {
  uint64_t v;
  __asm__ volatile("mov %%cr2, %0" : "=r"(v));
  return v;
}

static inline void cpu_pause(void) { __asm__ volatile("pause"); }
static inline void cpu_cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void cpu_sti(void) { __asm__ volatile("sti" ::: "memory"); }

static inline uint64_t read_rflags(void) {
  uint64_t f;
  __asm__ volatile("pushfq; popq %0" : "=r"(f)::"memory");
  return f;
}

static inline uint32_t mmio_read32(uintptr_t addr) { return *(volatile uint32_t *)addr; }
static inline void mmio_write32(uintptr_t addr, uint32_t v) { *(volatile uint32_t *)addr = v; }

#define MSR_IA32_APIC_BASE 0x1b
#define MSR_EFER 0xc0000080
#define RFLAGS_IF (1ull << 9)

#endif
