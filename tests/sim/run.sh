#!/usr/bin/env bash
# tests/sim/run.sh: the in-process tier: build/hvsim runs the guest stack
# (hv/, kmcl/, kernel/guest.c) and the Hyper-V host emulator (host/) in one
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

# The summary line's prefix, and hvsim's own lines' (tests/scenarios.sh).
S=hvhost H=hvsim
t_scenarios sim 30 60 "$hvsim"
t_pcap_check pcap-tshark "$out/peer-traffic.log" "$out/peer.pcap" "$H"

t_summary sim
