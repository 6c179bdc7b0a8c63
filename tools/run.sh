#!/usr/bin/env bash
# tools/run.sh: what `make run` does. Boots build/kernel.elf under hvhost
# (KVM + the emulated Hyper-V) with the VMBus trace on, so the handshake
# scrolls by; where /dev/kvm is unusable it says why and runs the same guest
# stack and host emulator in one process (build/hvsim) instead.
# Ctrl-C stops the VM; the last line is the summary (exit=stopped ...).
# Extra arguments go to the host tool; kernel arguments after --.
set -uo pipefail
cd "$(dirname "$0")/.."
if why=$(build/hvhost --check-kvm); then
  echo "make run: booting build/kernel.elf under build/hvhost (KVM); Ctrl-C stops it"
  exec build/hvhost --trace "$@" build/kernel.elf
fi
echo "make run: KVM is not usable here ($why);"
echo "          running the in-process host build/hvsim instead (same guest stack, same devices)"
if [ ! -x build/hvsim ]; then
  echo "make run: build/hvsim is not built in this tree" >&2
  exit 1
fi
exec build/hvsim --trace "$@"
