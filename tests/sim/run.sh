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
    "^hvsim: exit=0 vmbus=${v//./\\.} offers=1 link=down t_connected_ms=[0-9]+ t_link_ms=- power=off$")
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
  '^vmbus: <- UNLOAD_RESPONSE' '^hvsim: exit=0 vmbus=6\.0 ')
check trace 0 60 --trace --timeout 30 -- exit-after=connect vmbus.trace=1

# The guest caps itself below the host.
EXPECT=('^hvsim: exit=0 vmbus=4\.0 ')
check guest-cap 0 60 --timeout 30 -- exit-after=connect vmbus.max_version=4.0

# Hyper-V advertised but its MSRs refused: a clear failure, no hang.
EXPECT=('^hvsim: exit=1 vmbus=none ')
check refuse-msrs 1 60 --refuse-msrs --timeout 30 -- exit-after=connect

# Hostile host: refused versions, silence, no ALLOFFERS_DELIVERED: exit 1.
EXPECT=('^hvsim: exit=1 vmbus=none ')
check refuse-versions 1 60 --fault refuse-versions --timeout 30 -- exit-after=connect
EXPECT=('^hvsim: exit=1 vmbus=none ')
check silent-contact 1 60 --fault silent-contact --timeout 40 -- exit-after=connect
EXPECT=('^hvsim: exit=1 vmbus=none ')
check no-alloffers 1 60 --fault no-alloffers --timeout 40 -- exit-after=connect

# Serving until the host stops it: --timeout ends it (status 124).
EXPECT=('^kernel: serving' '^hvsim: exit=timeout vmbus=6\.0 ')
check timeout 124 30 --timeout 1

# ---- the NIC (netvsc over the host's NetVSP device) -------------------------
# nvsp_wire CAP: the version the guest prints for a host cap.
nvsp_wire() {
  case $1 in 6.1) echo '6\.1' ;; 6) echo '6\.0' ;; 5) echo '5\.0' ;; 4) echo '4\.0' ;;
    2) echo '3\.2' ;; 1) echo '0\.2' ;; esac
}
# Every NVSP cap: the link comes up at exactly that version.
for nv in 6.1 6 5 4 2 1; do
  EXPECT=("^netvsc: NVSP $(nvsp_wire $nv), MAC 00:15:5d:00:00:02, MTU 1500, .* link up"
    '^hvsim: exit=0 vmbus=6\.0 offers=1 link=up t_connected_ms=[0-9]+ t_link_ms=[0-9]+ power=off$')
  check nvsp-$nv 0 60 --nvsp-version $nv --timeout 30 -- exit-after=link
done

# The built-in peer's load at every NVSP cap (host/peertest.c): 1,000 echo
# requests, then a UDP datagram of every size from 1 to 1472, replies intact.
for nv in 6.1 6 5 4 2 1; do
  EXPECT=('^hostdev: peer test: 1000/1000 echo replies intact, 1472/1472 UDP echoes intact, 0 bad, .*: ok$'
    '^hvsim: exit=timeout vmbus=6\.0 offers=1 link=up ')
  check traffic-$nv 124 60 --nvsp-version $nv --peer-traffic 1000 --timeout 3
done

# A host that refuses the send buffer: the guest says so, goes GPA direct.
EXPECT=('^warning: netvsc: send buffer unusable \(status [0-9]+, section size 0\): GPA direct only'
  '^netvsc: NVSP 6\.1, .* send sections 0 x 0, .* link up'
  '^hvsim: exit=0 vmbus=6\.0 offers=1 link=up ')
check refuse-send-buf 0 60 --refuse-send-buf --timeout 30 -- exit-after=link

# No NIC: no link.
EXPECT=('^hvsim: exit=0 vmbus=6\.0 offers=0 link=none t_connected_ms=[0-9]+ t_link_ms=- power=off$')
check no-net 0 60 --no-net --timeout 30 -- exit-after=connect

# The kernel's end by reset (the shutdown service's restart path):
# hw_reset records power=reset.
EXPECT=('^hvsim: exit=0 vmbus=6\.0 .* power=reset$')
check end-reset 0 60 --no-net --timeout 30 -- exit-after=connect test.end=reset

# Rescind of the NIC: the kernel says so and keeps serving until --timeout.
EXPECT=('^kernel: serving' '^vmbus: relid 1 rescinded by the host'
  '^netvsc: NIC removed \(channel closed by the host\); the kernel keeps running without it'
  '^kernel: the network device is gone \(rescinded\); still running'
  '^hvsim: exit=timeout vmbus=6\.0 offers=1 link=up ')
check rescind-net 124 60 --rescind-net-after 1 --timeout 3
# ... also while the peer's traffic flows.
EXPECT=('^netvsc: NIC removed' '^kernel: the network device is gone \(rescinded\); still running'
  '^hvsim: exit=timeout vmbus=6\.0 offers=1 link=up ')
check rescind-traffic 124 60 --rescind-net-after 1 --peer-traffic 1000000 --timeout 3

# Link flapping: media disconnect and connect indications, the kernel goes on.
EXPECT=('^netvsc: link down \(media disconnect indication\)' '^net: link down'
  '^netvsc: link up \(media connect indication\)' '^net: link up'
  '^hvsim: exit=timeout vmbus=6\.0 offers=1 link=up ')
check link-flap 124 60 --link-flap 1 --timeout 4

# --pcap beside the built-in peer: tshark decodes Ethernet with ARP, ICMP and
# UDP echo, and the file holds exactly the frames the NIC counted.
pcap=$out/peer.pcap
rm -f "$pcap"
EXPECT=('^hostdev: peer test: 100/100 echo replies intact, 1472/1472 UDP echoes intact, 0 bad, .*: ok$' '^hvsim: pcap .*peer\.pcap frames=[0-9]+ ')
check pcap-run 124 60 --peer-traffic 100 --pcap "$pcap" --timeout 2
if ! command -v tshark >/dev/null; then
  t_skip pcap-tshark "tshark is not installed (tools/deps.sh installs it)"
else
  tsh() { timeout 60 tshark -n -r "$pcap" "$@" 2>/dev/null; }
  total=$(tsh | wc -l)
  eth=$(tsh -T fields -e frame.protocols | grep -c '^eth:')
  arp=$(tsh -Y arp | wc -l)
  req=$(tsh -Y 'icmp.type == 8' | wc -l)
  rep=$(tsh -Y 'icmp.type == 0' | wc -l)
  udp=$(tsh -Y 'udp.port == 7' | wc -l)
  nic=$(grep -E '^hvsim: nic ' "$out/pcap-run.log")
  want=$(( $(sed -nE 's/.* tx_frames=([0-9]+) .*/\1/p' <<<"$nic") + $(sed -nE 's/.* rx_frames=([0-9]+) .*/\1/p' <<<"$nic") ))
  detail="$total frames ($eth Ethernet) arp=$arp icmp=$req/$rep udp=$udp, NIC tx+rx=$want"
  if [ "$total" -eq "$want" ] && [ "$eth" -eq "$total" ] && [ "$arp" -ge 2 ] && [ "$req" -eq 100 ] &&
     [ "$rep" -eq 100 ] && [ "$udp" -eq 2944 ]; then
    t_pass pcap-tshark "$detail"
  else t_fail pcap-tshark "$detail"; fi
fi

# Back ends that cannot be opened: a clear message naming the cause, status 3.
"$hvsim" --tap hvnosuchtap0 --timeout 5 >"$out/tap-missing.log" 2>&1 </dev/null; rc=$?
if [ $rc -eq 3 ] && grep -q -- '--tap hvnosuchtap0: no such network device' "$out/tap-missing.log"; then
  t_pass tap-missing
else t_fail tap-missing "status $rc: $(head -c 300 "$out/tap-missing.log")"; fi
"$hvsim" --pcap /nonexistent-dir/x.pcap --timeout 5 >"$out/pcap-bad.log" 2>&1 </dev/null; rc=$?
if [ $rc -eq 3 ] && grep -q -- '--pcap: cannot create capture file /nonexistent-dir/x.pcap: No such file or directory' "$out/pcap-bad.log"; then
  t_pass pcap-bad-path
else t_fail pcap-bad-path "status $rc: $(head -c 300 "$out/pcap-bad.log")"; fi

# A bad option value: one line naming it, the usage line, status 2; and no
# sanitizer report on any of these ordinary errors.
"$hvsim" --timeout=soon >"$out/bad-value.log" 2>&1 </dev/null; rc=$?
if [ $rc -eq 2 ] && grep -q "^hvsim: bad value 'soon' for --timeout$" "$out/bad-value.log" &&
   [ "$(wc -l <"$out/bad-value.log")" -eq 2 ]; then
  t_pass bad-option-value
else t_fail bad-option-value "status $rc: $(head -c 300 "$out/bad-value.log")"; fi
if grep -l Sanitizer "$out/bad-value.log" "$out/tap-missing.log" "$out/pcap-bad.log"; then
  t_fail no-sanitizer-noise "a sanitizer report on an ordinary error (files above)"
else t_pass no-sanitizer-noise; fi

t_summary sim
