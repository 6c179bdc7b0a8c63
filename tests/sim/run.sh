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

# Stop-VM (a signal, so not a scenarios.sh line): SIGTERM once KVP has the
# guest's address; the shutdown service's request, a clean stop, ACPI
# power-off. t_stopvm NAME STOP_TIMEOUT [IMAGE]: the run's status in LAST_RC.
t_stopvm() {
  local name=$1 st=$2 log=$out/$1.log pid
  "$prog" --stop-timeout "$st" ${3:+"$3"} >"$log" 2>&1 </dev/null &
  pid=$!
  for _ in $(seq 1 900); do grep -qE 'icdev kvp: the guest reports IPv4' "$log" && break; sleep 0.1; done
  grep -qE 'icdev kvp: the guest reports IPv4' "$log" ||
    echo "  $name: no KVP address after 90 s ($(wc -l <"$log") log lines); stopping it anyway"
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid"
  LAST_RC=$?
}
prog="$hvsim"
t_stopvm stop-vm 10
if [ "$LAST_RC" -eq 0 ] && t_expect_lines stop-vm "$out/stop-vm.log" \
     '^ic shutdown: shutdown requested by the host' '^netvsc: halted' '^vmbus: disconnected' \
     '^Hyper-V: SynIC and hypercall page disabled' \
     "^$S: exit=0 vmbus=6\.0 offers=12 link=up t_connected_ms=[0-9]+ t_link_ms=[0-9]+ guest_ip=192\.0\.2\.2 power=off heartbeats=[1-9][0-9]* kvp_ip=192\.0\.2\.2 ics=heartbeat,kvp,shutdown,timesync\$" &&
   t_expect_lines stop-vm "$out/stop-vm.log" "^$H: shutdown request to exit [0-9.]+ ms" &&
   t_expect_lines stop-vm "$out/stop-vm.log" '^ic heartbeat: framework 3\.0, service 3\.0' &&
   t_expect_lines stop-vm "$out/stop-vm.log" '^ic kvp: framework 3\.0, service 4\.0' &&
   t_expect_lines stop-vm "$out/stop-vm.log" '^ic shutdown: framework 3\.0, service 3\.2' &&
   t_expect_lines stop-vm "$out/stop-vm.log" '^ic timesync: framework 3\.0, service 4\.0' &&
   t_expect_lines stop-vm "$out/stop-vm.log" '^ic timesync: host time [0-9]{4}-[0-9]{2}-[0-9]{2} '; then
  t_pass stop-vm "$(grep -oE 'shutdown request to exit [0-9.]+ ms' "$out/stop-vm.log")"
else t_fail stop-vm "status $LAST_RC (expected 0), see above"; fi

# A bad option value: one line naming it, the usage line, status 2; and no
# sanitizer report on any of the ordinary errors.
"$hvsim" --timeout=soon >"$out/bad-value.log" 2>&1 </dev/null; rc=$?
if [ $rc -eq 2 ] && grep -q "^hvsim: bad value 'soon' for --timeout$" "$out/bad-value.log" &&
   [ "$(wc -l <"$out/bad-value.log")" -eq 2 ]; then
  t_pass bad-option-value
else t_fail bad-option-value "status $rc: $(head -c 300 "$out/bad-value.log")"; fi
t_no_sanitizer no-sanitizer-noise "$out"/{bad-value,tap-missing,pcap-bad-path,usage-mem,usage-vmbus-version}.log

t_summary sim
