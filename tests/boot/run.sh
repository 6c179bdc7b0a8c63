#!/usr/bin/env bash
# tests/boot/run.sh KERNEL.elf ISO: the boot tier. Boots the real kernel under
# QEMU and matches its serial log against the lines it must print, each run
# with a hard timeout:
#   - the GRUB ISO (SeaBIOS + GRUB + multiboot) under TCG
#   - the ELF through -kernel (QEMU's multiboot loader) under TCG
#   - test.fault=ud|pf|div: the exception dump, then the panic status 2
#   - the ELF under KVM (microvm) when /dev/kvm is usable, else a skip
set -uo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
elf=${1:-build/kernel.elf} iso=${2:-build/kernel.iso}
out=build/test-logs/boot
mkdir -p "$out"

# The lines every healthy boot prints (DESIGN.md, issue 2 "What it prints").
healthy=(
  '^hvkernel [0-9]+\.[0-9]+\.[0-9]+ \(build [0-9a-f]+'
  '^cpu: [A-Za-z]+'
  '^memory map \(from the loader\):'
  '^  [0-9a-f]{16}-[0-9a-f]{16} available'
  '^memory: [0-9]+ free pages \([0-9]+ MiB\), kernel image 0x100000-0x'
  '^time: TSC [0-9]+ kHz \(calibrated by '
  '^event loop: 10 ms timer fired after [0-9]+ us'
  '^Hyper-V: (not present|present)'
  '^kernel: done, exiting with status 0'
)

# run NAME WANT_STATUS ARGS... : boots with tools/qemu-run.sh, checks status.
boot() {
  local name=$1 want=$2; shift 2
  local log=$out/$name.log t0 rc ms
  t0=$(t_now_ms)
  tools/qemu-run.sh "$@" >"$log" 2>&1 </dev/null
  rc=$?
  ms=$(( $(t_now_ms) - t0 ))
  tr -d '\r' <"$log" >"$log.tmp" && mv "$log.tmp" "$log"
  LAST_MS=$ms
  if [ "$rc" -ne "$want" ]; then
    echo "  $name: exit status $rc, expected $want; serial log:"; sed 's/^/  | /' "$log" | tail -n 40
    return 1
  fi
  return 0
}

# newlib is the C library: its printf and malloc are in the image, and the
# kernel supplies exactly the system calls libc.a calls.
name=newlib-linked
syms=$(nm "$elf" | awk '{print $NF}')
missing=()
for s in _vfiprintf_r _malloc_r _free_r write sbrk read close fstat isatty lseek kill getpid _exit; do
  grep -qx -- "$s" <<<"$syms" || missing+=("$s")
done
if [ ${#missing[@]} -eq 0 ]; then t_pass $name; else t_fail $name "missing symbols: ${missing[*]}"; fi

name=iso-grub-tcg
if boot $name 0 --iso "$iso" --timeout 60 && t_expect_lines $name "$out/$name.log" "${healthy[@]}"; then
  t_pass $name "${LAST_MS} ms"
else t_fail $name "see above"; fi

# The VHD for Hyper-V Gen1 / Azure: a fixed VHD of a whole number of MiB
# (file = virtual size + the 512-byte footer), booted by SeaBIOS + GRUB.
name=vhd-format
vhd=build/kernel.vhd
if [ -f "$vhd" ]; then
  info=$(qemu-img info -f vpc "$vhd" 2>&1)
  vsize=$(qemu-img info -f vpc --output=json "$vhd" | python3 -c 'import json,sys; print(json.load(sys.stdin)["virtual-size"])')
  fsize=$(stat -c %s "$vhd")
  footer=$(tail -c 512 "$vhd" | head -c 8)
  if grep -q 'file format: vpc' <<<"$info" && [ $((vsize % 1048576)) -eq 0 ] &&
     [ "$fsize" -eq $((vsize + 512)) ] && [ "$footer" = conectix ]; then
    t_pass $name "$((vsize / 1048576)) MiB fixed"
  else t_fail $name "vpc=$(grep -c 'file format: vpc' <<<"$info") virtual=$vsize file=$fsize footer=$footer"; fi
  name=vhd-grub-tcg
  if boot $name 0 --vhd "$vhd" --timeout 60 && t_expect_lines $name "$out/$name.log" "${healthy[@]}"; then
    t_pass $name "${LAST_MS} ms"
  else t_fail $name "see above"; fi
else
  t_fail $name "$vhd was not built (make vhd)"
fi

name=elf-multiboot-tcg
if boot $name 0 --elf "$elf" --append "log=info" --timeout 30 &&
   t_expect_lines $name "$out/$name.log" "${healthy[@]}" &&
   t_expect_lines $name "$out/$name.log" '^cmdline: .*log=info'; then
  t_pass $name "${LAST_MS} ms"
else t_fail $name "see above"; fi

# Time from QEMU start to the banner under TCG, measured on the -kernel path
# by timestamping each serial line as it arrives.
name=banner-time-tcg
t0=$(t_now_ms)
first=$(tools/qemu-run.sh --elf "$elf" --timeout 30 </dev/null 2>&1 |
  while IFS= read -r l; do case "$l" in hvkernel*) echo $(( $(t_now_ms) - t0 ));; esac; done | head -n1)
if [ -n "$first" ]; then t_pass $name "banner after ${first} ms"; else t_fail $name "no banner"; fi

for f in ud pf div; do
  name=fault-$f
  case $f in
    ud) dump='^EXCEPTION #UD vector=6 ' ;;
    pf) dump='^EXCEPTION #PF vector=14 error=' ;;
    div) dump='^EXCEPTION #DE vector=0 ' ;;
  esac
  extra=()
  [ $f = pf ] && extra=('CR2=0000100000000000')
  if boot $name 2 --elf "$elf" --append "test.fault=$f" --timeout 30 &&
     t_expect_lines $name "$out/$name.log" "^test: raising a deliberate $f fault" "$dump" \
       '^  RIP=[0-9a-f]{16} CS=0008 RFLAGS=' "${extra[@]}" '^  RAX=[0-9a-f]{16} RBX=' \
       '^  R12=' '^PANIC: unhandled exception'; then
    t_pass $name
  else t_fail $name "see above"; fi
done

name=elf-microvm-kvm
if why=$(t_kvm_usable); then
  if boot $name 0 --elf "$elf" --kvm --timeout 120 && t_expect_lines $name "$out/$name.log" "${healthy[@]}"; then
    t_pass $name "${LAST_MS} ms"
  elif grep -q '^qemu-run: QEMU could not start' "$out/$name.log"; then
    # QEMU itself refused this host (its CPU model, its KVM): not the kernel's fault.
    t_skip $name "$(grep -m1 '^qemu-run: QEMU could not start' "$out/$name.log" | sed 's/^qemu-run: //')"
  else t_fail $name "see above"; fi
else
  t_skip $name "$why"
fi

t_summary boot
