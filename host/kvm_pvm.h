/* host/kvm_pvm.h: what hvhost does differently on a kvm-pvm KVM (prefix pvm_).
 *
 * kvm-pvm (this project's machines: KVM-NOTES.md, LINUX-PEER-NOTES.md) runs
 * guest kernel mode through an instruction emulator that rejects some
 * instructions (KVM_EXIT_INTERNAL_ERROR, suberror 1) and ignores CPUID
 * masking for most leaf-1 and leaf-7 bits. For a Linux guest hvhost then
 * (1) appends the command-line words that keep Linux off those instructions
 * (`noxsave`, `clearcpuid=` with the probe's bit list), and (2) emulates the
 * few rejected instructions Linux still runs: the int3 self-test, `fwait`,
 * and an int3 at a live text-poke site (delivered as the #BP it is). On a
 * KVM with hardware virtualization (VMX/SVM) none of this applies.
 */
#ifndef HOST_KVM_PVM_H
#define HOST_KVM_PVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** True when this machine's /dev/kvm is kvm-pvm: the kvm_pvm module is
 * loaded (/sys/module/kvm_pvm). Cached after the first call. */
bool pvm_detect(void);

/** The words hvhost appends to a Linux command line on kvm-pvm. */
const char *pvm_linux_words(void);

/** What to do with an instruction kvm-pvm refused to emulate. */
enum pvm_action {
  PVM_UNKNOWN = 0,   /* stop the VM and report the bytes */
  PVM_INT3_SELFTEST, /* Linux's int3_selftest(): *(u32 *)rdi = 1, skip 5 bytes */
  PVM_INJECT_BP,     /* an int3: RIP past it, deliver #BP (vector 3) */
  PVM_SKIP_FWAIT,    /* fwait: no x87 exceptions are ever pending; skip 1 byte */
};

/** Classify the instruction bytes at the refused RIP (n bytes readable). */
enum pvm_action pvm_classify(const uint8_t *insn, size_t n);
/** A name for logs ("int3 self-test", ...). */
const char *pvm_action_name(enum pvm_action a);

#endif
