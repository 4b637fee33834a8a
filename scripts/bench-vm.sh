#!/usr/bin/env bash
# Measures `ktest --vm` against issue 12's goals, on every kernel of the
# test kernel's cache (KTSTR_TEST_KERNEL's cache, else the ktstr cache), in
# one run with the variants of each round alternated (BenchmarkVM in
# cmd/ktest/vmbench_test.go says exactly what each measures):
#
#   boot-ratio/K        ktest --vm boot to the test binary's first output
#                       over the vm package's boot (vm.Run, its q35 +
#                       bzImage QEMU line) to its guest's first line, same
#                       kernel, same machine size (2 CPUs, 1 GiB); goal
#                       <= 0.6 as boot-ratio-geomean over the kernels
#   pkg-overhead/K      a trivial package's time under ktest --vm over the
#                       engine's (vmm.Run) total for the same binary, minus
#                       1; goal <= 0.10
#   suite-boots/wall/K  a suite's sum of boots over its wall time
#   suite-boot-share/K  the same sum over the sum of its package times
#   *-min/K             boot-ratio and pkg-overhead of each variant's
#                       fastest round, which a busy machine disturbs least
#
# Runs as root (the guests' programs do). Needs QEMU and the kernels.
#
# usage: scripts/bench-vm.sh [ROUNDS]     ROUNDS defaults to 5
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-5}
export KTEST_ACCEL=${KTEST_ACCEL:-tcg}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
# One benchmark run of ROUNDS rounds (not go's b.N = 1 run, then ROUNDS).
KTEST_VM_BENCH_ROUNDS=$rounds go test -count=1 -run '^$' -bench '^BenchmarkVM$' -benchtime 1x -timeout 60m -v ./cmd/ktest | tee "$out" >&2

# The metrics, one per line, from the result line.
line=$(grep -E '^BenchmarkVM(-[0-9]+)?[[:space:]]' "$out" | tail -1)
[ -n "$line" ] || { echo "bench-vm.sh: no benchmark result (skipped?)" >&2; exit 1; }
echo "$line" | awk '{ for (i = 5; i < NF; i += 2) printf "%-40s %s\n", $(i+1), $i }'
