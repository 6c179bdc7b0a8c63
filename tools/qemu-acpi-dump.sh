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
. "$(dirname "$0")/qemu-lib.sh"
qemu_dump_begin
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
import sys
from qmp import Qmp
sock, out, mib = sys.argv[1], sys.argv[2], int(sys.argv[3])
q = Qmp(sock)
q.cmd("stop")
q.save_and_quit(0, mib << 20, out)
PY
rc=$?
wait "$qpid" 2>/dev/null
[ $rc -eq 0 ] && [ -s "$out" ] || { echo "pmemsave failed"; exit 77; }
exit 0
