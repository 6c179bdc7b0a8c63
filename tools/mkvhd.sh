#!/usr/bin/env bash
# tools/mkvhd.sh KERNEL.elf GRUB.cfg OUT.vhd [SIZE_MIB]: a bootable disk for a
# Hyper-V Generation 1 VM or Azure, built without root or loop devices:
#   - an MBR with one FAT partition starting at 1 MiB (Azure wants 1 MiB
#     alignment), holding /boot/kernel.elf and /boot/grub/grub.cfg;
#   - GRUB for BIOS: boot.img's code in the MBR (the partition table kept),
#     core.img (with every module it needs, so nothing else is read) in the
#     gap after the MBR, which boot.img loads from sector 1 by default;
#   - converted to a fixed-size VHD ("vpc", subformat=fixed, force_size so
#     the virtual size stays a whole number of MiB, as Azure requires).
set -euo pipefail
elf=${1:?usage: mkvhd.sh kernel.elf grub.cfg out.vhd [size_mib]}
cfg=${2:?grub.cfg}
out=${3:?out.vhd}
size_mib=${4:-64}
grubdir=/usr/lib/grub/i386-pc
for t in grub-mkimage mformat mcopy qemu-img python3; do
  command -v $t >/dev/null || { echo "mkvhd: $t not found (tools/deps.sh installs it)" >&2; exit 1; }
done
[ -f $grubdir/boot.img ] || { echo "mkvhd: $grubdir/boot.img missing (grub-pc-bin)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
raw=$work/disk.raw part=$work/part.img
part_start=2048                                 # sectors: 1 MiB
total=$((size_mib * 2048))
part_sectors=$((total - part_start))

# core.img: everything GRUB needs to read grub.cfg and boot a multiboot
# kernel from the first partition, with the serial console.
grub-mkimage -O i386-pc -o "$work/core.img" -p '(hd0,msdos1)/boot/grub' \
  biosdisk part_msdos fat normal configfile multiboot boot serial terminal echo test
core_sectors=$(( ($(stat -c %s "$work/core.img") + 511) / 512 ))
if [ $core_sectors -ge $part_start ]; then
  echo "mkvhd: core.img ($core_sectors sectors) does not fit before the partition" >&2; exit 1
fi

truncate -s $((total * 512)) "$raw"
# MBR: boot.img's code (first 440 bytes), then one partition entry and 55AA.
python3 - "$raw" "$grubdir/boot.img" $part_start $part_sectors <<'PY'
import struct, sys
raw, boot, start, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
code = open(boot, 'rb').read()[:440]
# Partition 1: active, type 0x0e (FAT16 LBA) or 0x0c (FAT32 LBA), CHS fields
# saturated (LBA is what BIOSes and GRUB use).
ptype = 0x0e if count < 2 * 1024 * 1024 else 0x0c
entry = struct.pack('<B3sB3sII', 0x80, b'\xfe\xff\xff', ptype, b'\xfe\xff\xff', start, count)
mbr = code + struct.pack('<I', 0x48564b31) + b'\0\0' + entry + b'\0' * 48 + b'\x55\xaa'
assert len(mbr) == 512
with open(raw, 'r+b') as f:
    f.write(mbr)
PY
dd if="$work/core.img" of="$raw" bs=512 seek=1 conv=notrunc status=none

# The FAT partition, filled with mtools, then placed at 1 MiB.
truncate -s $((part_sectors * 512)) "$part"
mformat -i "$part" -T $part_sectors -h 64 -s 32 -H $part_start -v HVKERNEL ::
mmd -i "$part" ::/boot ::/boot/grub
mcopy -i "$part" "$elf" ::/boot/kernel.elf
mcopy -i "$part" "$cfg" ::/boot/grub/grub.cfg
dd if="$part" of="$raw" bs=512 seek=$part_start conv=notrunc status=none

qemu-img convert -f raw -O vpc -o subformat=fixed,force_size=on "$raw" "$out"
echo "mkvhd: $out: fixed VHD, $size_mib MiB, FAT partition at 1 MiB"
