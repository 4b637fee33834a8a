#!/usr/bin/env bash
# bench-run.sh: kerneltest.Run on a trivial body against `ktest --vm` on a
# trivial test, on the same kernel in the same run (docs/spec.md §15's
# guidance: Run ≤ 1.05x --vm). Both go through ktest and go test (the
# test binary is built once, then cached); the variants alternate, and
# the ratio is of the medians of the wall-clock times.
#
#   scripts/bench-run.sh [-n ROUNDS] [-k KERNEL] [-b KTEST_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=5 kernel=6.1 ktest=
while getopts n:k:b: o; do
  case $o in
    n) rounds=$OPTARG ;;
    k) kernel=$OPTARG ;;
    b) ktest=$OPTARG ;;
    *) exit 2 ;;
  esac
done
if [ -z "$ktest" ]; then
  ktest=$(mktemp "${TMPDIR:-/tmp}/bench-run-ktest.XXXXXX")
  ktest_tmp=$ktest
  go build -o "$ktest" ./cmd/ktest
fi
export KERNELTEST_BENCH=1
# Run's boot cache persists over the rounds, as --vm's does.
KTEST_VM_CACHE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/bench-run-vmcache.XXXXXX")
export KTEST_VM_CACHE_DIR
trap 'rm -rf "$KTEST_VM_CACHE_DIR" ${ktest_tmp:+"$ktest_tmp"}' EXIT
now() { date +%s.%N; }
run_once() {
  local t0 t1
  t0=$(now)
  "$ktest" --kernel "$kernel" "$@" -count=1 ./kerneltest/ >/dev/null 2>&1 || { echo "bench-run.sh: ktest $* failed" >&2; "$ktest" --kernel "$kernel" "$@" -count=1 ./kerneltest/ >&2 || true; exit 1; }
  t1=$(now)
  echo "$t1 - $t0" | bc
}
# Warm up: build the test binary and both initramfs caches.
run_once -run '^TestBenchRunTrivial$' >/dev/null
run_once --vm -run '^TestBenchVMTrivial$' >/dev/null
a=() b=()
for _ in $(seq "$rounds"); do
  a+=("$(run_once -run '^TestBenchRunTrivial$')")
  b+=("$(run_once --vm -run '^TestBenchVMTrivial$')")
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
ma=$(median "${a[@]}") mb=$(median "${b[@]}")
echo "kerneltest.Run trivial body: ${a[*]} s (median $ma)"
echo "ktest --vm trivial test:     ${b[*]} s (median $mb)"
echo "ratio Run / --vm: $(echo "scale=3; $ma / $mb" | bc)"
