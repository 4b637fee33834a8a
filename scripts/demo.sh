#!/usr/bin/env bash
# demo.sh — the main job on a fresh machine: install QEMU and fetch Debian
# kernels 6.1 and 6.12 into the ktstr cache (scripts/setup.sh), then run the
# examples through ktest on each, in one run. They boot the kernel under QEMU (KVM when
# it is accelerated, TCG otherwise) and check what the guest reports.
set -euo pipefail
cd "$(dirname "$0")/.."

keys=$(scripts/setup.sh)
# On a host without a usable /dev/kvm, guests boot under QEMU TCG.
export KTEST_ON_NO_KVM=${KTEST_ON_NO_KVM:-tcg}
# One run, a pass per kernel (--kernel repeated), each under its own lock.
kernels=()
for key in $keys; do
  echo "demo: kernel $key from the ktstr cache" >&2
  kernels+=(--kernel "$key")
done
"${KTEST_BIN_DIR:-$PWD/.ktest/bin}/ktest" "${kernels[@]}" "$@" -v -count=1 ./examples/...
