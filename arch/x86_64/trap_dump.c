/* arch/x86_64/trap_dump.c: the exception dump formatter (pure, host-tested). */
#include <stdio.h>

#include "arch/x86_64/trap.h"

const char *trap_vector_name(uint64_t vector) {
  static const char *const names[32] = {
      "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
      "#NP", "#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
      "#22", "#23", "#24", "#25", "#26", "#27", "#HV", "#VC", "#SX", "#31",
  };
  if (vector < 32)
    return names[vector];
  return vector < 256 ? "IRQ" : "???";
}

size_t trap_dump_format(char *buf, size_t len, const struct trap_frame *f, uint64_t cr2) {
  int n = snprintf(
      buf, len,
      "EXCEPTION %s vector=%lu error=%#lx\n"
      "  RIP=%016lx CS=%04lx RFLAGS=%016lx\n"
      "  RSP=%016lx SS=%04lx CR2=%016lx\n"
      "  RAX=%016lx RBX=%016lx RCX=%016lx RDX=%016lx\n"
      "  RSI=%016lx RDI=%016lx RBP=%016lx\n"
      "  R8 =%016lx R9 =%016lx R10=%016lx R11=%016lx\n"
      "  R12=%016lx R13=%016lx R14=%016lx R15=%016lx\n",
      trap_vector_name(f->vector), (unsigned long)f->vector, (unsigned long)f->error_code,
      (unsigned long)f->rip, (unsigned long)f->cs, (unsigned long)f->rflags, (unsigned long)f->rsp,
      (unsigned long)f->ss, (unsigned long)cr2, (unsigned long)f->rax, (unsigned long)f->rbx,
      (unsigned long)f->rcx, (unsigned long)f->rdx, (unsigned long)f->rsi, (unsigned long)f->rdi,
      (unsigned long)f->rbp, (unsigned long)f->r8, (unsigned long)f->r9, (unsigned long)f->r10,
      (unsigned long)f->r11, (unsigned long)f->r12, (unsigned long)f->r13, (unsigned long)f->r14,
      (unsigned long)f->r15);
  return n < 0 ? 0 : (size_t)n;
}
