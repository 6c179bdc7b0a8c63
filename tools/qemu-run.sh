#!/usr/bin/env bash
# tools/qemu-run.sh: boot the kernel under QEMU with the serial console on
# stdout and the isa-debug-exit device on port 0xf4, and exit with the
# kernel's own status (QEMU exits with (status << 1) | 1; DESIGN.md).
#   --iso FILE          boot the GRUB ISO (SeaBIOS + GRUB + multiboot), TCG
#   --vhd FILE          boot the fixed VHD (make vhd) as a disk, TCG
#   --elf FILE          boot the ELF directly with -kernel (multiboot), TCG
#   --kvm               with --elf: microvm under KVM (fast path, KVM-NOTES.md)
#   --append "ARGS"     kernel command line (--elf only; the ISO has grub.cfg)
#   --timeout SECONDS   hard limit (default 60); exit 124 on timeout
#   --machine M         with --elf under TCG: QEMU machine M (default pc; q35)
#   --no-exit-device    no isa-debug-exit (as on real Hyper-V): the kernel
#                       must end QEMU itself by ACPI power-off; exit 0 then
set -uo pipefail
mode= file= kvm=0 append= timeout=60 exitdev=1 machine=pc
while [ $# -gt 0 ]; do
  case "$1" in
    --iso) mode=iso file=$2; shift 2 ;;
    --elf) mode=elf file=$2; shift 2 ;;
    --vhd) mode=vhd file=$2; shift 2 ;;
    --kvm) kvm=1; shift ;;
    --append) append=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --no-exit-device) exitdev=0; shift ;;
    --machine) machine=$2; shift 2 ;;
    *) echo "qemu-run: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$mode" ] || { echo "usage: qemu-run.sh --iso FILE | --vhd FILE | --elf FILE [--kvm] [--append ARGS]" >&2; exit 2; }
[ -f "$file" ] || { echo "qemu-run: $file not found" >&2; exit 2; }

common=(-nographic -no-reboot -serial stdio -monitor none -m 128)
[ $exitdev = 1 ] && common+=(-device isa-debug-exit,iobase=0xf4,iosize=0x04)
if [ "$mode" = iso ]; then
  args=(-M pc -accel tcg -cpu qemu64 -cdrom "$file" -boot d "${common[@]}")
elif [ "$mode" = vhd ]; then
  args=(-M pc -accel tcg -cpu qemu64 -drive "file=$file,format=vpc" "${common[@]}")
elif [ $kvm = 1 ]; then
  # -cpu host minus arch-capabilities: on some AMD hosts QEMU aborts with
  # "failed to set MSR 0x10a" when it passes IA32_ARCH_CAPABILITIES on.
  args=(-M microvm,x-option-roms=off,pit=off,pic=off,rtc=off -accel kvm -cpu "${QEMU_KVM_CPU:-host,-arch-capabilities}"
        -kernel "$file" -append "$append" "${common[@]}")
else
  args=(-M "$machine" -accel tcg -cpu qemu64 -kernel "$file" -append "$append" "${common[@]}")
fi
qerr=$(mktemp)
trap 'rm -f "$qerr" "$qerr.banner"' EXIT
timeout --foreground "$timeout" qemu-system-x86_64 "${args[@]}" 2> >(tee "$qerr" >&2) \
  | tee >(grep -q -m1 '^hvkernel ' && touch "$qerr.banner"; cat >/dev/null)
rc=${PIPESTATUS[0]}
wait
# QEMU itself could not start the machine (a CPU model or MSR this host's
# KVM refuses, no KVM): status 125 with QEMU's own words, so a test can skip
# with the reason. Only before the kernel's banner: after it, it is ours.
if [ $rc -ne 0 ] && [ $rc -ne 124 ] && [ ! -e "$qerr.banner" ] && grep -q '^qemu-system-x86_64: ' "$qerr"; then
  echo "qemu-run: QEMU could not start: $(grep -m1 '^qemu-system-x86_64: ' "$qerr")" >&2
  exit 125
fi
if [ $exitdev = 0 ] && [ $rc -eq 0 ]; then
  # -no-reboot: a guest reset ends QEMU too; the kernel's log says which.
  echo "qemu-run: the guest powered the machine off or reset it" >&2; exit 0
fi
case $rc in
  124) echo "qemu-run: timed out after ${timeout} s" >&2; exit 124 ;;
  0) echo "qemu-run: QEMU exited without the kernel's exit port (status unknown)" >&2; exit 3 ;;
esac
if [ $((rc & 1)) -eq 1 ]; then exit $((rc >> 1)); fi
exit $rc
