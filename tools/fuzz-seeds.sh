#!/usr/bin/env bash
# tools/fuzz-seeds.sh [BUILD]: (re)make the seed corpora under tests/fuzz/corpus/
# (docs/SECURITY.md, "Fuzzing").
#  - fuzz_vmbus_server and fuzz_vmbus_client: recorded from a real run of the
#    guest against the emulator (the host_sim unit test, every version cap,
#    monitored or not, GPADLs of 1,024 pages, rescind, unload), through the
#    VMBus server's recorder (VMBSRV_RECORD_RX / VMBSRV_RECORD_TX): the
#    guest's messages as the server got them, and the server's messages as
#    SynIC slots. Split into sessions, deduplicated, capped at ~90 KB a target.
#  - fuzz_kmcl_rx and fuzz_hvemu: generated here (well-formed packets and
#    the guest's hv_init/post/signal sequence in each target's input format).
# Needs the host unit test built: make BUILD=... BUILD/host/tests/unit/host_sim_test
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
sim=$build/host/tests/unit/host_sim_test
[ -x "$sim" ] || { echo "build $sim first" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
VMBSRV_RECORD_RX=$tmp/rx.bin VMBSRV_RECORD_TX=$tmp/tx.bin "$sim" >/dev/null
python3 - "$tmp" <<'EOF'
import hashlib, os, struct, sys
tmp = sys.argv[1]
root = "tests/fuzz/corpus"
CAP = 90 * 1024

def put(target, blobs):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    total, seen, n = 0, set(), 0
    for b in blobs:
        h = hashlib.sha1(b).hexdigest()
        if h in seen or total + len(b) > CAP:
            continue
        seen.add(h)
        total += len(b)
        n += 1
        with open(os.path.join(d, "seed-" + h[:12]), "wb") as f:
            f.write(b)
    print("%-20s %3d seeds, %6d bytes" % (target, n, total))

# fuzz_vmbus_server: records [sel][size][bytes]; a session starts at each
# INITIATE_CONTACT (msgtype 14); long sessions are cut at 2 KB.
rx = open(os.path.join(tmp, "rx.bin"), "rb").read()
recs, i = [], 0
while i + 2 <= len(rx):
    size = rx[i + 1]
    recs.append(rx[i:i + 2 + size])
    i += 2 + size
# A piece cut from a long session starts again with that session's
# INITIATE_CONTACT and REQUESTOFFERS, so it still reaches channel state.
sessions, cur, prefix = [], b"", b""
for r in recs:
    mtype = struct.unpack_from("<I", r, 2)[0] if len(r) >= 6 else 0
    if mtype == 14:
        if cur:
            sessions.append(cur)
        cur, prefix = b"", b""
    if len(cur) + len(r) > 2048:
        sessions.append(cur)
        cur = prefix
    cur += r
    if mtype in (14, 3):
        prefix += r
if cur:
    sessions.append(cur)
put("fuzz_vmbus_server", sessions)

# fuzz_vmbus_client: 8 bytes of event flags, then up to 8 slots of 256 bytes.
tx = open(os.path.join(tmp, "tx.bin"), "rb").read()
slots = [tx[i:i + 256] for i in range(0, len(tx) - 255, 256)]
groups = []
for k in range(0, len(slots), 4):
    groups.append(struct.pack("<Q", 1 << (k % 3 + 1)) + b"".join(slots[k:k + 4]))
put("fuzz_vmbus_client", groups)

# fuzz_kmcl_rx: op 0 = chunk [u16 len][bytes] at the write index; op 3 =
# release held packets. Packets: 16-byte descriptor {type, offset8, len8,
# flags, trans_id}, body, then the 8-byte trailer.
def desc(t, off8, len8, flags=0, tid=0):
    return struct.pack("<HHHHQ", t, off8, len8, flags, tid)
def pkt(t, body, flags=0, tid=0, hdr=b""):
    raw = desc(t, (16 + len(hdr)) // 8, (16 + len(hdr) + len(body) + 7) // 8, flags, tid) + hdr + body
    raw += b"\0" * (-len(raw) % 8)
    return raw + struct.pack("<Q", 0)
def chunk(b):
    return bytes([0]) + struct.pack("<H", len(b)) + b
inband = pkt(6, bytes(range(40)))
want = pkt(6, b"ping" * 8, flags=1, tid=0x42)
comp = pkt(11, b"done" * 4, tid=(1 << 32) | 1)
comp3 = pkt(11, b"", tid=(1 << 32) | 3)
gpa = pkt(9, b"", flags=1, tid=7, hdr=struct.pack("<II", 0, 1) + struct.pack("<IIQ", 4096, 0, 0x300))
xfer = pkt(7, b"", flags=1, tid=8, hdr=struct.pack("<HBBI", 1, 0, 0, 2) + struct.pack("<IIII", 64, 0, 64, 64))
seeds = [
    bytes([0]) + chunk(inband),
    bytes([0]) + chunk(inband + want + comp),
    bytes([1]) + chunk(want) + chunk(inband) + bytes([3]),
    bytes([0]) + chunk(comp + comp3),
    bytes([0]) + chunk(gpa) + chunk(xfer),
    bytes([0]) + chunk(inband * 40) + chunk(inband * 40) + chunk(comp),
    bytes([2]) + struct.pack("<II", 64, 1) + chunk(inband),
]
put("fuzz_kmcl_rx", seeds)

# fuzz_hvemu: ops as in tests/fuzz/fuzz_hvemu.c.
def wrmsr(i, v):
    return bytes([0, i]) + struct.pack("<Q", v)
def hcall(control, how, inp=None, page=b""):
    b = bytes([2]) + struct.pack("<Q", control) + bytes([how])
    if how & 1:
        b += struct.pack("<Q", inp)
    return b + page.ljust(256, b"\0")
post = struct.pack("<IIII", 1, 0, 1, 16) + struct.pack("<IIQ", 3, 0, 0)
init = (wrmsr(0, 1 << 63) + wrmsr(0x41, 1) + wrmsr(0x4B, (2 << 12) | 1) + wrmsr(0x4A, (3 << 12) | 1)
        + wrmsr(14, 0x30) + wrmsr(8, 1))
seeds = [
    init,
    init + hcall(0x5C, 0, page=post),
    init + hcall(0x1005D, 1, inp=2 | (5 << 32)),
    init + bytes([4, 2, 16]) + struct.pack("<H", 9) + bytes([5, 2]) + bytes([4, 2, 16, 0, 0]),
    init + bytes([1, 11, 1, 14, 3, 0, 3, 3]) + hcall(0x5C, 8, page=post),
    wrmsr(0x41, 1) + hcall(0x5C, 0, page=post) + wrmsr(0, 1 << 63) + wrmsr(0x41, 1) + hcall(0x5C, 0, page=post),
]
put("fuzz_hvemu", seeds)
# fuzz_ic: [svc][prep] + one message as hosts send them (pipe header, icmsg
# header, body; drivers/ic/ic_proto.h), the formats Linux's hyperv.h gives.
def icmsg(mtype, body, tid=1, fw=(3, 0), sv=(3, 0), size=None):
    h = struct.pack("<HHHHHHIBB2x", fw[0], fw[1], mtype, sv[0], sv[1],
                    len(body) if size is None else size, 0, tid, 3)
    return struct.pack("<II", 1, len(h) + len(body)) + h + body
def utf16(s, units):
    return s.encode("utf-16-le").ljust(units * 2, b"\0")
def neg(fws, svs):
    b = struct.pack("<HHI", len(fws), len(svs), 0)
    for v in fws + svs:
        b += struct.pack("<HH", *v)
    return icmsg(0, b)
kvp_ip = (bytes([4, 0]) + utf16("00:15:5D:00:00:02", 128) + bytes([0, 0])
          + b"\0" * (2048 * 2 + 1024 + 2048))
kvp_enum = struct.pack("<BBHI", 3, 2, 0, 0) + b"\0" * 2572
seeds = []
for svc, svs in ((0, [(3, 0), (1, 0)]), (1, [(4, 0), (3, 0), (1, 0)]),
                 (2, [(3, 2), (3, 1), (3, 0), (1, 0)]), (3, [(4, 0), (3, 0), (1, 0)])):
    seeds.append(bytes([svc, 0]) + neg([(3, 0), (1, 0)], svs))
seeds += [
    bytes([0, 1]) + icmsg(1, struct.pack("<Q", 7) + b"\0" * 32, sv=(3, 0)),
    bytes([1, 1]) + icmsg(2, kvp_ip, sv=(4, 0)),
    bytes([1, 1]) + icmsg(2, kvp_enum, sv=(4, 0)),
    bytes([2, 1]) + icmsg(3, struct.pack("<III", 0, 0, 0) + b"Stop-VM".ljust(2048, b"\0"), sv=(3, 2)),
    bytes([2, 1]) + icmsg(3, struct.pack("<III", 0, 0, 2) + b"\0" * 2048, sv=(3, 2)),
    bytes([3, 1]) + icmsg(4, struct.pack("<QQBBB3x", 133000000000000000, 0, 1, 0, 2), sv=(4, 0)),
    bytes([3, 1 | 4]) + icmsg(4, struct.pack("<QQQB", 133000000000000000, 0, 0, 2), sv=(3, 0)),
    bytes([0, 0]) + neg([(3, 0)] * 100, [(3, 0)] * 100),
    bytes([1, 1]) + icmsg(2, struct.pack("<BBHIII", 1, 3, 0, 1, 18, 24) + utf16("HostName", 256)
                          + utf16("hyperv-host", 1024), sv=(4, 0)),
    bytes([1, 1]) + icmsg(2, struct.pack("<BBHIII", 0, 2, 0, 1, 14, 0) + utf16("OSName", 256)
                          + b"\0" * 2048, sv=(4, 0)),
    bytes([1, 1]) + icmsg(2, struct.pack("<BBHI", 2, 3, 0, 18) + utf16("HostName", 256), sv=(4, 0)),
]
put("fuzz_ic", seeds)
EOF
du -sh tests/fuzz/corpus/* | sed 's/^/  /'

# fuzz_acpi: hvhost's tables, QEMU pc's tables from a real boot and
# corrupted copies, written by the parser's unit test.
acpi=$build/host/tests/unit/arch_acpi_test
if [ -x "$acpi" ]; then
  rm -rf tests/fuzz/corpus/fuzz_acpi && mkdir -p tests/fuzz/corpus/fuzz_acpi
  ACPI_FUZZ_SEEDS=tests/fuzz/corpus/fuzz_acpi "$acpi" >/dev/null
fi
