#!/usr/bin/env bash
# tools/run.sh: what `make run` does. Boots build/kernel.elf under hvhost
# (KVM + the emulated Hyper-V) with the VMBus trace on, so the handshake
# scrolls by; where /dev/kvm is unusable it says why and runs the same guest
# stack and host emulator in one process (build/hvsim) instead. BUILD=DIR
# (make passes its own) uses DIR/ instead of build/.
# Ctrl-C is Stop-VM: the shutdown service asks the kernel to stop (a second
# Ctrl-C turns the VM off); the last line is the summary (exit=0 ...).
# Extra arguments go to the host tool; kernel arguments after --, e.g.
#   make run ARGS="--tap tap0 --pcap build/run.pcap -- ip=192.0.2.2/24"
set -uo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-build}
# Host options before "--", the kernel command line after it: hvhost takes
# the image between the two.
host_args=() kernel_args=()
while [ $# -gt 0 ]; do
  if [ "$1" = -- ]; then shift; kernel_args=("$@"); break; fi
  host_args+=("$1"); shift
done
if why=$("$B"/hvhost --check-kvm); then
  echo "make run: booting $B/kernel.elf under $B/hvhost (KVM); Ctrl-C stops it"
  exec "$B"/hvhost --trace "${host_args[@]}" "$B"/kernel.elf -- "${kernel_args[@]}"
fi
echo "make run: KVM is not usable here ($why);"
echo "          running the in-process host $B/hvsim instead (same guest stack, same devices)"
if [ ! -x "$B"/hvsim ]; then
  echo "make run: $B/hvsim is not built in this tree" >&2
  exit 1
fi
exec "$B"/hvsim --trace "${host_args[@]}" -- "${kernel_args[@]}"
