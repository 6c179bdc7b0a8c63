#!/usr/bin/env bash
# tools/fuzz.sh SECONDS FUZZER...: run each libFuzzer target for SECONDS on a
# scratch copy of its seed corpus (tests/fuzz/corpus/NAME, kept small in the
# repo), then print one line per target: executions, coverage (edges),
# corpus size and crashes. Crash inputs are kept under build/fuzz/crashes/.
# Ends with `fuzz: N passed, N failed` (a target fails on any crash, leak,
# timeout or out-of-memory report).
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:?usage: fuzz.sh SECONDS FUZZER...}; shift
pass=0 fail=0
mkdir -p build/fuzz/crashes build/fuzz/logs
for f in "$@"; do
  name=$(basename "$f")
  work=build/fuzz/corpus/$name
  rm -rf "$work" && mkdir -p "$work"
  [ -d tests/fuzz/corpus/$name ] && cp -r tests/fuzz/corpus/$name/. "$work/" 2>/dev/null
  log=build/fuzz/logs/$name.log
  "$f" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="build/fuzz/crashes/$name-" "$work" >"$log" 2>&1
  rc=$?
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  seeds=$(ls "$work" | wc -l)
  crashes=$(grep -cE '^==[0-9]+==ERROR|^SUMMARY: (Address|Undefined|Leak)Sanitizer|deadly signal|ERROR: libFuzzer' "$log")
  printf '%-24s %10s execs %6s edges %6s inputs %3s crashes  (%s s)\n' "$name" "${execs:-?}" "${cov:-?}" "$seeds" "$crashes" "$secs"
  if [ $rc -ne 0 ] || [ "$crashes" -ne 0 ]; then
    fail=$((fail + 1))
    echo "FAIL $name: status $rc; log $log; last lines:"
    grep -E 'ERROR|SUMMARY|#0 |#1 |#2 |Test unit written' "$log" | head -12 | sed 's/^/  | /'
  else
    pass=$((pass + 1))
  fi
done
echo "fuzz: $pass passed, $fail failed"
[ $fail -eq 0 ]
