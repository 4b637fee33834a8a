#!/usr/bin/env bash
# setup.sh — prepare a fresh Debian or Ubuntu machine for ktest's demo and
# tests: install QEMU (and virtiofsd, for ktest --vm) when missing (with
# apt, as root; otherwise print the command), build ktest into .ktest/bin, then fetch the kernels the
# examples run on (KTEST_KERNELS, default "6.1 6.12") into the ktstr kernel
# cache with `ktest kernel fetch`, which downloads nothing for kernels
# already cached. Prints one cache key per kernel on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*" >&2; }

if ! command -v qemu-system-x86_64 >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing qemu-system-x86"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq qemu-system-x86 >/dev/null 2>&1; then
      apt-get update -qq
      apt-get install -y -qq qemu-system-x86 >/dev/null
    fi
  else
    say "QEMU is missing: run  sudo apt-get install -y qemu-system-x86  (or your distribution's qemu-system-x86 package)"
    exit 1
  fi
fi
say "$(qemu-system-x86_64 --version | head -n 1)"

# ktest --vm shares the host's files with the guest over virtio-fs. QEMU 7.2
# (Debian 12) ships the C virtiofsd in /usr/lib/qemu; later Debian releases
# package the Rust one as virtiofsd (in /usr/libexec). Without either,
# --vm packs the module into the initramfs instead.
have_virtiofsd() {
  command -v virtiofsd >/dev/null 2>&1 || [ -x /usr/lib/qemu/virtiofsd ] || [ -x /usr/libexec/virtiofsd ]
}
if ! have_virtiofsd && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  say "installing virtiofsd"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq virtiofsd >/dev/null 2>&1 || true
fi
if have_virtiofsd; then
  say "virtiofsd: $(command -v virtiofsd || ls /usr/lib/qemu/virtiofsd /usr/libexec/virtiofsd 2>/dev/null | head -n 1)"
else
  say "virtiofsd is missing: ktest --vm will pack the module into the initramfs (apt-get install virtiofsd)"
fi

# modprobe in a --vm guest is the host's (kmod), reading the binary
# indexes ktest builds once per kernel with the host's depmod.
if ! command -v depmod >/dev/null 2>&1 && ! [ -x /usr/sbin/depmod ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  say "installing kmod (depmod, modprobe)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kmod >/dev/null 2>&1 || true
fi
if ! command -v depmod >/dev/null 2>&1 && ! [ -x /usr/sbin/depmod ]; then
  say "kmod is missing: modprobe will not work in ktest --vm guests (apt-get install kmod)"
fi

bin=${KTEST_BIN_DIR:-$PWD/.ktest/bin}
mkdir -p "$bin"
go build -o "$bin/ktest" ./cmd/ktest
# shellcheck disable=SC2086 # KTEST_KERNELS is a list of SPECs
"$bin/ktest" kernel fetch ${KTEST_KERNELS:-6.1 6.12}
