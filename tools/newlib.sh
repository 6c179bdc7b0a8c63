#!/usr/bin/env bash
# tools/newlib.sh OUTDIR: build newlib (Debian's newlib-source) for x86_64-elf
# with the host toolchain, nano formatted I/O and nano malloc, no red zone, no
# supplied syscalls (the kernel provides them: arch/x86_64/syscalls.c).
# Nano printf knows no %ll or %z: kernel code prints 64-bit values with %l
# (long is 64-bit on x86_64) and sizes as (unsigned long) with %lu.
# Result: OUTDIR/install/x86_64-elf/{include,lib/libc.a}. Takes 1-3 minutes.
set -euo pipefail
out=$(realpath -m "${1:?usage: tools/newlib.sh OUTDIR}")
tarball=$(ls /usr/src/newlib/newlib-*.tar.* 2>/dev/null | head -n1 || true)
if [ -z "$tarball" ]; then
  echo "newlib: no tarball under /usr/src/newlib (is newlib-source installed?)" >&2
  exit 1
fi
t0=$(date +%s)
rm -rf "$out/src" "$out/obj" "$out/install"
mkdir -p "$out/src" "$out/obj"
tar -xf "$tarball" -C "$out/src"
srcdir=$(find "$out/src" -mindepth 1 -maxdepth 1 -type d | head -n1)
echo "newlib: building $(basename "$tarball") in $out (log: $out/build.log)"

# Flags for every newlib object: freestanding kernel code. -mno-red-zone
# because interrupts run on the same stack; -fno-pie/-fno-stack-protector so
# the objects link into a static, position-dependent kernel.
# -mtune-ctrl=^sse_unaligned_*_optimal and -fno-tree-*vectorize: no SSE for
# block moves, struct copies or loops (measured: pxor/movups gone). This
# machine's kvm-pvm emulates kernel-mode code and cannot execute pxor, movq
# to xmm or ldmxcsr (KVM-NOTES.md; boot failed with "emulation failure" on
# newlib's __sinit before this). SSE stays enabled for the float ABI; the
# kernel never formats floats. tools/check-no-sse.sh checks the result.
tflags="-O2 -g -mtune-ctrl=^sse_unaligned_store_optimal,^sse_unaligned_load_optimal -fno-tree-vectorize -fno-tree-slp-vectorize -ffreestanding -mno-red-zone -fno-pie -fno-stack-protector -fno-asynchronous-unwind-tables -fno-omit-frame-pointer"
(
  cd "$out/obj"
  "$srcdir/configure" --target=x86_64-elf --prefix="$out/install" \
    --disable-newlib-supplied-syscalls \
    --enable-newlib-nano-formatted-io --enable-newlib-nano-malloc \
    --disable-newlib-multithread --disable-multilib --disable-nls \
    CC_FOR_TARGET=gcc AR_FOR_TARGET=ar AS_FOR_TARGET=as LD_FOR_TARGET=ld \
    RANLIB_FOR_TARGET=ranlib NM_FOR_TARGET=nm OBJDUMP_FOR_TARGET=objdump \
    READELF_FOR_TARGET=readelf \
    CFLAGS_FOR_TARGET="$tflags"
  make -j"$(nproc)" all-target-newlib
  make install-target-newlib
) >"$out/build.log" 2>&1 || { echo "newlib: build failed, last lines of $out/build.log:" >&2; tail -n 30 "$out/build.log" >&2; exit 1; }
lib="$out/install/x86_64-elf/lib/libc.a"
[ -f "$lib" ] || { echo "newlib: $lib missing after build" >&2; exit 1; }
echo "newlib: built in $(( $(date +%s) - t0 )) s: $lib"
