#!/usr/bin/env bash
# Measures ktest's peak memory against plain `go test` on a generated suite
# whose passing tests print SIZE_MB megabytes (half with fmt.Println, half
# with t.Log), by default and with -v. The peak is /usr/bin/time's maximum
# resident set size, which for a command is that of its largest process
# (ktest, go, or a test binary): wait4's rusage. The commands alternate,
# ROUNDS times, and the script reports the median peak of each and the
# median ratios to go test. The goal (issue 10) is at most 2x.
#
# Two more rows tell the parts apart: `go test -json` alone (ktest's child,
# and the floor for any go test -json wrapper), and ktest's own process,
# measured by replaying a recorded -json stream through a fake go.
#
# usage: scripts/bench-rss.sh [SIZE_MB] [ROUNDS]   (defaults: 100, 3)
set -euo pipefail
cd "$(dirname "$0")/.."

size_mb=${1:-100}
rounds=${2:-3}
[ -x /usr/bin/time ] || { echo "bench-rss: needs GNU time (apt-get install -y time)" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/ktest" ./cmd/ktest

# The suite: 4 packages of 10 tests; each test prints lines of 100 bytes.
pkgs=4 tests=10
lines=$((size_mb * 1000 * 1000 / 100 / pkgs / tests / 2))
mkdir -p "$work/suite"
printf 'module example.com/rss\n\ngo 1.22\n' >"$work/suite/go.mod"
for ((p = 0; p < pkgs; p++)); do
  dir="$work/suite/p$p"
  mkdir -p "$dir"
  {
    printf 'package p%d\n\nimport (\n\t"fmt"\n\t"strings"\n\t"testing"\n)\n\n' "$p"
    printf 'var line = strings.Repeat("x", 99)\n\n'
    for ((i = 0; i < tests; i++)); do
      printf 'func TestPrints%d(t *testing.T) {\n\tfor i := 0; i < %d; i++ {\n\t\tfmt.Println(line)\n\t}\n\tfor i := 0; i < %d; i++ {\n\t\tt.Log(line[4:])\n\t}\n}\n\n' "$i" "$lines" "$lines"
    done
  } >"$dir/p_test.go"
done

export HOME="$work/home" XDG_CACHE_HOME="$work/cache" KTEST_ON_NO_KVM=skip GOFLAGS=-mod=mod GOPROXY=off
mkdir -p "$HOME"
cd "$work/suite"
go test -count=1 ./... >/dev/null # build once: the runs measure running, not compiling

go test -count=1 -json ./... >"$work/stream.json" || true
printf '#!/bin/sh\ncat %s\n' "$work/stream.json" >"$work/replay-go"
chmod +x "$work/replay-go"

declare -A peaks
measure() { # name cmd...
  local name=$1
  shift
  /usr/bin/time -f '%M' -o "$work/rss" "$@" >/dev/null 2>"$work/stderr" || true
  peaks[$name]+="$(tail -1 "$work/rss") "
}
for ((r = 0; r < rounds; r++)); do
  measure go go test -count=1 ./...
  measure ktest "$work/ktest" --sidecar-dir "$work/sidecars" -count=1 ./...
  measure go-json go test -count=1 -json ./...
  measure go-v go test -count=1 -v ./...
  measure ktest-v "$work/ktest" --sidecar-dir "$work/sidecars" -count=1 -v ./...
  KTEST_GO="$work/replay-go" measure ktest-own "$work/ktest" --sidecar-dir "$work/sidecars" -count=1 ./...
  KTEST_GO="$work/replay-go" measure ktest-own-v "$work/ktest" --sidecar-dir "$work/sidecars" -count=1 -v ./...
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "suite: $pkgs packages printing ${size_mb} MB in all; rounds: $rounds"
for n in go go-json ktest ktest-own go-v ktest-v ktest-own-v; do
  printf '%-12s median peak RSS %7.1f MiB\n' "$n" "$(echo "${peaks[$n]}" | median | awk '{print $1/1024}')"
done
ratio() { awk -v a="$(echo "${peaks[$1]}" | median)" -v b="$(echo "${peaks[$2]}" | median)" 'BEGIN {printf "%.2f", a/b}'; }
echo "ktest/go test                  peak RSS ratio: $(ratio ktest go)"
echo "  go test -json alone/go test  peak RSS ratio: $(ratio go-json go)"
echo "  ktest's own process/go test  peak RSS ratio: $(ratio ktest-own go)"
echo "ktest -v/go test -v            peak RSS ratio: $(ratio ktest-v go-v)"
echo "  ktest's own process/go -v    peak RSS ratio: $(ratio ktest-own-v go-v)"
