# tests/lib.sh: shared helpers for the shell test tiers (sourced).
# Each tier calls t_pass/t_fail/t_skip and ends with t_summary NAME, which
# prints the project's closing line `NAME: N passed, N failed[, N skipped]`.
T_PASS=0 T_FAIL=0 T_SKIP=0
t_pass() { T_PASS=$((T_PASS + 1)); echo "PASS $1${2:+ ($2)}"; }
t_fail() { T_FAIL=$((T_FAIL + 1)); echo "FAIL $1: $2"; }
t_skip() { T_SKIP=$((T_SKIP + 1)); echo "SKIP $1: $2"; }
t_summary() {
  if [ "$T_SKIP" -gt 0 ]; then
    echo "$1: $T_PASS passed, $T_FAIL failed, $T_SKIP skipped"
  else
    echo "$1: $T_PASS passed, $T_FAIL failed"
  fi
  [ "$T_FAIL" -eq 0 ]
}
# ms since the epoch, for timings printed by the tiers
t_now_ms() { date +%s%3N; }

# t_expect_lines NAME LOG REGEX...: every regex must match a line of LOG, in
# order. On failure prints MISSING '<regex>' and the log (xv6 gradelib style).
t_expect_lines() {
  local name=$1 log=$2; shift 2
  local rest line=0 n
  for re in "$@"; do
    n=$(tail -n +$((line + 1)) "$log" | grep -n -m1 -E -- "$re" | cut -d: -f1)
    if [ -z "$n" ]; then
      echo "MISSING '$re' (after line $line) in $name; serial log:"
      sed 's/^/  | /' "$log" | tail -n 60
      return 1
    fi
    line=$((line + n))
  done
  return 0
}

# /dev/kvm usable by us? Prints the reason when not; returns 0 when usable.
t_kvm_usable() {
  if [ ! -e /dev/kvm ]; then echo "no /dev/kvm on this machine"; return 1; fi
  if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then echo "/dev/kvm not readable and writable by $(id -un)"; return 1; fi
  python3 - <<'PY' || return 1
import fcntl, os, sys
try:
    fd = os.open('/dev/kvm', os.O_RDWR)
    v = fcntl.ioctl(fd, 0xAE00)  # KVM_GET_API_VERSION
    if v != 12: print(f"KVM API version {v}, expected 12"); sys.exit(1)
except OSError as e:
    print(f"/dev/kvm unusable: {e}"); sys.exit(1)
PY
}
