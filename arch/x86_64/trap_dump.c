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
  int n = snprintf(buf, len,
                   "EXCEPTION %s vector=%llu error=%#llx\n"
                   "  RIP=%016llx CS=%04llx RFLAGS=%016llx\n"
                   "  RSP=%016llx SS=%04llx CR2=%016llx\n"
                   "  RAX=%016llx RBX=%016llx RCX=%016llx RDX=%016llx\n"
                   "  RSI=%016llx RDI=%016llx RBP=%016llx\n"
                   "  R8 =%016llx R9 =%016llx R10=%016llx R11=%016llx\n"
                   "  R12=%016llx R13=%016llx R14=%016llx R15=%016llx\n",
                   trap_vector_name(f->vector), (unsigned long long)f->vector,
                   (unsigned long long)f->error_code, (unsigned long long)f->rip,
                   (unsigned long long)f->cs, (unsigned long long)f->rflags,
                   (unsigned long long)f->rsp, (unsigned long long)f->ss, (unsigned long long)cr2,
                   (unsigned long long)f->rax, (unsigned long long)f->rbx,
                   (unsigned long long)f->rcx, (unsigned long long)f->rdx,
                   (unsigned long long)f->rsi, (unsigned long long)f->rdi,
                   (unsigned long long)f->rbp, (unsigned long long)f->r8, (unsigned long long)f->r9,
                   (unsigned long long)f->r10, (unsigned long long)f->r11,
                   (unsigned long long)f->r12, (unsigned long long)f->r13,
                   (unsigned long long)f->r14, (unsigned long long)f->r15);
  return n < 0 ? 0 : (size_t)n;
}
