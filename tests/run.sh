#!/usr/bin/env bash
# tests/run.sh [--only TIER] UNIT_BINARIES...: run every test tier this
# machine can run, each ending with its `N passed, N failed` line, then the
# total. Exit status 1 when any tier failed.
set -uo pipefail
cd "$(dirname "$0")/.."
. tests/lib.sh
only=
[ "${1:-}" = --only ] && { only=$2; shift 2; }
P=0 F=0 S=0 bad=0
start=$(t_now_ms)

# parse_counts LINE: p, f and s (passed, failed, skipped) of a closing line.
parse_counts() {
  p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$1")
  f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$1")
  s=$(grep -oE '[0-9]+ skipped' <<<"$1" | cut -d' ' -f1)
  s=${s:-0}
}

# add_counts LOG: fold the tier's closing line into the totals.
add_counts() {
  local line p f s
  line=$(grep -E '^[A-Za-z0-9_/.-]+: [0-9]+ passed, [0-9]+ failed' "$1" | tail -n1)
  if [ -z "$line" ]; then echo "tests: tier printed no summary line"; bad=1; return; fi
  parse_counts "$line"
  P=$((P + p)) F=$((F + f)) S=$((S + s))
}

selected() { [ -z "$only" ] || [ "$only" = "$1" ]; }
mkdir -p build/test-logs

# run_script NAME COMMAND...: a tier that is one script, its output kept in
# build/test-logs/NAME.out, timed, its closing line added to the totals.
run_script() {
  local name=$1 t0
  shift
  t0=$(t_now_ms)
  "$@" 2>&1 | tee "build/test-logs/$name.out"
  echo "   ($(( $(t_now_ms) - t0 )) ms)"
  add_counts "build/test-logs/$name.out"
}

# tier_unit BINARY...: each cmocka binary, its closing line and its skips.
tier_unit() {
  echo "== unit (host, cmocka, ASan+UBSan)"
  local t0 up=0 uf=0 us=0 b log rc line p f s sum
  t0=$(t_now_ms)
  for b in "$@"; do
    log=build/test-logs/$(basename "$b").log
    "$b" >"$log" 2>&1 </dev/null
    rc=$?
    line=$(grep -E ': [0-9]+ passed, [0-9]+ failed' "$log" | tail -n1)
    if [ -z "$line" ]; then
      echo "FAIL $(basename "$b"): crashed or printed no summary (status $rc)"; tail -n 30 "$log"; uf=$((uf + 1)); continue
    fi
    if [ $rc -ne 0 ]; then grep -E '^\[  (FAILED|ERROR) |^(FAIL|SKIP) ' "$log" | head -20; tail -n 15 "$log"; fi
    grep -E '^SKIP ' "$log" || true
    echo "  $line"
    parse_counts "$line"
    up=$((up + p)) uf=$((uf + f)) us=$((us + s))
    [ $rc -ne 0 ] && [ "$f" -eq 0 ] && uf=$((uf + 1))
  done
  if [ $us -gt 0 ]; then sum="unit: $up passed, $uf failed, $us skipped"; else sum="unit: $up passed, $uf failed"; fi
  echo "$sum" | tee build/test-logs/unit.summary
  echo "   ($(( $(t_now_ms) - t0 )) ms)"
  add_counts build/test-logs/unit.summary
}

tier_boot() {
  echo "== boot (QEMU: GRUB ISO, multiboot ELF, faults, KVM)"
  run_script boot tests/boot/run.sh build/kernel.elf build/kernel.iso
}

tier_sim() {
  echo "== sim (hvsim: the guest stack and the host emulator in one process)"
  run_script sim tests/sim/run.sh build/hvsim
}

tier_e2e() {
  echo "== e2e (the kernel under hvhost on KVM)"
  run_script e2e tests/e2e/run.sh build/kernel.elf build/hvhost
}

tier_linux() {
  echo "== linux (Linux's own hv_vmbus and hv_netvsc as a guest of hvhost)"
  run_script linux tests/linux/run.sh build/hvhost build/linux-peer/vmlinux
}

tier_netns() {
  echo "== netns (Linux ping, arping and UDP echo over a TAP in a network namespace)"
  run_script netns tests/netns/run.sh build/kernel.elf build/hvhost build/hvsim
}

tier_fuzz() {
  echo "== fuzz (libFuzzer smoke: each target ${FUZZ_TEST_SECONDS:-10} s)"
  run_script fuzz tools/fuzz.sh "${FUZZ_TEST_SECONDS:-10}" build/fuzz/fuzz_*
}

tier_docs() {
  echo "== docs (every shell command in README.md and docs/)"
  run_script docs tests/docs/run.sh
}

tier_lint() {
  echo "== lint (clang-format, cppcheck)"
  T_PASS=0 T_FAIL=0 T_SKIP=0
  if make -s lint >build/test-logs/lint.log 2>&1; then t_pass lint; else
    tail -n 30 build/test-logs/lint.log; t_fail lint "make lint failed"; fi
  t_summary lint >build/test-logs/lint.summary; cat build/test-logs/lint.summary
  add_counts build/test-logs/lint.summary
}

# The tiers in the order they run; the unit binaries are the arguments.
for t in unit boot sim e2e linux netns fuzz docs lint; do
  selected $t || continue
  if [ $t = unit ]; then tier_unit "$@"; else tier_$t; fi
done

echo "== total ($(( ($(t_now_ms) - start) / 1000 )) s)"
if [ $S -gt 0 ]; then echo "total: $P passed, $F failed, $S skipped"; else echo "total: $P passed, $F failed"; fi
[ $F -eq 0 ] && [ $bad -eq 0 ]
