#!/usr/bin/env bash
# tests/sim/run.sh: the in-process tier: build/hvsim runs the guest stack
# (hv/, kmcl/, kernel/guest.c) and the Hyper-V host emulator (host/) in one
# Linux process, so it runs on every machine, KVM or not. Each case has a
# hard timeout; the guest's waits on the host are bounded, so a failing case
# still ends well within it. Usage: tests/sim/run.sh [build/hvsim]
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
hvsim=${1:-build/hvsim}
out=build/test-logs/sim
mkdir -p "$out"

# sim NAME WANT_STATUS TIMEOUT HVSIM_ARGS... [-- KERNEL ARGS]
sim() {
  local name=$1 want=$2 lim=$3; shift 3
  local log=$out/$name.log t0 rc
  t0=$(t_now_ms)
  timeout --foreground "$lim" "$hvsim" "$@" >"$log" 2>&1 </dev/null
  rc=$?
  LAST_MS=$(( $(t_now_ms) - t0 ))
  if [ "$rc" -ne "$want" ]; then
    echo "  $name: hvsim exited $rc, expected $want (124 = the test's timeout); log:"
    sed 's/^/  | /' "$log" | tail -n 40
    return 1
  fi
}

# check NAME WANT_STATUS TIMEOUT ARGS... -- ... ; then the regexes in EXPECT.
check() {
  local name=$1
  if sim "$@" && t_expect_lines "$name" "$out/$name.log" "${EXPECT[@]}"; then
    t_pass "$name" "${LAST_MS} ms"
  else t_fail "$name" "see above"; fi
}

# Every host version cap: the guest lands on exactly that version.
for v in 6.0 5.3 5.2 5.1 5.0 4.1 4.0 3.0 2.4 1.1 0.13; do
  EXPECT=('^Hyper-V: present'
    "^vmbus: connected, version ${v//./\\.}, message connection id [0-9]+, [0-9]+ offers"
    "^hvhost: exit=0 vmbus=${v//./\\.} offers=1 link=down t_connected_ms=[0-9]+ t_link_ms=-$")
  check connect-$v 0 60 --vmbus-version "$v" --timeout 30 -- exit-after=connect
done

# Connection ids: from 5.0 the one VERSION_RESPONSE names (4 here), 1 below.
if grep -q 'message connection id 4,' "$out/connect-5.0.log" &&
   grep -q 'message connection id 1,' "$out/connect-4.1.log"; then
  t_pass connection-ids
else t_fail connection-ids "expected id 4 at 5.0 and id 1 at 4.1"; fi

# Both traces, host (--trace) and guest (vmbus.trace=1), in one format.
EXPECT=('^vmbus: -> INITIATE_CONTACT version=6\.0' '^vmbus: <- VERSION_RESPONSE supported=1'
  '^vmbus: -> REQUESTOFFERS' '^vmbus: <- ALLOFFERS_DELIVERED' '^vmbus: -> UNLOAD'
  '^vmbus: <- UNLOAD_RESPONSE' '^hvhost: exit=0 vmbus=6\.0 ')
check trace 0 60 --trace --timeout 30 -- exit-after=connect vmbus.trace=1

# The guest caps itself below the host.
EXPECT=('^hvhost: exit=0 vmbus=4\.0 ')
check guest-cap 0 60 --timeout 30 -- exit-after=connect vmbus.max_version=4.0

# Hyper-V advertised but its MSRs refused: a clear failure, no hang.
EXPECT=('^hvhost: exit=1 vmbus=none ')
check refuse-msrs 1 60 --refuse-msrs --timeout 30 -- exit-after=connect

# Hostile host: refused versions, silence, no ALLOFFERS_DELIVERED: exit 1.
EXPECT=('^hvhost: exit=1 vmbus=none ')
check refuse-versions 1 60 --fault refuse-versions --timeout 30 -- exit-after=connect
EXPECT=('^hvhost: exit=1 vmbus=none ')
check silent-contact 1 60 --fault silent-contact --timeout 40 -- exit-after=connect
EXPECT=('^hvhost: exit=1 vmbus=none ')
check no-alloffers 1 60 --fault no-alloffers --timeout 40 -- exit-after=connect

# Serving until the host stops it: --timeout ends it (status 124).
EXPECT=('^kernel: serving' '^hvhost: exit=timeout vmbus=6\.0 ')
check timeout 124 30 --timeout 1

t_summary sim
