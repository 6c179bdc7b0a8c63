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

# t_kvm_usable: can hvhost run VMs here? Asks `hvhost --check-kvm` (the
# program that will use /dev/kvm; $HVHOST, default build/hvhost). Prints the
# reason when not; returns 0 when usable.
t_kvm_usable() {
  local hvhost=${HVHOST:-build/hvhost}
  if [ ! -x "$hvhost" ]; then echo "$hvhost is not built (make hvhost)"; return 1; fi
  "$hvhost" --check-kvm
}

# t_skip_tier TIER REASON: the whole tier cannot run here: one SKIP line
# named after it, its summary line, and the tier's script ends (exit).
t_skip_tier() {
  t_skip "$1" "$2"
  t_summary "$1"
  exit $?
}

# t_require_kvm TIER HVHOST: a tier that needs KVM ends with a skip, the
# reason hvhost --check-kvm gave (t_kvm_usable), where KVM is unusable.
t_require_kvm() {
  local why
  why=$(HVHOST=$2 t_kvm_usable) || t_skip_tier "$1" "$why"
}

# t_run NAME WANT_STATUS LIMIT COMMAND...: run COMMAND with its output in
# $out/NAME.log, killed after LIMIT seconds; LAST_MS is how long it took.
# Returns 1, with the log's tail, when its status is not WANT_STATUS.
t_run() {
  local name=$1 want=$2 lim=$3; shift 3
  local log=$out/$name.log t0 rc
  t0=$(t_now_ms)
  timeout --foreground "$lim" "$@" >"$log" 2>&1 </dev/null
  rc=$?
  LAST_MS=$(( $(t_now_ms) - t0 ))
  if [ "$rc" -ne "$want" ]; then
    echo "  $name: ${1##*/} exited $rc, expected $want (124 = the test's timeout); log:"
    sed 's/^/  | /' "$log" | tail -n 40
    return 1
  fi
}

# ---- the scenarios shared by sim and e2e (tests/scenarios.sh) ----------------
# t_scenarios BACKEND BOUND LIMIT PROGRAM [IMAGE]: run every scenario meant
# for BACKEND (sim or e2e) with PROGRAM (and the kernel IMAGE), adding
# --timeout BOUND where a scenario gives none and killing each run after
# LIMIT seconds. The tier sets out, S and H first (tests/scenarios.sh).
t_scenarios() {
  T_BACKEND=$1 T_BOUND=$2 T_LIMIT=$3 T_PROG=$4 T_IMAGE=${5:-}
  . tests/scenarios.sh
}

# sc NAME WHERE STATUS 'HOST OPTIONS' 'KERNEL COMMAND LINE' REGEX...: one
# scenario (the format is described at the top of tests/scenarios.sh).
sc() {
  local name=$1 where=$2 want=$3 host=$4 kargs=$5 re
  shift 5
  case $where in both | "$T_BACKEND") ;; *) return 0 ;; esac
  local -a args res=()
  eval "args=($host)"
  [[ " ${args[*]} " == *" --timeout "* ]] || args+=(--timeout "$T_BOUND")
  [ -z "$T_IMAGE" ] || args+=("$T_IMAGE")
  # shellcheck disable=SC2206 # the command line is words
  [ -z "$kargs" ] || args+=(-- $kargs)
  for re in "$@"; do
    case $re in
      sim:* | e2e:*) [ "${re%%:*}" != "$T_BACKEND" ] || res+=("${re#*:}") ;;
      *) res+=("$re") ;;
    esac
  done
  if t_run "$name" "$want" "$T_LIMIT" "$T_PROG" "${args[@]}" &&
     t_expect_lines "$name" "$out/$name.log" "${res[@]}"; then
    t_pass "$name" "${LAST_MS} ms"
  else t_fail "$name" "see above"; fi
}

# t_no_sanitizer NAME LOG...: a user's ordinary errors (these logs) end
# without a sanitizer report.
t_no_sanitizer() {
  local name=$1 bad
  shift
  if bad=$(grep -l Sanitizer "$@"); then
    t_fail "$name" "a sanitizer report on an ordinary error: $bad"
  else t_pass "$name"; fi
}

# t_pcap_check NAME LOG PCAP PROG: the capture of the peer-traffic scenario
# read by tshark: Ethernet frames only, ARP, the 100 echo requests and
# replies, 2 x 1472 UDP echoes, and exactly the frames PROG's NIC counted
# (its "PROG: nic" line in LOG). A skip when tshark is missing.
t_pcap_check() {
  local name=$1 log=$2 pcap=$3 prog=$4 total eth arp req rep udp nic want detail
  if ! command -v tshark >/dev/null; then
    t_skip "$name" "tshark is not installed (tools/deps.sh installs it)"; return
  fi
  tsh() { timeout 60 tshark -n -r "$pcap" "$@" 2>/dev/null; }
  total=$(tsh | wc -l)
  eth=$(tsh -T fields -e frame.protocols | grep -c '^eth:')
  arp=$(tsh -Y arp | wc -l)
  req=$(tsh -Y 'icmp.type == 8' | wc -l)
  rep=$(tsh -Y 'icmp.type == 0' | wc -l)
  udp=$(tsh -Y 'udp.port == 7' | wc -l)
  nic=$(grep -E "^$prog: nic " "$log")
  want=$(( $(sed -nE 's/.* tx_frames=([0-9]+) .*/\1/p' <<<"$nic") + $(sed -nE 's/.* rx_frames=([0-9]+) .*/\1/p' <<<"$nic") ))
  detail="$total frames ($eth Ethernet) arp=$arp icmp=$req/$rep udp=$udp, NIC tx+rx=$want"
  if [ "$total" -eq "$want" ] && [ "$eth" -eq "$total" ] && [ "$arp" -ge 2 ] && [ "$req" -eq 100 ] &&
     [ "$rep" -eq 100 ] && [ "$udp" -eq 2944 ]; then
    t_pass "$name" "$detail"
  else t_fail "$name" "$detail"; fi
}

# ---- Stop-VM (a signal, so not a scenarios.sh line) --------------------------
# t_stopvm NAME STOP_TIMEOUT PROG [IMAGE]: run PROG --stop-timeout
# STOP_TIMEOUT [IMAGE] with its output in $out/NAME.log, send SIGTERM (STOP_SIGNALS
# times, 50 ms apart; default once) once KVP
# has the guest's address (or after 90 s, saying so), kill it 30 s later if
# it is still running; the run's status in LAST_RC.
t_stopvm() {
  local name=$1 st=$2 prog=$3 log=$out/$1.log pid
  "$prog" --stop-timeout "$st" ${4:+"$4"} >"$log" 2>&1 </dev/null &
  pid=$!
  for _ in $(seq 1 900); do grep -qE 'icdev kvp: the guest reports IPv4' "$log" && break; sleep 0.1; done
  grep -qE 'icdev kvp: the guest reports IPv4' "$log" ||
    echo "  $name: no KVP address after 90 s ($(wc -l <"$log") log lines); stopping it anyway"
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 2 "${STOP_SIGNALS:-1}"); do sleep 0.05; kill -TERM "$pid" 2>/dev/null; done
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  wait "$pid"
  LAST_RC=$?
}

# t_stop_vm PROG [IMAGE]: the stop-vm case of both tiers: SIGTERM once KVP
# has the guest's address; the shutdown service's request, a clean stop,
# ACPI power-off, the summary line ($S) and the host's timing line ($H).
t_stop_vm() {
  t_stopvm stop-vm 10 "$@"
  if [ "$LAST_RC" -eq 0 ] && t_expect_lines stop-vm "$out/stop-vm.log" \
       '^ic shutdown: shutdown requested by the host' '^netvsc: halted' '^vmbus: disconnected' \
       '^Hyper-V: SynIC and hypercall page disabled' \
       "^$S: exit=0 vmbus=6\.0 offers=12 link=up t_connected_ms=[0-9]+ t_link_ms=[0-9]+ guest_ip=192\.0\.2\.2 power=off heartbeats=[1-9][0-9]* kvp_ip=192\.0\.2\.2 ics=heartbeat,kvp,shutdown,timesync\$" &&
     t_expect_lines stop-vm "$out/stop-vm.log" "^$H: shutdown request to exit [0-9.]+ ms" &&
     t_expect_lines stop-vm "$out/stop-vm.log" '^ic heartbeat: framework 3\.0, service 3\.0' &&
     t_expect_lines stop-vm "$out/stop-vm.log" '^ic kvp: framework 3\.0, service 4\.0' &&
     t_expect_lines stop-vm "$out/stop-vm.log" '^ic shutdown: framework 3\.0, service 3\.2' &&
     t_expect_lines stop-vm "$out/stop-vm.log" '^ic timesync: framework 3\.0, service 4\.0' &&
     t_expect_lines stop-vm "$out/stop-vm.log" '^ic timesync: host time [0-9]{4}-[0-9]{2}-[0-9]{2} '; then
    t_pass stop-vm "$(grep -oE 'shutdown request to exit [0-9.]+ ms' "$out/stop-vm.log")"
  else t_fail stop-vm "status $LAST_RC (expected 0), see above"; fi
}
