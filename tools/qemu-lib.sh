# tools/qemu-lib.sh: sourced by the QEMU dump tools. qemu_dump_begin exits 77
# with the reason when qemu-system-x86_64 or python3 is missing, makes the
# scratch folder $dir, and on exit stops QEMU (the tool sets $qpid) and
# removes $dir. PYTHONPATH is set so the tools' Python finds tools/qmp.py.
qemu_dump_begin() {
  command -v qemu-system-x86_64 >/dev/null || { echo "qemu-system-x86_64 not installed"; exit 77; }
  command -v python3 >/dev/null || { echo "python3 not installed"; exit 77; }
  dir=$(mktemp -d)
  qpid=
  trap 'kill "$qpid" 2>/dev/null; wait "$qpid" 2>/dev/null; rm -rf "$dir"' EXIT
  PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)${PYTHONPATH:+:$PYTHONPATH}"
  export PYTHONPATH
}
