/* host/kvm_pvm.c: kvm-pvm detection, Linux command-line words and the
 * classification of refused instructions. */
#include "host/kvm_pvm.h"

#include <unistd.h>

bool pvm_detect(void) {
  static int cached = -1;
  if (cached < 0)
    cached = access("/sys/module/kvm_pvm", F_OK) == 0;
  return cached == 1;
}

/* The probe's list (LINUX-PEER-NOTES.md), as X86_FEATURE numbers
 * (word * 32 + bit): leaf-1 ECX (word 4) pclmulqdq 129, ssse3 137, fma 140,
 * cx16 141 (lock cmpxchg16b), pcid 145, sse4.1 147, sse4.2 148, movbe 150,
 * popcnt 151, aes 153, xsave 154, avx 156, f16c 157, rdrand 158; leaf-7 EBX
 * (word 9) fsgsbase 288, bmi1 291, avx2 293, bmi2 296, invpcid 298,
 * rdseed 306, adx 307, smap 308 (clac/stac), sha 317; leaf-7 ECX (word 16)
 * pku 515, vaes 521, vpclmulqdq 522, rdpid 534. Alternatives would patch
 * these into Linux's text, and kvm-pvm's emulator rejects them; KVM's CPUID
 * masking is ignored for these leaves, so Linux must be told. Two more are
 * for speed, not correctness: erms 297 and fsrm 580 make Linux clear and
 * copy pages with `rep stosb`/`movsb`, which the emulator runs a byte at a
 * time; without them it uses the quadword forms (measured: clear_page_erms
 * was a third of a Linux boot's samples, the 16 MiB netvsc buffer). */
const char *pvm_linux_words(void) {
  return "noxsave clearcpuid=129,137,140,141,145,147,148,150,151,153,154,156,157,158,"
         "288,291,293,296,297,298,306,307,308,317,515,521,522,534,580";
}

enum pvm_action pvm_classify(const uint8_t *insn, size_t n) {
  if (n >= 1 && insn[0] == 0x9b)
    return PVM_SKIP_FWAIT;
  if (n >= 1 && insn[0] == 0xcc) {
    /* int3_selftest(): "int3; nop; nop; nop; nop" (arch/x86/kernel/alternative.c) */
    if (n >= 5 && insn[1] == 0x90 && insn[2] == 0x90 && insn[3] == 0x90 && insn[4] == 0x90)
      return PVM_INT3_SELFTEST;
    return PVM_INJECT_BP;
  }
  return PVM_UNKNOWN;
}

const char *pvm_action_name(enum pvm_action a) {
  switch (a) {
  case PVM_INT3_SELFTEST:
    return "int3 self-test";
  case PVM_INJECT_BP:
    return "int3 (#BP injected)";
  case PVM_SKIP_FWAIT:
    return "fwait";
  default:
    return "unknown";
  }
}
