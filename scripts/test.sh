#!/usr/bin/env bash
# test.sh — ktest's test command, the one CI runs: set the machine up
# (scripts/setup.sh: QEMU and a cached Debian kernel), check formatting and
# vet, run every test with the race detector, then run the examples end to
# end through ktest with the cached kernel, allowing no skips.
set -euo pipefail
cd "$(dirname "$0")/.."

key=$(scripts/setup.sh)
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

echo "== go test -race ./..." >&2
KTSTR_TEST_KERNEL=$("$ktest" kernel path "$key") go test -race -count=1 ./...

echo "== ktest ./examples/... (no skips allowed)" >&2
"$ktest" --max-skip-rate 0 -count=1 ./examples/...
