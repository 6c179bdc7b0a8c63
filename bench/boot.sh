#!/usr/bin/env bash
# bench/boot.sh: what a boot costs, per phase.
#  1. Under hvhost (KVM): VM exits by kind, hypercalls, injected interrupts
#     and console bytes per phase (entry -> VMBus connected -> link up),
#     beside the minimum number of channel messages the protocol needs for
#     that phase. These counts carry over to any hypervisor; wall time under
#     this machine's kvm-pvm does not (it emulates kernel-mode code).
#  2. hvsim (the same guest code, native speed): start to connected and to
#     link up, in milliseconds.
#  3. For the record: hvhost's wall time to the kernel's exit beside QEMU
#     microvm booting the same kernel to its exit (both under KVM here).
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${BENCH_BOOT_RUNS:-5}
echo "bench/boot: $runs runs each; median shown"
median() { sort -n | awk '{a[NR]=$1} END {print (NR ? a[int((NR+1)/2)] : "-")}'; }

if ! why=$(build/hvhost --check-kvm); then
  echo "bench/boot: hvhost part skipped: KVM unusable ($why)"
else
  log=$(mktemp)
  build/hvhost --timeout 60 build/kernel.elf -- exit-after=link >"$log" 2>&1
  echo
  echo "hvhost, kernel with exit-after=link (one run; counts are deterministic up to timer ticks)"
  printf '%-18s %6s %6s %5s %10s %12s %12s %8s %8s\n' phase exits io msr hypercalls post_message signal_event injected console
  grep '^hvhost: phase' "$log" | while read -r _ _ ph rest; do
    v() { sed -nE "s/.*$1=([0-9]+).*/\\1/p" <<<"$rest"; }
    printf '%-18s %6s %6s %5s %10s %12s %12s %8s %8s\n' "$ph" "$(v exits)" "$(v io)" "$(v msr)" \
      "$(v hypercalls)" "$(v post_message)" "$(v signal_event)" "$(v injected)" "$(v console_bytes)"
  done
  # The protocol's minimum of guest->host channel messages (HvPostMessage):
  # connect: INITIATE_CONTACT + REQUESTOFFERS. Link: one GPADL_HEADER plus
  # ceil((pages - 26) / 28) GPADL_BODYs per GPADL (ring, receive buffer,
  # send buffer), plus OPENCHANNEL. Page counts from the kernel's log.
  echo "minimum HvPostMessage calls: entry->connected 2 (INITIATE_CONTACT, REQUESTOFFERS);"
  echo "  connected->link: 3 GPADLs (header + ceil((pages-26)/28) bodies each) + OPENCHANNEL,"
  echo "  with this kernel's buffers (ring 2x64 pages, receive 256, send 128): 5 + 10 + 5 + 1 = 21"
  grep -E '^hvhost: (stats|exit=)' "$log"
  rm -f "$log"
fi

echo
echo "hvsim (in-process, native speed), kernel with exit-after=link"
conn=() link=() wall=()
for i in $(seq "$runs"); do
  t0=$(date +%s%N)
  line=$(build/hvsim --timeout 30 -- exit-after=link 2>/dev/null | grep '^hvsim: exit=')
  wall+=($(( ($(date +%s%N) - t0) / 1000000 )))
  conn+=($(sed -nE 's/.*t_connected_ms=([0-9]+).*/\1/p' <<<"$line"))
  link+=($(sed -nE 's/.*t_link_ms=([0-9]+).*/\1/p' <<<"$line"))
done
printf '%-28s %8s\n' measure "ms (median of $runs)"
printf '%-28s %8s\n' "start -> VMBus connected" "$(printf '%s\n' "${conn[@]}" | median)"
printf '%-28s %8s\n' "start -> link up" "$(printf '%s\n' "${link[@]}" | median)"
printf '%-28s %8s\n' "process wall (incl. exit)" "$(printf '%s\n' "${wall[@]}" | median)"
echo "goal: start -> link up in single-digit ms"

if why=$(build/hvhost --check-kvm); then
  echo
  echo "for the record, both under this machine's KVM (kvm-pvm): wall ms to the kernel's exit"
  hv=() qm=()
  for i in $(seq "$runs"); do
    t0=$(date +%s%N); build/hvhost --no-net --timeout 60 build/kernel.elf -- exit-after=connect >/dev/null 2>&1
    hv+=($(( ($(date +%s%N) - t0) / 1000000 )))
    t0=$(date +%s%N); tools/qemu-run.sh --elf build/kernel.elf --kvm --timeout 60 >/dev/null 2>&1
    qm+=($(( ($(date +%s%N) - t0) / 1000000 )))
  done
  printf '%-58s %8s\n' "hvhost: boot, Hyper-V set-up, VMBus connect, UNLOAD, exit" "$(printf '%s\n' "${hv[@]}" | median)"
  printf '%-58s %8s\n' "QEMU microvm (-kernel, no VMBus): boot to the same banner, exit" "$(printf '%s\n' "${qm[@]}" | median)"
fi
