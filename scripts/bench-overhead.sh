#!/usr/bin/env bash
# Measures ktest's overhead over plain `go test` (and over gotestsum) on the
# same packages with -count=1. The commands run alternately, round by round,
# in a rotating order, so that a noisy machine slows all of them alike; the
# script reports the median wall time of each and the median ratios.
#
# usage: scripts/bench-overhead.sh [ROUNDS] [PACKAGES...]
#   ROUNDS defaults to 15; PACKAGES default to ./runner ./internal/...
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-15}
shift || true
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./runner ./internal/...)

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/ktest" ./cmd/ktest
GOBIN="$bin" go install gotest.tools/gotestsum@v1.13.0
# Warm the build cache so every command measures running tests, not compiling.
go test -count=1 "${pkgs[@]}" >/dev/null

names=(go ktest gotestsum)
run_one() {
  case $1 in
    go) go test -count=1 "${pkgs[@]}" ;;
    ktest) "$bin/ktest" -count=1 "${pkgs[@]}" ;;
    gotestsum) "$bin/gotestsum" --format standard-quiet -- -count=1 "${pkgs[@]}" ;;
  esac >/dev/null 2>&1 || true
}

declare -A times
for ((r = 0; r < rounds; r++)); do
  for ((k = 0; k < 3; k++)); do
    name=${names[$(((r + k) % 3))]}
    start=$(date +%s%N)
    run_one "$name"
    end=$(date +%s%N)
    times[$name]+="$(((end - start) / 1000)) "
  done
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# ratios per round, then their median: robust against drift over the run
ratio_median() {
  paste -d' ' <(echo "${times[$1]}" | tr ' ' '\n' | grep .) <(echo "${times[$2]}" | tr ' ' '\n' | grep .) |
    awk '{print $1/$2}' | sort -g | awk '{a[NR]=$1} END {printf "%.3f", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'
}

echo "packages: ${pkgs[*]}  rounds: $rounds"
for n in "${names[@]}"; do
  printf '%-10s median %6.1f ms\n' "$n" "$(echo "${times[$n]}" | median | awk '{print $1/1000}')"
done
echo "ktest/go test     median ratio: $(ratio_median ktest go)"
echo "ktest/gotestsum   median ratio: $(ratio_median ktest gotestsum)"
