#!/usr/bin/env bash
# tests/netns/run.sh: the real-client tier. Linux's own tools reach the
# unikernel through a TAP device: the test creates a network namespace with a
# TAP in it (192.0.2.1/24 on the Linux side), runs build/hvhost (the real
# kernel under KVM; build/hvsim, the same guest stack in one process, where
# /dev/kvm is unusable, saying so) inside the namespace with `--tap` and the
# kernel's `ip=192.0.2.2/24`, and from the namespace sends:
#   ping (iputils-ping), 20 plain and 100 of 1472 bytes: 0% loss;
#   arping (when installed): replies from the NIC's MAC;
#   UDP datagrams to port 7 (python3 sockets): every one echoed intact;
# all captured with `--pcap` and decoded with tshark (ARP, ICMP, UDP), the
# capture's frame count equal to the NIC's counters.
# Then DHCP from a server nobody here wrote: Debian's dnsmasq, started in the
# namespace on the TAP only (its own config, lease and log files under
# build/test-logs/netns), serves 192.0.2.50-99 with T1 = 6 s; the kernel
# runs without ip=, takes its lease (the address is read from dnsmasq's
# lease file), is pinged with 0% loss by Linux in a second namespace on
# another subnet (198.51.100.0/24, routed through the first), and renews at
# T1 (dnsmasq logs the second DHCPACK).
# Traffic only ever goes to 192.0.2.0/24 and 198.51.100.0/24 inside the
# test's own namespaces.
# Needs root (ip netns add); otherwise every case is SKIPped with the reason.
# The namespace and the host tool are removed on every exit path.
# Usage: tests/netns/run.sh [build/kernel.elf] [build/hvhost] [build/hvsim]
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
elf=${1:-build/kernel.elf} hvhost=${2:-build/hvhost} hvsim=${3:-build/hvsim}
out=build/test-logs/netns
mkdir -p "$out"
ns=hvnetns$$ tap=hvtap0 far=hvfar$$
guest=192.0.2.2 me=192.0.2.1
host_pid= dns_pid=

cleanup() {
  if [ -n "$host_pid" ] && kill -0 "$host_pid" 2>/dev/null; then
    kill -TERM "$host_pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$host_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$host_pid" 2>/dev/null
    wait "$host_pid" 2>/dev/null
  fi
  host_pid=
  if [ -n "$dns_pid" ]; then kill -TERM "$dns_pid" 2>/dev/null; wait "$dns_pid" 2>/dev/null; fi
  dns_pid=
  ip netns del "$far" 2>/dev/null
  ip netns del "$ns" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

skip_all() { t_skip_tier netns "$1"; }

# in_ns CMD...: run in the namespace, bounded.
in_ns() { timeout 60 ip netns exec "$ns" "$@"; }

[ "$(id -u)" -eq 0 ] || skip_all "needs root to create a network namespace (running as $(id -un))"
command -v ip >/dev/null || skip_all "no ip command (iproute2)"
command -v ping >/dev/null || skip_all "no ping (iputils-ping)"
if ! err=$(ip netns add "$ns" 2>&1); then
  skip_all "ip netns add is not permitted here: ${err:-unknown error}"
fi
if ! err=$({ ip -n "$ns" link set lo up &&
  ip -n "$ns" tuntap add dev "$tap" mode tap &&
  ip -n "$ns" addr add "$me/24" dev "$tap" &&
  ip -n "$ns" link set "$tap" up; } 2>&1); then
  skip_all "cannot create a TAP device in the namespace: $err"
fi

# The host tool: hvhost (KVM) where it can run, else hvsim.
pcap=$out/netns.pcap log=$out/host.log
rm -f "$pcap"
if why=$(t_kvm_usable) && [ -x "$hvhost" ] && [ -f "$elf" ]; then
  tool=hvhost
  cmd=("$hvhost" --tap "$tap" --pcap "$pcap" --timeout 150 "$elf" -- "ip=$guest/24")
else
  [ -x "$hvsim" ] || skip_all "KVM is not usable ($why) and $hvsim is not built"
  tool=hvsim
  echo "netns: KVM is not usable here (${why:-no hvhost or kernel image}); using hvsim (same guest stack, in one process)"
  cmd=("$hvsim" --tap "$tap" --pcap "$pcap" --timeout 150 -- "ip=$guest/24")
fi
echo "netns: $tool in namespace $ns, $tap $me/24 <-> unikernel $guest/24"
ip netns exec "$ns" timeout --foreground 180 "${cmd[@]}" >"$log" 2>&1 </dev/null &
host_pid=$!

# Link up: the kernel prints its address; then the first ping gets through.
up=0
for _ in $(seq 1 120); do
  grep -q "^net: $guest/24 on " "$log" && { up=1; break; }
  kill -0 "$host_pid" 2>/dev/null || break
  sleep 0.5
done
if [ $up -eq 1 ]; then
  up=0
  for _ in $(seq 1 20); do
    in_ns ping -c 1 -W 1 "$guest" >/dev/null 2>&1 && { up=1; break; }
  done
fi
if [ $up -eq 1 ]; then
  t_pass link-up "$tool: the kernel configured $guest and answers"
else
  t_fail link-up "the unikernel never answered at $guest; log:"
  sed 's/^/  | /' "$log" | tail -n 40
  t_summary netns
  exit 1
fi

# ping_case NAME PING_ARGS...: 0% loss required; prints ping's summary lines.
ping_case() {
  local name=$1; shift
  local plog=$out/$name.log
  in_ns ping "$@" "$guest" >"$plog" 2>&1
  local stats rtt
  stats=$(grep -E 'packets transmitted' "$plog")
  rtt=$(grep -E '^(rtt|round-trip)' "$plog")
  echo "  $name: $stats"
  [ -n "$rtt" ] && echo "  $name: $rtt"
  if grep -qE ' 0% packet loss' "$plog" && ! grep -qE ' 0 received' "$plog"; then
    t_pass "$name"
  else
    t_fail "$name" "ping lost packets: ${stats:-no summary}"
    tail -n 5 "$plog" | sed 's/^/  | /'
  fi
}
ping_case ping-20 -c 20 -i 0.2 -W 2
ping_case ping-100-1472 -c 100 -i 0.02 -s 1472 -W 2

# arping: Thomas Habets' (Debian package arping) takes -i, iputils' -I.
if command -v arping >/dev/null; then
  if arping --help 2>&1 | grep -q Habets; then aif=-i; else aif=-I; fi
  alog=$out/arping.log
  in_ns timeout 20 arping -c 3 -w 10 "$aif" "$tap" "$guest" >"$alog" 2>&1
  rc=$?
  n=$(grep -ciE '00:15:5d:00:00:02' "$alog")
  if [ $rc -eq 0 ] && [ "$n" -ge 3 ]; then
    t_pass arping "$n replies from 00:15:5d:00:00:02"
  else
    t_fail arping "status $rc, $n replies"
    sed 's/^/  | /' "$alog" | tail -n 8
  fi
else
  t_skip arping "arping is not installed (tools/deps.sh installs it)"
fi

# UDP echo on port 7: datagrams of several sizes, each echoed byte for byte.
ulog=$out/udp-echo.log
in_ns python3 - "$guest" >"$ulog" 2>&1 <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2.0)
ok = 0
sizes = [1, 2, 7, 64, 100, 512, 1000, 1400, 1472] + list(range(1, 1473, 97))
for i, n in enumerate(sizes):
    msg = bytes((i * 31 + k * 7 + 1) & 0xff for k in range(n))
    got = None
    for attempt in range(3):
        s.sendto(msg, (sys.argv[1], 7))
        try:
            got, src = s.recvfrom(65536)
            break
        except socket.timeout:
            continue
    if got == msg and src == (sys.argv[1], 7):
        ok += 1
    else:
        print(f"datagram of {n} bytes: {'no reply' if got is None else 'wrong reply'}")
print(f"udp echo: {ok}/{len(sizes)} datagrams echoed intact")
sys.exit(0 if ok == len(sizes) else 1)
PY
rc=$?
line=$(tail -n 1 "$ulog")
if [ $rc -eq 0 ]; then t_pass udp-echo "$line"; else
  t_fail udp-echo "$line"; sed 's/^/  | /' "$ulog" | tail -n 8; fi

# Stop the VM (SIGTERM is Stop-VM: the shutdown service's request, a clean
# stop, exit=0) and read its counters.
kill -TERM "$host_pid" 2>/dev/null
for _ in $(seq 1 100); do kill -0 "$host_pid" 2>/dev/null || break; sleep 0.1; done
wait "$host_pid" 2>/dev/null
host_pid=
if grep -qE "^$tool: exit=0 vmbus=[0-9.]+ offers=12 link=up " "$log"; then
  t_pass host-summary "$(grep -E "^$tool: exit=" "$log")"
else
  t_fail host-summary "no 'exit=0 ... link=up' summary; log:"
  sed 's/^/  | /' "$log" | tail -n 20
fi
grep -E "^$tool: (nic|tap|pcap) " "$log" | sed 's/^/  /'

# The capture: tshark decodes it; ARP, ICMP both ways and UDP port 7 are
# there, and it holds exactly the frames the NIC counted.
if ! command -v tshark >/dev/null; then
  t_skip pcap-tshark "tshark is not installed (tools/deps.sh installs it)"
elif [ ! -s "$pcap" ]; then
  t_fail pcap-tshark "$pcap is missing or empty"
else
  tsh() { timeout 60 tshark -n -r "$pcap" "$@" 2>/dev/null; }
  total=$(tsh | wc -l)
  arp=$(tsh -Y 'arp' | wc -l)
  req=$(tsh -Y "icmp.type == 8 && ip.dst == $guest" | wc -l)
  rep=$(tsh -Y "icmp.type == 0 && ip.src == $guest" | wc -l)
  udp=$(tsh -Y "udp.srcport == 7 && ip.src == $guest" | wc -l)
  eth=$(tsh -T fields -e frame.protocols | grep -c '^eth:')
  nic=$(grep -E "^$tool: nic " "$log")
  txf=$(sed -nE 's/.* tx_frames=([0-9]+) .*/\1/p' <<<"$nic")
  rxf=$(sed -nE 's/.* rx_frames=([0-9]+) .*/\1/p' <<<"$nic")
  want=$(( ${txf:-0} + ${rxf:-0} ))
  detail="$total frames ($eth Ethernet): arp=$arp icmp requests=$req replies=$rep udp echoes=$udp; NIC tx+rx=$want"
  if [ "$total" -gt 0 ] && [ "$eth" -eq "$total" ] && [ "$arp" -ge 2 ] && [ "$req" -ge 120 ] &&
     [ "$rep" -ge 120 ] && [ "$udp" -ge 20 ] && [ "$total" -eq "$want" ]; then
    t_pass pcap-tshark "$detail"
  else
    t_fail pcap-tshark "$detail"
  fi
fi

# hvsim with the same TAP, and a host that refuses send-buffer sections:
# every reply goes GPA direct, and the capture still equals the NIC's
# counters.
if [ -x "$hvsim" ]; then
  slog=$out/hvsim.log dpcap=$out/direct.pcap
  rm -f "$dpcap"
  ip netns exec "$ns" timeout --foreground 60 "$hvsim" --tap "$tap" --refuse-send-buf --pcap "$dpcap" \
    --timeout 40 -- "ip=$guest/24" >"$slog" 2>&1 </dev/null &
  host_pid=$!
  for _ in $(seq 1 40); do
    grep -q "^net: $guest/24 on " "$slog" && break
    kill -0 "$host_pid" 2>/dev/null || break
    sleep 0.25
  done
  plog=$out/hvsim-ping.log
  in_ns ping -c 10 -i 0.05 -W 2 "$guest" >"$plog" 2>&1
  stats=$(grep -E 'packets transmitted' "$plog")
  kill -TERM "$host_pid" 2>/dev/null
  wait "$host_pid" 2>/dev/null
  host_pid=
  nic=$(grep -E '^hvsim: nic ' "$slog")
  num() { sed -nE "s/.* $1=([0-9]+) .*/\1/p" <<<"$nic"; }
  want=$(( $(num tx_frames) + $(num rx_frames) ))
  if command -v tshark >/dev/null; then
    got=$(timeout 60 tshark -n -r "$dpcap" 2>/dev/null | wc -l)
  else
    got=$(sed -nE 's/^hvsim: pcap .* frames=([0-9]+) .*/\1/p' "$slog")
  fi
  detail="$stats; tx_section=$(num tx_section) tx_direct=$(num tx_direct); capture $got = NIC $want"
  if grep -qE ' 0% packet loss' "$plog" && grep -qE '^hvsim: exit=0 .* link=up ' "$slog" &&
     [ "$(num tx_section)" = 0 ] && [ "$(num tx_direct)" -ge 10 ] && [ "$got" -eq "$want" ]; then
    t_pass hvsim-tap-gpa-direct "$detail"
  else
    t_fail hvsim-tap-gpa-direct "$detail"
    sed 's/^/  | /' "$slog" | tail -n 15
  fi
fi

# ---- DHCP from dnsmasq, pinged from another subnet --------------------------
dhcp_tier() {
  if ! command -v dnsmasq >/dev/null; then
    t_skip dnsmasq-lease "dnsmasq is not installed (package dnsmasq-base; tools/deps.sh)"
    return
  fi
  local dlog=$out/dnsmasq.log leases=$out/dnsmasq.leases dconf=$out/dnsmasq.conf
  local hlog=$out/dhcp-host.log plog=$out/dhcp-ping.log
  rm -f "$dlog" "$leases"
  : >"$leases"
  # Its own configuration: DHCP only (no DNS), on the TAP only.
  printf '%s\n' port=0 "interface=$tap" bind-interfaces except-interface=lo \
    dhcp-range=192.0.2.50,192.0.2.99,255.255.255.0,120s "dhcp-option=option:router,$me" \
    dhcp-option=option:T1,6 dhcp-option=option:T2,100 "dhcp-leasefile=$PWD/$leases" \
    dhcp-authoritative log-dhcp "log-facility=$PWD/$dlog" "pid-file=$PWD/$out/dnsmasq.pid" \
    >"$dconf"
  # The far host: a second namespace on 198.51.100.0/24, routed via $ns.
  if ! err=$({ ip netns add "$far" &&
    ip -n "$ns" link add hvvn0 type veth peer name hvvf0 netns "$far" &&
    ip -n "$ns" addr add 198.51.100.1/24 dev hvvn0 && ip -n "$ns" link set hvvn0 up &&
    ip -n "$far" addr add 198.51.100.7/24 dev hvvf0 && ip -n "$far" link set hvvf0 up &&
    ip -n "$far" link set lo up && ip -n "$far" route add default via 198.51.100.1 &&
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1; } 2>&1); then
    t_skip dnsmasq-lease "cannot build the routed second namespace: $err"
    return
  fi
  ip netns exec "$ns" dnsmasq --keep-in-foreground --conf-file="$dconf" --user=root \
    >>"$out/dnsmasq.stderr" 2>&1 </dev/null &
  dns_pid=$!
  local c
  if [ "$tool" = hvhost ]; then
    c=("$hvhost" --tap "$tap" --pcap "$out/dhcp.pcap" --timeout 120 "$elf")
  else
    c=("$hvsim" --tap "$tap" --pcap "$out/dhcp.pcap" --timeout 120)
  fi
  ip netns exec "$ns" timeout --foreground 150 "${c[@]}" >"$hlog" 2>&1 </dev/null &
  host_pid=$!
  local t0 lease_ip= lease_ms=
  t0=$(t_now_ms)
  for _ in $(seq 1 240); do
    lease_ip=$(awk '$2 == "00:15:5d:00:00:02" { print $3 }' "$leases" 2>/dev/null | tail -n 1)
    [ -n "$lease_ip" ] && break
    kill -0 "$host_pid" 2>/dev/null || break
    sleep 0.25
  done
  lease_ms=$(( $(t_now_ms) - t0 ))
  if [ -z "$lease_ip" ]; then
    t_fail dnsmasq-lease "no lease for 00:15:5d:00:00:02 in $leases; logs:"
    tail -n 15 "$dlog" "$out/dnsmasq.stderr" "$hlog" | sed 's/^/  | /'
    return
  fi
  for _ in $(seq 1 40); do # dnsmasq writes the file as it sends the ACK
    grep -q "^net: DHCP lease $lease_ip/24 " "$hlog" && break
    sleep 0.25
  done
  if grep -q "^net: DHCP lease $lease_ip/24 router $me server $me " "$hlog"; then
    t_pass dnsmasq-lease "$lease_ip from $(dnsmasq --version | head -n 1 | cut -d' ' -f1-3), in its lease file ${lease_ms} ms after $tool started"
  else
    t_fail dnsmasq-lease "dnsmasq leased $lease_ip, the kernel's log disagrees"
    grep '^net:' "$hlog" | sed 's/^/  | /'
  fi
  # Linux on the other subnet pings the leased address through the router.
  local ok=0
  for _ in $(seq 1 20); do
    timeout 5 ip netns exec "$far" ping -c 1 -W 1 "$lease_ip" >/dev/null 2>&1 && { ok=1; break; }
  done
  timeout 60 ip netns exec "$far" ping -c 20 -i 0.2 -W 2 "$lease_ip" >"$plog" 2>&1
  local stats
  stats=$(grep -E 'packets transmitted' "$plog")
  if [ $ok -eq 1 ] && grep -qE ' 0% packet loss' "$plog" && ! grep -qE ' 0 received' "$plog"; then
    t_pass dhcp-routed-ping "198.51.100.7 -> $lease_ip: $stats"
  else
    t_fail dhcp-routed-ping "198.51.100.7 -> $lease_ip: ${stats:-no answer}"
  fi
  # Renewal at T1 (6 s): dnsmasq acknowledges a second REQUEST for the address.
  local acks=0
  for _ in $(seq 1 120); do
    acks=$(grep -c "DHCPACK($tap) $lease_ip 00:15:5d:00:00:02" "$dlog")
    [ "$acks" -ge 2 ] && break
    kill -0 "$host_pid" 2>/dev/null || break
    sleep 0.25
  done
  if [ "$acks" -ge 2 ] && grep -q "^net: DHCP renewed $lease_ip/24 " "$hlog"; then
    t_pass dhcp-renew-t1 "$acks DHCPACKs from dnsmasq for $lease_ip; the kernel renewed at T1"
  else
    t_fail dhcp-renew-t1 "$acks DHCPACKs in dnsmasq's log"
    tail -n 10 "$dlog" | sed 's/^/  | /'
  fi
  kill -TERM "$host_pid" 2>/dev/null
  wait "$host_pid" 2>/dev/null
  host_pid=
  grep -E '^net: DHCP' "$hlog" | sed 's/^/  /'
  # From the kernel's first DISCOVER (it goes out as the link comes up) to
  # dnsmasq's first ACK, on the capture's clock (dnsmasq pings an address
  # before it offers it: most of the wait is that check's).
  if command -v tshark >/dev/null; then
    local t=()
    for m in 1 2 3 5; do
      t+=("$(timeout 60 tshark -n -r "$out/dhcp.pcap" -Y "dhcp.option.dhcp == $m" -T fields -e frame.time_relative 2>/dev/null | head -n 1)")
    done
    [ -n "${t[0]}" ] && [ -n "${t[3]}" ] && awk -v d="${t[0]}" -v o="${t[1]}" -v r="${t[2]}" -v a="${t[3]}" \
      'BEGIN { printf "  DHCP (capture): DISCOVER to ACK %.1f ms (DISCOVER to OFFER %.1f, OFFER to REQUEST %.1f, REQUEST to ACK %.1f)\n", (a - d) * 1000, (o - d) * 1000, (r - o) * 1000, (a - r) * 1000 }'
  fi
}
dhcp_tier

cleanup
t_summary netns
