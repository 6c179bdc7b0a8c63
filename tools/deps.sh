#!/usr/bin/env bash
# tools/deps.sh: install the Debian packages the build and the tests need.
# Idempotent: asks dpkg first and only calls apt-get for what is missing.
# Usage: tools/deps.sh [extra-package ...]   (make calls it through a stamp file)
set -euo pipefail

pkgs=(
  gcc make binutils python3        # python3: image checks (tools/*.sh)
  qemu-system-x86 qemu-utils        # boot tests (TCG and KVM), later `make vhd`
  grub-pc-bin grub-common xorriso mtools   # grub-mkrescue ISO
  newlib-source                     # the kernel's C library, built by tools/newlib.sh
  libcmocka-dev                     # host unit tests
  clang libclang-rt-14-dev          # sanitizers and libFuzzer (later issues)
  clang-format cppcheck valgrind    # make lint
  iproute2 iputils-ping arping      # network-namespace tests (tests/netns)
  tshark                            # decode --pcap captures (tests/sim, tests/netns)
  libpcap-dev                       # the --pcap capture writer (host/netpcap.c)
  dnsmasq-base                      # a DHCP server nobody here wrote (tests/netns)
  acpica-tools                      # iasl: hvhost's DSDT (host/acpi_dsdt.asl)
  linux-source-6.1 bc flex bison libelf-dev   # make linux-peer (the Linux guest tier)
)
pkgs+=("$@")

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: missing Debian packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=sudo
  else
    echo "deps: not root and no password-less sudo: install them yourself with" >&2
    echo "      apt-get install ${missing[*]}" >&2
    exit 1
  fi
else
  SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
t0=$(date +%s)
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: installed ${#missing[@]} package(s) in $(( $(date +%s) - t0 )) s"
