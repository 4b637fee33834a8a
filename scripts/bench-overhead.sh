#!/usr/bin/env bash
# Measures ktest's overhead over plain `go test` on the same packages with
# -count=1, by default and with -v (where ktest renders go's output from
# the -json stream and buffers it per package). Each comparison is an A/B
# pair run back to back, in alternating order, round after round, so that
# a noisy machine slows both alike; the script reports the median wall
# time of each command and the median of the per-round ratios. The goal
# (issue 10) is at most 1.02 for ktest/go test.
#
# GOTESTSUM=1 adds the pair ktest/gotestsum; BASELINE=REV (a git revision,
# e.g. main) the pair ktest/the ktest of REV, to show what a change costs.
#
# usage: [GOTESTSUM=1] [BASELINE=REV] scripts/bench-overhead.sh [ROUNDS] [PACKAGES...]
#   ROUNDS defaults to 15; PACKAGES default to ./internal/...
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=${1:-15}
shift || true
pkgs=("$@")
[ ${#pkgs[@]} -gt 0 ] || pkgs=(./internal/...)

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/ktest" ./cmd/ktest
[ -z "${GOTESTSUM:-}" ] || GOBIN="$bin" go install gotest.tools/gotestsum@v1.13.0
pairs=("ktest go" "ktest-v go-v")
if [ -n "${GOTESTSUM:-}" ]; then
  pairs+=("ktest gotestsum")
fi
if [ -n "${BASELINE:-}" ]; then
  mkdir "$bin/base"
  git archive "$BASELINE" | tar -x -C "$bin/base"
  (cd "$bin/base" && go build -o "$bin/ktest-base" ./cmd/ktest)
  pairs+=("ktest ktest-base")
fi
# Warm the build cache so every command measures running tests, not compiling.
go test -count=1 "${pkgs[@]}" >/dev/null 2>&1 || true
export KTEST_ON_NO_KVM=${KTEST_ON_NO_KVM:-skip}
sidecars="$bin/sidecars"

run_one() {
  case $1 in
    go) go test -count=1 "${pkgs[@]}" ;;
    go-v) go test -count=1 -v "${pkgs[@]}" ;;
    ktest) "$bin/ktest" --sidecar-dir "$sidecars" -count=1 "${pkgs[@]}" ;;
    ktest-v) "$bin/ktest" --sidecar-dir "$sidecars" -count=1 -v "${pkgs[@]}" ;;
    ktest-base) "$bin/ktest-base" --sidecar-dir "$sidecars" -count=1 "${pkgs[@]}" ;;
    gotestsum) "$bin/gotestsum" --format standard-quiet -- -count=1 "${pkgs[@]}" ;;
  esac >/dev/null 2>&1 || true
}

time_one() {
  local start end
  start=$(date +%s%N)
  run_one "$1"
  end=$(date +%s%N)
  echo $(((end - start) / 1000))
}

declare -A times ratios
for ((r = 0; r < rounds; r++)); do
  for pair in "${pairs[@]}"; do
    read -r b a <<<"$pair"
    if ((r % 2)); then
      tb=$(time_one "$b")
      ta=$(time_one "$a")
    else
      ta=$(time_one "$a")
      tb=$(time_one "$b")
    fi
    times[$a]+="$ta "
    times[$b]+="$tb "
    ratios[$pair]+="$(awk -v x="$tb" -v y="$ta" 'BEGIN {print x/y}') "
  done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "packages: ${pkgs[*]}  rounds: $rounds"
for name in "${!times[@]}"; do
  printf '%-10s median %8.1f ms\n' "$name" "$(echo "${times[$name]}" | median | awk '{print $1/1000}')"
done | sort
for pair in "${pairs[@]}"; do
  read -r b a <<<"$pair"
  printf '%-22s median ratio: %.3f\n' "$b/$a" "$(echo "${ratios[$pair]}" | median)"
done
