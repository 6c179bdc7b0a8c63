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
