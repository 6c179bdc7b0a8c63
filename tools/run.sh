#!/usr/bin/env bash
# tools/run.sh: what `make run` does. Boots build/kernel.elf under hvhost
# (KVM + the emulated Hyper-V) with the VMBus trace on, so the handshake
# scrolls by; where /dev/kvm is unusable it says why and runs the same guest
# stack and host emulator in one process (build/hvsim) instead. BUILD=DIR
# (make passes its own) uses DIR/ instead of build/.
# Ctrl-C is Stop-VM: the shutdown service asks the kernel to stop (a second
# Ctrl-C turns the VM off); the last line is the summary (exit=0 ...).
# The status is the host tool's, except that a run ended by the --timeout
# asked for (124: exit=timeout on the summary line) is a success here, so
# `make run ARGS=--timeout=5 && make test` goes on.
# Extra arguments go to the host tool; kernel arguments after --, e.g.
#   make run ARGS="--tap tap0 --pcap build/run.pcap -- ip=192.0.2.2/24"
set -uo pipefail
cd "$(dirname "$0")/.."
B=${BUILD:-build}
# Host options before "--", the kernel command line after it: hvhost takes
# the image between the two.
host_args=() kernel_args=()
# Exit with the host tool's status ($1), 0 for the --timeout's 124.
ended_as_asked() {
  if [ "$1" -eq 124 ]; then exit 0; fi
  exit "$1"
}
while [ $# -gt 0 ]; do
  if [ "$1" = -- ]; then shift; kernel_args=("$@"); break; fi
  host_args+=("$1"); shift
done
if why=$("$B"/hvhost --check-kvm); then
  echo "make run: booting $B/kernel.elf under $B/hvhost (KVM); Ctrl-C stops it"
  "$B"/hvhost --trace "${host_args[@]}" "$B"/kernel.elf -- "${kernel_args[@]}"
  ended_as_asked $?
fi
echo "make run: KVM is not usable here ($why);"
echo "          running the in-process host $B/hvsim instead (same guest stack, same devices)"
if [ ! -x "$B"/hvsim ]; then
  echo "make run: $B/hvsim is not built in this tree" >&2
  exit 1
fi
"$B"/hvsim --trace "${host_args[@]}" -- "${kernel_args[@]}"
ended_as_asked $?
