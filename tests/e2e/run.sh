#!/usr/bin/env bash
# tests/e2e/run.sh: the hvhost tier: the real build/kernel.elf booted by
# build/hvhost under KVM against the emulated Hyper-V: the scenarios of
# tests/scenarios.sh (shared with the sim tier, which runs them in one
# process). Skipped, with the reason, when hvhost --check-kvm says KVM is
# unusable. Each run has a hard timeout; the kernel's own waits on the host
# are bounded, so a failing case must still end well within it (under this
# machine's kvm-pvm the guest is slow: generous limits, KVM-NOTES.md).
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
elf=${1:-build/kernel.elf} hvhost=${2:-build/hvhost}
out=build/test-logs/e2e
mkdir -p "$out"

if ! why=$(HVHOST=$hvhost t_kvm_usable); then
  t_skip hvhost "$why"
  t_summary e2e
  exit $?
fi

# The summary line's prefix, and hvhost's own lines' (tests/scenarios.sh).
S=hvhost H=hvhost
t_scenarios e2e 90 120 "$hvhost" "$elf"
t_pcap_check pcap-tshark "$out/peer-traffic.log" "$out/peer.pcap" "$H"

# Without a kernel image: a usage error, not a VM.
name=usage-no-kernel
if t_run $name 2 10 "$hvhost" && grep -q 'no kernel image given' "$out/$name.log"; then
  t_pass $name
else t_fail $name "expected status 2 and 'no kernel image given'"; fi

t_summary e2e
