#!/usr/bin/env bash
# tests/docs/run.sh: every shell command shown in README.md and docs/*.md
# (the lines of ```sh blocks) is run here, so the docs cannot rot. A command
# passes when it exits 0; a comment "# exits N" on its line states another
# expected status; a serving kernel stopped by --timeout exits 124 (that is
# how hvhost/hvsim report it). Commands that cannot run here say why (SKIP):
# `make test` (this is part of it). `make run` is run with ARGS=--timeout.
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
out=build/test-logs/docs
mkdir -p "$out"
kvm_ok=1
why_kvm=$(t_kvm_usable) || kvm_ok=0

n=0
for doc in README.md docs/*.md; do
  # Lines inside ```sh fences, with the file's line number.
  while IFS=$'\t' read -r lineno cmd; do
    [ -n "$cmd" ] || continue
    n=$((n + 1))
    name="$doc:$lineno"
    want=0 expect=
    if [[ "$cmd" =~ \#\ .*exits\ ([0-9]+) ]]; then want=${BASH_REMATCH[1]}; fi
    run=${cmd%%#*}                         # drop the comment
    run=$(sed -E 's/[[:space:]]+$//' <<<"$run")
    case "$run" in
      "make test"*) t_skip "$name" "'$run' is the command running this test"; continue ;;
      # tools/run.sh: a run ended by the --timeout asked for is a success.
      "make run")   run="make run ARGS='--timeout 5'"; want=0; expect='^hv(host|sim): exit=timeout ' ;;
    esac
    if [[ "$run" == *hvhost* || "$run" == "make run"* ]] && [ $kvm_ok = 0 ]; then
      [[ "$run" == "make run"* ]] || { t_skip "$name" "needs KVM: $why_kvm"; continue; }
    fi
    # The Linux peer is built by make test (or make linux-peer), not here.
    if [[ "$run" =~ (build/linux-peer/[A-Za-z]+) ]] && [ ! -f "${BASH_REMATCH[1]}" ]; then
      t_skip "$name" "${BASH_REMATCH[1]} is not built (make linux-peer)"; continue
    fi
    if [[ "$run" == *--timeout* && "$run" != *exit-after* && "$run" != "make run"* && $want = 0 ]]; then
      want=124 # the host tool's status when its --timeout ends the run
    fi
    log=$out/$(echo "$name" | tr '/:.' '___').log
    timeout --foreground 180 bash -c "$run" >"$log" 2>&1 </dev/null
    rc=$?
    if [ $rc -eq "$want" ] && { [ -z "$expect" ] || grep -qE "$expect" "$log"; }; then
      t_pass "$name" "$run"
    else
      t_fail "$name" "'$run' exited $rc, expected $want${expect:+ and a line '$expect'}; log $log"
      tail -n 15 "$log" | sed 's/^/  | /'
    fi
  done < <(awk '/^```sh[[:space:]]*$/ {inb=1; next} /^```/ {inb=0} inb {print FNR "\t" $0}' "$doc")
done
[ $n -gt 0 ] || t_fail docs "no shell commands found in the docs"
t_summary docs
