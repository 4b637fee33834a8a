#!/usr/bin/env bash
# test.sh — ktest's test command, the one CI runs: set the machine up
# (scripts/setup.sh: QEMU and Debian kernels 6.1 and 6.12 in the cache),
# check formatting and vet, run every test with the race detector, then run
# the examples end to end through ktest on every kernel in one run, allowing
# no skips.
set -euo pipefail
cd "$(dirname "$0")/.."

keys=$(scripts/setup.sh)
key=${keys%%$'\n'*}
# On a host without a usable /dev/kvm, guests boot under QEMU TCG.
export KTEST_ON_NO_KVM=${KTEST_ON_NO_KVM:-tcg}
ktest=$PWD/.ktest/bin/ktest

echo "== gofmt" >&2
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:" >&2
  echo "$unformatted" >&2
  exit 1
fi

echo "== go vet" >&2
go vet ./...
go vet -tags ktest_guestfail,ktest_contention ./examples/...

echo "== go line" >&2
# go.mod's go line is the lowest the code needs (vet passes at it, and
# fails one minor version lower).
scripts/check-go-line.sh

echo "== go test -race ./..." >&2
# The tests must write nothing outside their temp dirs: they run with an
# empty HOME (and no XDG_CACHE_HOME) that must still be empty afterwards.
# Go's own caches stay where they are, and its telemetry counters go to a
# config directory of their own.
kernel=$("$ktest" kernel path "$key")
# Debian's Rust virtiofsd, for the test of ktest's other virtiofsd command
# line (the host's is QEMU's C one); a fetch failure only skips that test.
rust_virtiofsd=$(scripts/rust-virtiofsd.sh) || {
  echo "test.sh: notice: could not fetch the Rust virtiofsd; TestRustVirtiofsd will skip" >&2
  rust_virtiofsd=
}
sentinel=$(mktemp -d "${TMPDIR:-/tmp}/ktest-test-home.XXXXXX")
goconfig=$(mktemp -d "${TMPDIR:-/tmp}/ktest-test-goconfig.XXXXXX")
# kerneltest.Run's boot cache (the examples' guests) goes to a temp dir too.
vmcache=$(mktemp -d "${TMPDIR:-/tmp}/ktest-test-vmcache.XXXXXX")
trap 'rm -rf "$sentinel" "$goconfig" "$vmcache"' EXIT
env -u XDG_CACHE_HOME -u KTSTR_CACHE_DIR HOME="$sentinel" XDG_CONFIG_HOME="$goconfig" \
  GOCACHE="$(go env GOCACHE)" GOMODCACHE="$(go env GOMODCACHE)" GOPATH="$(go env GOPATH)" \
  KTEST_VM_CACHE_DIR="$vmcache" KTEST_RUST_VIRTIOFSD="$rust_virtiofsd" KTSTR_TEST_KERNEL="$kernel" go test -race -count=1 -timeout 25m -skip '^TestRealArchiveKernels$' ./...
# The real-archive fetch test (Debian 6.1, 6.12 and 7.2 fetched, booted, a
# module loaded in each) without the race detector, which would multiply
# its xz decoding time; the fetch code runs under -race in the hermetic
# scripts above.
env -u XDG_CACHE_HOME -u KTSTR_CACHE_DIR HOME="$sentinel" XDG_CONFIG_HOME="$goconfig" \
  GOCACHE="$(go env GOCACHE)" GOMODCACHE="$(go env GOMODCACHE)" GOPATH="$(go env GOPATH)" \
  KTEST_REQUIRE_ARCHIVE=1 go test -count=1 -run '^TestRealArchiveKernels$' ./internal/kernelfetch/
if [ -n "$(ls -A "$sentinel")" ]; then
  echo "test.sh: the tests wrote into HOME ($sentinel):" >&2
  find "$sentinel" >&2
  exit 1
fi

# One run over every kernel: a pass per kernel, each under its own lock.
kernels=()
for k in $keys; do
  kernels+=(--kernel "$k")
done
echo "== ktest ${kernels[*]} ./examples/... (no skips allowed)" >&2
"$ktest" "${kernels[@]}" --max-skip-rate 0 -count=1 ./examples/...
