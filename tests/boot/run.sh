#!/usr/bin/env bash
# tests/boot/run.sh KERNEL.elf ISO: the boot tier. Boots the real kernel under
# QEMU and matches its serial log against the lines it must print, each run
# with a hard timeout:
#   - the GRUB ISO (SeaBIOS + GRUB + multiboot) under TCG
#   - the ELF through -kernel (QEMU's multiboot loader) under TCG
#   - test.fault=ud|pf|div: the exception dump, then the panic status 2
#   - the ELF under KVM (microvm) when /dev/kvm is usable, else a skip
#   - without isa-debug-exit: the kernel ends QEMU by ACPI power-off, and
#     the VGA text screen (0xB8000, saved with pmemsave) shows the log
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

# Without isa-debug-exit (as on real Hyper-V, where port 0xf4 does nothing)
# the kernel ends QEMU itself: ACPI power-off, SLP_TYPa|SLP_EN to the
# PIIX4's PM1a_CNT (QEMU's own tables). Timed from "kernel: done" to QEMU's end.
name=acpi-poweroff-tcg
log=$out/$name.log
rm -f "$log" "$out/$name.t"
tools/qemu-run.sh --elf "$elf" --no-exit-device --timeout 30 </dev/null 2>&1 | tr -d '\r' |
  while IFS= read -r l; do
    printf '%s\n' "$l" >>"$log"
    case "$l" in "kernel: done"*) t_now_ms >"$out/$name.t" ;; esac
  done
rc=${PIPESTATUS[0]}
t_end=$(t_now_ms)
if [ "$rc" -eq 0 ] && t_expect_lines $name "$log" "${healthy[@]}" &&
   t_expect_lines $name "$log" '^acpi: RSDP at 0x[0-9a-f]+ rev [0-9]+ OEM BOCHS' '^acpi: FADT rev [0-9]+: PM1a_CNT 0x604 ' \
     '^acpi: \\_S5 SLP_TYPa 0 SLP_TYPb 0 .*power-off ready' '^acpi: powering off \(S5\)' \
     '^qemu-run: the guest powered the machine off or reset it'; then
  t_pass $name "QEMU ended $(( t_end - $(cat "$out/$name.t") )) ms after 'kernel: done'"
else t_fail $name "status $rc; $(tail -n 5 "$log" | tr '\n' '|')"; fi

# The reset path (the shutdown service's restart flag) on QEMU's q35, whose
# FADT has a RESET_REG (I/O 0xCF9, value 0xF): QEMU (-no-reboot) ends on it.
name=acpi-reset-q35-tcg
if boot $name 0 --elf "$elf" --machine q35 --no-exit-device --append "test.end=reset" --timeout 30 &&
   t_expect_lines $name "$out/$name.log" \
     '^acpi: FADT rev 3: PM1a_CNT 0x604 PM1b_CNT 0, RESET_REG io 0xcf9 value 0xf$' \
     '^kernel: done, exiting with status 0' '^acpi: resetting' &&
   ! grep -q '^acpi: powering off' "$out/$name.log"; then
  t_pass $name "${LAST_MS} ms"
else t_fail $name "see above"; fi

# The VGA text screen (what VMConnect shows): the banner and the log, with
# console=both (the default); nothing with console=serial.
name=vga-console-tcg
if tools/qemu-vga-dump.sh "$elf" "$out/$name.screen" "log=info" >"$out/$name.log" 2>&1; then
  if t_expect_lines $name "$out/$name.screen" '^hvkernel [0-9]+\.[0-9]+\.[0-9]+ \(build ' \
       '^console: serial \+ vga' '^kernel: done, exiting with status 0' '^acpi: powering off'; then
    t_pass $name "$(grep -c . "$out/$name.screen") non-empty rows"
  else t_fail $name "screen: $(head -c 300 "$out/$name.screen" | tr '\n' '|')"; fi
else
  rc=$?
  if [ $rc -eq 77 ]; then t_skip $name "$(tail -n1 "$out/$name.log")"
  else t_fail $name "tools/qemu-vga-dump.sh status $rc"; fi
fi
name=vga-console-serial-only
if tools/qemu-vga-dump.sh "$elf" "$out/$name.screen" "console=serial" >"$out/$name.log" 2>&1 &&
   ! grep -q 'hvkernel' "$out/$name.screen" && tr -d '\r' <"$out/$name.log" | grep -q '^console: serial$'; then
  t_pass $name
else t_fail $name "the screen or the serial log is not as console=serial asks"; fi

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
