#!/usr/bin/env bash
# demo.sh — the main job on a fresh machine: install QEMU and fetch a Debian
# kernel into the ktstr cache (scripts/setup.sh), then run the examples
# through ktest. They boot the kernel under QEMU (KVM when it is
# accelerated, TCG otherwise) and check what the guest reports.
set -euo pipefail
cd "$(dirname "$0")/.."

key=$(scripts/setup.sh)
# On a host without a usable /dev/kvm, guests boot under QEMU TCG.
export KTEST_ON_NO_KVM=${KTEST_ON_NO_KVM:-tcg}
echo "demo: kernel $key from the ktstr cache" >&2
exec go run ./cmd/ktest "$@" -v -count=1 ./examples/...
