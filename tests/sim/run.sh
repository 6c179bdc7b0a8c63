#!/usr/bin/env bash
# tests/sim/run.sh: the in-process tier: build/hvsim runs the guest stack
# (hv/, kmcl/, guest/guest.c) and the Hyper-V host emulator (host/) in one
# Linux process, so it runs on every machine, KVM or not. It runs the
# scenarios of tests/scenarios.sh (shared with the e2e tier, which runs them
# under KVM). Each case has a hard timeout; the guest's waits on the host are
# bounded, so a failing case still ends well within it.
# Usage: tests/sim/run.sh [build/hvsim]
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
hvsim=${1:-build/hvsim}
out=build/test-logs/sim
mkdir -p "$out"

# The summary line's prefix and hvsim's own lines' (tests/scenarios.sh).
S=hvsim H=hvsim
t_scenarios sim 30 60 "$hvsim"
t_pcap_check pcap-tshark "$out/peer-traffic.log" "$out/peer.pcap" "$H"

# A bad option value: one line naming it, the usage line, status 2; and no
# sanitizer report on any of the ordinary errors.
"$hvsim" --timeout=soon >"$out/bad-value.log" 2>&1 </dev/null; rc=$?
if [ $rc -eq 2 ] && grep -q "^hvsim: bad value 'soon' for --timeout$" "$out/bad-value.log" &&
   [ "$(wc -l <"$out/bad-value.log")" -eq 2 ]; then
  t_pass bad-option-value
else t_fail bad-option-value "status $rc: $(head -c 300 "$out/bad-value.log")"; fi
t_no_sanitizer no-sanitizer-noise "$out"/{bad-value,tap-missing,pcap-bad-path,usage-mem,usage-vmbus-version}.log

t_summary sim
