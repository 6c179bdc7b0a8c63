#!/usr/bin/env bash
# tests/linux/run.sh [HVHOST [VMLINUX]]: the linux tier (issue 17). Linux's
# own hv_vmbus and hv_netvsc (tools/linux-peer.sh builds the kernel) boot
# as a second guest of hvhost: at the host's default VMBus version and
# capped at 5.0, 4.0, 3.0 and 2.4 (the lowest Linux 6.1 supports) Linux
# lands on the expected version, seen in its log and in the host's trace,
# and takes the host's offer; hv_netvsc brings up eth0 with the MAC hvhost
# gave it at NVSP 6.1, 5 and 2, `ip=` configures it, and the built-in peer's
# pings are answered; capped at 1.1, below what Linux supports, it gives
# up cleanly. KVM only; skipped with the reason elsewhere.
#
# Linux waits for the host forever in places (netvsc's probe), so every run
# is bounded: hvhost's --timeout, and the script stops hvhost (SIGTERM) as
# soon as what the case waits for is in the log. Linux
# boots the uncompressed vmlinux: the bzImage's decompressor takes minutes
# where guest kernel mode is emulated (kvm-pvm).
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
hvhost=${1:-build/hvhost} peer=${2:-build/linux-peer/vmlinux}
out=build/test-logs/linux
mkdir -p "$out"

t_require_kvm linux "$hvhost"
[ -f "$peer" ] ||
  t_skip_tier linux "no $peer: make linux-peer builds it (make test does where KVM is usable)"

MAC=00:15:5d:4c:58:11
CMDLINE="console=ttyS0 pci=off ip=192.0.2.2::192.0.2.1:255.255.255.0::eth0:off"
LIMIT=${LINUX_TIER_LIMIT:-240}

# lx NAME DONE_REGEX HVHOST_ARGS...: boot Linux under hvhost, stop it once
# DONE_REGEX matches a line of its output, or after LIMIT seconds.
lx() {
  local name=$1 done=$2; shift 2
  local log=$out/$name.log t0 pid
  t0=$(t_now_ms)
  : >"$log" # empty before the first look: the last run's lines must not match
  "$hvhost" --timeout "$LIMIT" --mem 64 --trace "$@" "$peer" -- $CMDLINE >>"$log" 2>&1 </dev/null &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if grep -qE -- "$done" "$log" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null
      break
    fi
    if [ $(( $(t_now_ms) - t0 )) -gt $(( (LIMIT + 30) * 1000 )) ]; then
      kill -KILL "$pid" 2>/dev/null
      break
    fi
    sleep 1
  done
  wait "$pid"
  LAST_S=$(( ($(t_now_ms) - t0) / 1000 ))
}

# The versions Linux 6.1 proposes, newest first (drivers/hv/connection.c).
LINUX_VERSIONS="5.3 5.2 5.1 5.0 4.1 4.0 3.0 2.4"
# tried CAP: the INITIATE_CONTACT versions of Linux's the host's VMBus server
# sees until it takes one. Below 5.0 the host has no connection id 4, so
# Linux's 5.x requests fail at the hypercall and never reach it.
tried() {
  local v re=
  for v in $LINUX_VERSIONS; do
    case "$1:$v" in [0-4].*:5.*) continue ;; esac
    re="$re${re:+|}$v"
    [ "$v" = "$1" ] && break
  done
  echo "$re"
}

# vmbus_checks NAME EXPECTED: Linux's log and the host's trace agree.
vmbus_checks() {
  local name=$1 want=$2 log=$out/$1.log w=${2//./\\.}
  local n_tried
  n_tried=$(grep -cE '^vmbus: -> INITIATE_CONTACT' "$log")
  if t_expect_lines "$name" "$log" \
      '^hvhost: guest entry: protected mode, paging on, CS=0x10' \
      '^\[ *[0-9.]+\] Hypervisor detected: Microsoft Hyper-V' \
      "^vmbus: -> INITIATE_CONTACT version=$w " \
      '^vmbus: <- VERSION_RESPONSE supported=1' \
      "^\[ *[0-9.]+\] hv_vmbus: Vmbus version:$w\$" \
      '^vmbus: -> REQUESTOFFERS' \
      '^vmbus: <- OFFERCHANNEL relid=[0-9]+ class=f8615163-df3e-46c5-913f-f2d2f965ed0e \(network\)' \
      '^vmbus: <- ALLOFFERS_DELIVERED' \
      '^vmbus: -> OPENCHANNEL relid=[0-9]+ ' \
      '^vmbus: <- OPENCHANNEL_RESULT relid=[0-9]+ openid=[0-9]+ status=0' &&
    [ "$n_tried" -eq "$(tried "$want" | tr '|' '\n' | wc -l)" ] &&
    ! grep -E '^vmbus: -> INITIATE_CONTACT' "$log" | grep -vqE "version=($(tried "$want" | sed 's/\./\\./g')) "; then
    t_pass "$name-vmbus" "Linux took $want, the host saw $n_tried INITIATE_CONTACT, ${LAST_S} s"
  else
    echo "  versions tried:"; grep -E '^vmbus: (->|<-) (INITIATE_CONTACT|VERSION_RESPONSE)' "$log" | sed 's/^/  | /'
    t_fail "$name-vmbus" "expected VMBus $want (log: $log)"
  fi
}

# net_checks NAME NVSP_HEX: eth0 up with hvhost's MAC, ip= applied, the
# host's NVSP version, every ping answered.
net_checks() {
  local name=$1 nvsp=$2 log=$out/$1.log
  if t_expect_lines "$name" "$log" \
      '^\[ *[0-9.]+\] hv_vmbus: registering driver hv_netvsc' \
      '^\[ *[0-9.]+\] IP-Config: Complete:' \
      "^\[ *[0-9.]+\] +device=eth0, hwaddr=$MAC, ipaddr=192\.0\.2\.2, mask=255\.255\.255\.0, gw=192\.0\.2\.1" \
      '^hostdev: peer test: 10/10 echo replies intact, 0/0 UDP echoes intact, 0 bad, .*: ok$' \
      '^hvhost: first echo reply from the guest t_ping_ms=[0-9]+' \
      "^hvhost: nic nvsp=$nvsp " \
      '^hvhost: exit=[a-z0-9]+ vmbus=[0-9.]+ offers=[1-9][0-9]* link=up t_connected_ms=[0-9]+ t_link_ms=[0-9]+'; then
    t_pass "$name-net" "NVSP $nvsp, $(grep -oE 't_connected_ms=[0-9]+ t_link_ms=[0-9]+' "$log" | head -n1) $(grep -oE 't_ping_ms=[0-9]+' "$log")"
  else t_fail "$name-net" "eth0, NVSP $nvsp or the pings (log: $log)"; fi
  if grep -qE 'nvsp_.*length too small|Unable to complete receive buffer|unable to add netvsc' "$log"; then
    t_fail "$name-netvsc-errors" "$(grep -m1 -E 'length too small|Unable to complete|unable to add' "$log")"
  fi
}

PEER_DONE='^hostdev: peer test: '
# Default version, NVSP 6.1 (the host's newest), hvhost's MAC.
# Linux with ip= and no user space never announces itself: the built-in
# switch's peer is told its static address (--guest-ip) and DHCP is off.
PEER="--no-dhcp --guest-ip 192.0.2.2 --peer-traffic 10 --peer-no-udp"
lx default "$PEER_DONE" --mac $MAC $PEER
vmbus_checks default 5.3
net_checks default 0x60001
# Integration services: Linux's hv_utils negotiates heartbeat, shutdown and
# timesync and answers them; the script's SIGTERM is the host's shutdown
# request (Stop-VM), and Linux powers off through ACPI.
if t_expect_lines default-ic "$out/default.log" \
    '^\[ *[0-9.]+\] hv_utils: Heartbeat IC version [0-9.]+' \
    '^\[ *[0-9.]+\] hv_utils: Shutdown IC version [0-9.]+' \
    '^\[ *[0-9.]+\] hv_utils: TimeSync IC version [0-9.]+' \
    '^\[ *[0-9.]+\] hv_utils: Shutdown request received' \
    '^\[ *[0-9.]+\] reboot: Power down' \
    '^hvhost: ic heartbeat opened=1 .* answers=[1-9][0-9]* bad=0 ' \
    '^hvhost: ic shutdown opened=1 .* answers=[1-9][0-9]* bad=0 ' \
    '^hvhost: ic timesync opened=1 .* answers=[1-9][0-9]* bad=0 ' \
    '^hvhost: exit=[a-z0-9]+ .* power=off heartbeats=[1-9]'; then
  t_pass default-ic "$(grep -oE 'hv_utils: (Heartbeat|Shutdown|TimeSync) IC version [0-9.]+' "$out/default.log" | sed 's/hv_utils: //; s/ IC version / /' | tr '\n' ',' | sed 's/,$//'), power=off"
else t_fail default-ic "heartbeat, shutdown, timesync or the ACPI power-off (log: $out/default.log)"; fi

# The kvm-pvm words and emulations are said once, and only on kvm-pvm.
if [ -d /sys/module/kvm_pvm ]; then
  if [ "$(grep -c '^hvhost: kvm-pvm (software-emulated guest kernel mode): appending "noxsave clearcpuid=' "$out/default.log")" -eq 1 ] &&
     grep -qE '^\[ *[0-9.]+\] Command line: .* noxsave clearcpuid=' "$out/default.log" &&
     [ "$(grep -c '^hvhost: kvm-pvm refused int3 self-test at RIP 0x' "$out/default.log")" -eq 1 ]; then
    t_pass kvm-pvm-quirks "command-line words and the int3 self-test, each said once"
  else t_fail kvm-pvm-quirks "expected one line each (log: $out/default.log)"; fi
else
  if ! grep -q 'kvm-pvm' "$out/default.log"; then t_pass kvm-pvm-quirks "none on this KVM"
  else t_fail kvm-pvm-quirks "kvm-pvm words on a KVM without kvm_pvm"; fi
fi

lx cap5.0-nvsp5 "$PEER_DONE" --vmbus-version 5.0 --nvsp-version 5 --mac $MAC $PEER
vmbus_checks cap5.0-nvsp5 5.0
net_checks cap5.0-nvsp5 0x50000

lx cap4.0-nvsp2 "$PEER_DONE" --vmbus-version 4.0 --nvsp-version 2 --mac $MAC $PEER
vmbus_checks cap4.0-nvsp2 4.0
net_checks cap4.0-nvsp2 0x30002

# Lower caps: the handshake and the offer only (stopped once Linux opens it).
for v in 3.0 2.4; do
  lx cap$v '^vmbus: <- OPENCHANNEL_RESULT relid=' --vmbus-version $v
  vmbus_checks cap$v $v
done

# Below what Linux 6.1 supports (2.4): every version refused by the host,
# and Linux says so and goes on booting without VMBus.
lx cap1.1 'hv_vmbus: Unable to connect to host|Run /init' --vmbus-version 1.1
if t_expect_lines cap1.1 "$out/cap1.1.log" \
    '^vmbus: -> INITIATE_CONTACT version=2\.4 ' '^vmbus: <- VERSION_RESPONSE supported=0' \
    '^\[ *[0-9.]+\] hv_vmbus: Unable to connect to host' &&
   ! grep -q '^vmbus: <- VERSION_RESPONSE supported=1' "$out/cap1.1.log"; then
  t_pass cap1.1-refused "Linux gave up after 2.4, ${LAST_S} s"
else t_fail cap1.1-refused "expected every version refused (log: $out/cap1.1.log)"; fi

t_summary linux
