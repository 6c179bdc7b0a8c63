#!/usr/bin/env bash
# tools/linux-peer.sh OUTDIR: build the Linux peer (issue 17): a minimal
# kernel from Debian's linux-source-6.1 with hv_vmbus, hv_netvsc and hv_utils
# built in (tests/linux/peer.config) and an embedded initramfs holding only
# /init (tests/linux/init.c, no system calls). Result: OUTDIR/bzImage and
# OUTDIR/vmlinux (the same kernel uncompressed: hvhost boots either, and the
# linux tier uses vmlinux because the bzImage's decompressor takes minutes
# where guest kernel mode is emulated, kvm-pvm).
#
# Cached: the build is keyed by the hash of the fragment, init.c and this
# script (OUTDIR/key); with an unchanged key it does nothing. A build takes
# minutes on two cores: a progress line every 10 s, the full log in
# OUTDIR/build.log. Nothing of Linux is committed: the source is unpacked
# from /usr/src under OUTDIR.
set -euo pipefail
out=$(realpath -m "${1:?usage: tools/linux-peer.sh OUTDIR}")
here=$(cd "$(dirname "$0")/.." && pwd)
frag="$here/tests/linux/peer.config"
initc="$here/tests/linux/init.c"
tarball=/usr/src/linux-source-6.1.tar.xz
key=$(cat "$frag" "$initc" "$0" | sha256sum | cut -c1-16)
if [ -f "$out/bzImage" ] && [ -f "$out/vmlinux" ] && [ "$(cat "$out/key" 2>/dev/null)" = "$key" ]; then
  exit 0
fi
if [ ! -f "$tarball" ]; then
  echo "linux-peer: $tarball missing (is linux-source-6.1 installed? tools/deps.sh)" >&2
  exit 1
fi
mkdir -p "$out"
log="$out/build.log"
: >"$log"
t0=$(date +%s)
src="$out/linux-source-6.1"
jobs=${LINUX_PEER_JOBS:-2}

# Progress: one line per step, and every 10 s while make runs.
step() { echo "linux-peer: [$(( $(date +%s) - t0 ))s] $*"; echo "== $*" >>"$log"; }
fail() {
  echo "linux-peer: $1 failed, last lines of $log:" >&2
  tail -n 25 "$log" >&2
  exit 1
}

if [ ! -f "$src/Makefile" ]; then
  step "unpacking $tarball"
  tar -xJf "$tarball" -C "$out" >>"$log" 2>&1 || fail "unpacking"
fi

step "building /init (static, no C library)"
gcc -static -nostdlib -O2 -fno-pie -no-pie -fno-asynchronous-unwind-tables \
  -Wl,--build-id=none -o "$out/init" "$initc" >>"$log" 2>&1 || fail "building /init"
cat >"$out/initramfs.list" <<LIST
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
file /init $out/init 0755 0 0
LIST

step "configuring: allnoconfig + tests/linux/peer.config"
{
  cat "$frag"
  echo "CONFIG_INITRAMFS_SOURCE=\"$out/initramfs.list\""
} >"$out/allno.config"
make -C "$src" ARCH=x86_64 O="$out/obj" KCONFIG_ALLCONFIG="$out/allno.config" \
  allnoconfig >>"$log" 2>&1 || fail "configuring"
make -C "$src" ARCH=x86_64 O="$out/obj" olddefconfig >>"$log" 2>&1 || fail "olddefconfig"
# Every option the fragment turns on must still be on (a missing dependency
# drops it silently).
missing=$(grep -E '^CONFIG_[A-Z0-9_]+=y' "$frag" | while read -r l; do
  grep -qx "$l" "$out/obj/.config" || echo "${l%=y}"
done)
if [ -n "$missing" ]; then
  echo "linux-peer: options of $frag not set after olddefconfig:" $missing >&2
  exit 1
fi

step "compiling (make -j$jobs bzImage; a few minutes; log: $log)"
make -C "$src" ARCH=x86_64 O="$out/obj" -j"$jobs" bzImage >>"$log" 2>&1 &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
  sleep 10
  kill -0 "$pid" 2>/dev/null || break
  last=$(grep -E '^  (CC|LD|AR|AS|GEN|HOSTCC)' "$log" | tail -n1 | sed 's/^ *//' || true)
  printf 'linux-peer: [%ss] compiling, %s objects so far: %s\n' "$(( $(date +%s) - t0 ))" \
    "$(grep -cE '^  CC ' "$log" || true)" "$last"
done
wait "$pid" || fail "compiling"
cp "$out/obj/arch/x86/boot/bzImage" "$out/bzImage"
cp "$out/obj/vmlinux" "$out/vmlinux"
echo "$key" >"$out/key"
step "done: $out/bzImage ($(stat -c %s "$out/bzImage") bytes), $out/vmlinux"
