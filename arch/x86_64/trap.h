/* arch/x86_64/trap.h: the register frame built by the interrupt entry stubs
 * (arch/x86_64/entry.S) and the exception dump. The layout is fixed by the
 * push order in entry.S: change both together (offsets asserted below). */
#ifndef ARCH_X86_64_TRAP_H
#define ARCH_X86_64_TRAP_H

#include <stddef.h>
#include <stdint.h>

struct trap_frame {
  /* pushed by entry.S, last pushed first */
  uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
  uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
  uint64_t vector;
  uint64_t error_code; /* the CPU's, or 0 pushed by the stub */
  /* pushed by the CPU (64-bit mode always pushes SS:RSP) */
  uint64_t rip, cs, rflags, rsp, ss;
};
_Static_assert(offsetof(struct trap_frame, rax) == 14 * 8, "entry.S push order");
_Static_assert(offsetof(struct trap_frame, vector) == 15 * 8, "entry.S vector slot");
_Static_assert(offsetof(struct trap_frame, rip) == 17 * 8, "CPU frame starts after error code");
_Static_assert(sizeof(struct trap_frame) == 22 * 8, "trap frame size");

/* Exception vectors the dump names. */
#define TRAP_DE 0
#define TRAP_UD 6
#define TRAP_GP 13
#define TRAP_PF 14

/** Mnemonic of an exception vector ("#PF"), or "IRQ"/"???" beyond 31. */
const char *trap_vector_name(uint64_t vector);

/** Format the exception dump (vector, error code, RIP, CR2, every register)
 * into buf, always NUL-terminated. Pure: host-testable. Returns the length
 * the full dump needs, like snprintf. */
size_t trap_dump_format(char *buf, size_t len, const struct trap_frame *f, uint64_t cr2);

#endif
