#!/usr/bin/env bash
# tools/check-multiboot.sh KERNEL.elf: verify the multiboot header a loader
# will find: magic and checksum in the first 8 KiB, the a.out-kludge fields
# consistent with the ELF's one loadable segment (linker.ld explains why).
set -euo pipefail
elf=${1:?usage: check-multiboot.sh kernel.elf}
python3 - "$elf" <<'PY'
import struct, sys
data = open(sys.argv[1], 'rb').read()
off = None
for o in range(0, min(len(data), 8192) - 12, 4):
    m, f, c = struct.unpack_from('<III', data, o)
    if m == 0x1BADB002 and (m + f + c) & 0xffffffff == 0:
        off = o; break
if off is None:
    sys.exit("check-multiboot: no valid multiboot header in the first 8 KiB")
flags = struct.unpack_from('<I', data, off + 4)[0]
if not flags & 0x10000:
    sys.exit("check-multiboot: a.out kludge flag (bit 16) not set")
hdr, load, load_end, bss_end, entry = struct.unpack_from('<5I', data, off + 12)
# ELF64 program headers: the PT_LOAD that holds the header.
phoff, = struct.unpack_from('<Q', data, 32)
phentsize, phnum = struct.unpack_from('<HH', data, 54)
ok = False
for i in range(phnum):
    p_type, p_flags, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz = \
        struct.unpack_from('<IIQQQQQ', data, phoff + i * phentsize)
    if p_type != 1:
        continue
    if p_vaddr <= hdr < p_vaddr + p_filesz:
        if p_offset + (hdr - p_vaddr) != off:
            sys.exit("check-multiboot: header file offset does not match its address")
        if load != p_vaddr or load_end > p_vaddr + p_filesz or bss_end < p_vaddr + p_memsz - 4096:
            sys.exit("check-multiboot: load fields disagree with the ELF segment "
                     f"(load {load:#x}-{load_end:#x} bss {bss_end:#x}; segment {p_vaddr:#x} "
                     f"filesz {p_filesz:#x} memsz {p_memsz:#x})")
        ok = True
if not ok:
    sys.exit("check-multiboot: no PT_LOAD segment holds the header")
if not (load <= entry < load_end):
    sys.exit("check-multiboot: entry outside the loaded image")
PY
