#!/usr/bin/env bash
# bench/net.sh: instructions per frame in the guest's network path, counted
# by valgrind --tool=callgrind (exact, repeatable) on the in-process build:
# the built-in peer sends N UDP datagrams, the guest echoes each one.
#   transmit = inclusive instructions of netvsc_send / echoed frames
#   receive  = inclusive instructions of netvsc_process (the channel's
#              packet callback: NVSP, RNDIS, net/ up to the echo) minus the
#              transmit it calls, / received frames
# Beside it, the same for the whole process per frame (host side included).
set -uo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "bench/net.sh: valgrind not installed (tools/deps.sh installs it)"; exit 0; }
frames=${BENCH_NET_FRAMES:-20000}
out=$(mktemp -d)
printf '%6s %10s %18s %18s %22s\n' frame frames "tx instr/frame" "rx instr/frame" "whole process/frame"
for size in 64 1514; do
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.$size" build/host/bench/net --frames "$frames" --size "$size" >/dev/null 2>"$out/vg.$size" ||
    { echo "bench/net.sh: run failed:"; tail -5 "$out/vg.$size"; exit 1; }
  ann=$(callgrind_annotate --inclusive=yes --threshold=100 "$out/cg.$size" 2>/dev/null)
  incl() { grep -E "[ :]$1( |$)" <<<"$ann" | head -1 | awk '{gsub(",","",$1); print $1}'; }
  total=$(grep -m1 'PROGRAM TOTALS' <<<"$ann" | awk '{gsub(",","",$1); print $1}')
  tx=$(incl netvsc_send); rx=$(incl netvsc_process)
  echoes=$((frames / 2))
  printf '%6s %10s %18s %18s %22s\n' "$size" "$frames" "$(( ${tx:-0} / echoes ))" \
    "$(( (${rx:-0} - ${tx:-0}) / echoes ))" "$(( ${total:-0} / frames ))"
done
echo "(the whole-process column includes set-up, the host's NetVSP device and the peer; frames = requests + replies)"
rm -rf "$out"

# Under hvhost (KVM): the built-in peer's traffic test (200 pings, UDP of
# every size 1..1472). Counts carry over to any hypervisor; the rate here is
# this machine's software KVM emulating the guest's kernel code.
if why=$(build/hvhost --check-kvm); then
  log=$(mktemp)
  build/hvhost --peer-traffic 200 --timeout 120 build/kernel.elf >"$log" 2>&1
  line=$(grep 'peer test:' "$log")
  ms=$(sed -nE 's/.* ([0-9]+) ms.*/\1/p' <<<"$line")
  echoes=$(( 200 + 1472 ))
  phase=$(grep 'phase link->end' "$log")
  hc=$(sed -nE 's/.* hypercalls=([0-9]+).*/\1/p' <<<"$phase")
  inj=$(sed -nE 's/.* injected=([0-9]+).*/\1/p' <<<"$phase")
  echo
  echo "under hvhost (kvm-pvm): $line"
  if [ -n "$ms" ] && [ "$ms" -gt 0 ]; then
    echo "  $((echoes * 2)) frames in $ms ms = $(( echoes * 2 * 1000 / ms )) frames/s;" \
         "after link-up: $hc hypercalls ($(( ${hc:-0} * 1000 / (echoes * 2) )) per 1000 frames), $inj injected interrupts"
  fi
  rm -f "$log"
else
  echo "bench/net.sh: hvhost part skipped: KVM unusable ($why)"
fi
