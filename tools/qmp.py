"""tools/qmp.py: the QMP client the QEMU dump tools (qemu-acpi-dump.sh,
qemu-vga-dump.sh) share: connect to a monitor socket, run commands, save
guest memory and quit."""
import json
import socket
import sys


class Qmp:
    """A connection to QEMU's QMP socket at path, past the greeting and
    the capabilities negotiation."""

    def __init__(self, path):
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        self.f = s.makefile('rw')
        json.loads(self.f.readline())  # greeting
        self.cmd("qmp_capabilities")

    def cmd(self, c, **a):
        """Runs command c with arguments a; returns its answer ("return" or
        "error"), skipping events; {} when QEMU closed the connection."""
        self.f.write(json.dumps({"execute": c, "arguments": a} if a else {"execute": c}) + "\n")
        self.f.flush()
        while True:
            line = self.f.readline()
            if not line:
                return {}  # QEMU closed the connection (quit)
            r = json.loads(line)
            if "return" in r or "error" in r:
                return r

    def save_and_quit(self, addr, size, filename):
        """Saves size bytes of guest memory from addr to filename, then
        quits QEMU; exits with the reason when the save failed."""
        r = self.cmd("pmemsave", val=addr, size=size, filename=filename)
        self.cmd("quit")
        if "error" in r:
            sys.exit("pmemsave: %s" % r["error"])
