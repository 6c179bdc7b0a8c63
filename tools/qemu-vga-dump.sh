#!/usr/bin/env bash
# tools/qemu-vga-dump.sh KERNEL.elf SCREEN.txt [KERNEL ARGS]: boot the kernel
# under QEMU's `pc` machine (TCG, standard VGA, no isa-debug-exit) with
# -no-shutdown, wait until the guest powers the machine off through ACPI
# (QEMU's status becomes "shutdown"), then save the VGA text buffer
# (0xB8000, 80x25 cells of character + attribute) with the monitor's
# pmemsave and write it as 25 lines of text to SCREEN.txt. The serial log
# goes to stdout. Exit 0 when the guest powered off and the screen was
# saved; 124 when it did not power off within 60 s; 77 with the reason
# when QEMU or python3 is missing.
set -uo pipefail
elf=$1 screen=$2 append=${3:-}
. "$(dirname "$0")/qemu-lib.sh"
qemu_dump_begin
qemu-system-x86_64 -M pc -accel tcg -cpu qemu64 -m 128 -display none -serial stdio \
  -monitor none -no-reboot -no-shutdown -kernel "$elf" -append "$append" \
  -qmp "unix:$dir/qmp.sock,server=on,wait=off" </dev/null &
qpid=$!
for _ in $(seq 1 50); do [ -S "$dir/qmp.sock" ] && break; sleep 0.1; done
python3 - "$dir/qmp.sock" "$dir/vga.bin" "$screen" <<'PY'
import sys, time
from qmp import Qmp
sock, raw, out = sys.argv[1:4]
q = Qmp(sock)
end = time.time() + 60
while time.time() < end:
    if q.cmd("query-status").get("return", {}).get("status") == "shutdown":
        break
    time.sleep(0.05)
else:
    q.cmd("quit"); sys.exit(124)
q.save_and_quit(0xB8000, 80 * 25 * 2, raw)
b = open(raw, "rb").read()
with open(out, "w") as o:
    for row in range(25):
        cells = b[row * 160:(row + 1) * 160:2]
        o.write("".join(chr(c) if 32 <= c < 127 else " " for c in cells).rstrip() + "\n")
PY
rc=$?
wait "$qpid" 2>/dev/null
exit $rc
