#!/usr/bin/env bash
# tools/check-no-sse.sh KERNEL.elf: fail when the kernel image contains SSE
# instructions that can run. This machine's kvm-pvm emulates kernel-mode
# code and stops the VM with "emulation failure" on pxor, movq-to-xmm,
# ldmxcsr and the like (KVM-NOTES.md). Allowed: fxsave/fxrstor (interrupt
# entry; the emulator implements them) and the variadic-function prologue
# stores `movaps %xmmN, -X(%rbp)`, which only run when the caller passed
# floating-point arguments (%al != 0), which kernel code never does.
set -euo pipefail
elf=${1:?usage: check-no-sse.sh kernel.elf}
bad=$(objdump -d --no-show-raw-insn "$elf" |
  awk '/^[0-9a-f]+ <.*>:$/ { fn = $2 }
       /%xmm|%ymm|mxcsr|ldmxcsr|stmxcsr/ {
         if ($0 ~ /movaps +%xmm[0-7],-0x[0-9a-f]+\(%rbp\)/) next
         print fn ": " $0
       }')
if [ -n "$bad" ]; then
  echo "check-no-sse: SSE instructions in $elf (kvm-pvm cannot emulate them):" >&2
  echo "$bad" | head -20 >&2
  exit 1
fi
