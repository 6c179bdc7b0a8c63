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

# add_counts LOG: fold the tier's closing line into the totals.
add_counts() {
  local line p f s
  line=$(grep -E '^[A-Za-z0-9_/.-]+: [0-9]+ passed, [0-9]+ failed' "$1" | tail -n1)
  if [ -z "$line" ]; then echo "tests: tier printed no summary line"; bad=1; return; fi
  p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
  f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
  s=$(grep -oE '[0-9]+ skipped' <<<"$line" | cut -d' ' -f1)
  P=$((P + p)) F=$((F + f)) S=$((S + ${s:-0}))
}

tier() { [ -z "$only" ] || [ "$only" = "$1" ]; }
mkdir -p build/test-logs

if tier unit; then
  echo "== unit (host, cmocka, ASan+UBSan)"
  t0=$(t_now_ms)
  up=0 uf=0 us=0
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
    p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line"); f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
    s=$(grep -oE '[0-9]+ skipped' <<<"$line" | cut -d' ' -f1)
    up=$((up + p)) uf=$((uf + f)) us=$((us + ${s:-0}))
    [ $rc -ne 0 ] && [ "$f" -eq 0 ] && uf=$((uf + 1))
  done
  if [ $us -gt 0 ]; then sum="unit: $up passed, $uf failed, $us skipped"; else sum="unit: $up passed, $uf failed"; fi
  echo "$sum" | tee build/test-logs/unit.summary
  echo "   ($(( $(t_now_ms) - t0 )) ms)"
  add_counts build/test-logs/unit.summary
fi

if tier boot; then
  echo "== boot (QEMU: GRUB ISO, multiboot ELF, faults, KVM)"
  t0=$(t_now_ms)
  tests/boot/run.sh build/kernel.elf build/kernel.iso 2>&1 | tee build/test-logs/boot.out
  echo "   ($(( $(t_now_ms) - t0 )) ms)"
  add_counts build/test-logs/boot.out
fi

if tier sim; then
  echo "== sim (hvsim: the guest stack and the host emulator in one process)"
  t0=$(t_now_ms)
  tests/sim/run.sh build/hvsim 2>&1 | tee build/test-logs/sim.out
  echo "   ($(( $(t_now_ms) - t0 )) ms)"
  add_counts build/test-logs/sim.out
fi

if tier e2e; then
  echo "== e2e (the kernel under hvhost on KVM)"
  t0=$(t_now_ms)
  tests/e2e/run.sh build/kernel.elf build/hvhost 2>&1 | tee build/test-logs/e2e.out
  echo "   ($(( $(t_now_ms) - t0 )) ms)"
  add_counts build/test-logs/e2e.out
fi

if tier linux; then
  echo "== linux (Linux's own hv_vmbus and hv_netvsc as a guest of hvhost)"
  t0=$(t_now_ms)
  tests/linux/run.sh build/hvhost build/linux-peer/vmlinux 2>&1 | tee build/test-logs/linux.out
  echo "   ($(( $(t_now_ms) - t0 )) ms)"
  add_counts build/test-logs/linux.out
fi

if tier netns; then
  echo "== netns (Linux ping, arping and UDP echo over a TAP in a network namespace)"
  t0=$(t_now_ms)
  tests/netns/run.sh build/kernel.elf build/hvhost build/hvsim 2>&1 | tee build/test-logs/netns.out
  echo "   ($(( $(t_now_ms) - t0 )) ms)"
  add_counts build/test-logs/netns.out
fi

if tier fuzz; then
  echo "== fuzz (libFuzzer smoke: each target ${FUZZ_TEST_SECONDS:-20} s)"
  t0=$(t_now_ms)
  tools/fuzz.sh "${FUZZ_TEST_SECONDS:-20}" build/fuzz/fuzz_* 2>&1 | tee build/test-logs/fuzz.out
  echo "   ($(( $(t_now_ms) - t0 )) ms)"
  add_counts build/test-logs/fuzz.out
fi

if tier docs; then
  echo "== docs (every shell command in README.md and docs/)"
  t0=$(t_now_ms)
  tests/docs/run.sh 2>&1 | tee build/test-logs/docs.out
  echo "   ($(( $(t_now_ms) - t0 )) ms)"
  add_counts build/test-logs/docs.out
fi

if tier lint; then
  echo "== lint (clang-format, cppcheck)"
  T_PASS=0 T_FAIL=0 T_SKIP=0
  if make -s lint >build/test-logs/lint.log 2>&1; then t_pass lint; else
    tail -n 30 build/test-logs/lint.log; t_fail lint "make lint failed"; fi
  t_summary lint >build/test-logs/lint.summary; cat build/test-logs/lint.summary
  add_counts build/test-logs/lint.summary
fi

echo "== total ($(( ($(t_now_ms) - start) / 1000 )) s)"
if [ $S -gt 0 ]; then echo "total: $P passed, $F failed, $S skipped"; else echo "total: $P passed, $F failed"; fi
[ $F -eq 0 ] && [ $bad -eq 0 ]
