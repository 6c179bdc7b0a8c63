#!/usr/bin/env bash
# tools/qemu-acpi-dump.sh OUT [MIB]: boot QEMU's `pc` machine (TCG, no disks,
# no devices) until its firmware (SeaBIOS) has built the ACPI tables and
# given up booting ("No bootable device", on the firmware's debug port),
# then save guest RAM (MIB MiB from 0, default 32) to OUT with the monitor's
# pmemsave. The parser's unit test reads these tables, which nobody here
# wrote. Exit 0 with OUT written; 77 with the reason on stdout when QEMU is
# missing or the firmware never got there (a skip, not a failure).
set -uo pipefail
out=$1 mib=${2:-32}
command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 not installed"; exit 77; }
command -v python3 >/dev/null || { echo "python3 not installed"; exit 77; }
dir=$(mktemp -d)
trap 'kill "$qpid" 2>/dev/null; wait "$qpid" 2>/dev/null; rm -rf "$dir"' EXIT
qemu-system-x86_64 -M "${QEMU_MACHINE:-pc}" -accel tcg -nodefaults -m "$mib" -display none -no-reboot \
  -debugcon "file:$dir/fw.log" -global isa-debugcon.iobase=0x402 \
  -qmp "unix:$dir/qmp.sock,server=on,wait=off" 2>"$dir/qemu.err" &
qpid=$!
for _ in $(seq 1 300); do
  grep -aq 'No bootable device' "$dir/fw.log" 2>/dev/null && break
  kill -0 "$qpid" 2>/dev/null || { echo "QEMU ended early: $(head -c 200 "$dir/qemu.err")"; exit 77; }
  sleep 0.1
done
grep -aq 'No bootable device' "$dir/fw.log" 2>/dev/null ||
  { echo "the firmware did not finish within 30 s"; exit 77; }
python3 - "$dir/qmp.sock" "$out" "$mib" <<'PY'
import json, socket, sys
sock, out, mib = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_UNIX); s.connect(sock); f = s.makefile('rw')
def cmd(c, **a):
    f.write(json.dumps({"execute": c, "arguments": a} if a else {"execute": c}) + "\n"); f.flush()
    while True:
        line = f.readline()
        if not line:
            return {}  # QEMU closed the connection (quit)
        r = json.loads(line)
        if "return" in r or "error" in r:
            return r
json.loads(f.readline())  # greeting
cmd("qmp_capabilities")
cmd("stop")
r = cmd("pmemsave", val=0, size=mib << 20, filename=out)
cmd("quit")
if "error" in r:
    sys.exit("pmemsave: %s" % r["error"])
PY
rc=$?
wait "$qpid" 2>/dev/null
[ $rc -eq 0 ] && [ -s "$out" ] || { echo "pmemsave failed"; exit 77; }
exit 0
