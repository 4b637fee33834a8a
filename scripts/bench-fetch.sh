#!/usr/bin/env bash
# bench-fetch.sh — what `ktest kernel fetch` costs, side by side with plain
# apt-get in one run (ratios, not absolute times, carry over between
# machines). For SPEC (default 6.12), in ROUNDS alternating rounds
# (default 3), with a private cache and apt directory in a temp dir:
#
#   first fetch, index fresh:  ktest kernel fetch SPEC (download, unpack,
#                              vmlinux, modules.dep, store) vs
#                              apt-get download of the same packages
#   first fetch, cold:         the same after deleting the package lists, vs
#                              apt-get update + apt-get download
#   re-fetch of a cached kernel: ktest kernel fetch SPEC, median of 21 runs
#
# Both sides use the same private apt configuration (ktest's apt.conf).
# Needs the network to the Debian archive; downloads about 2*ROUNDS*2 times
# the kernel's packages.
set -euo pipefail
cd "$(dirname "$0")/.."
spec=${1:-6.12}
rounds=${ROUNDS:-3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/ktest" ./cmd/ktest
export XDG_CACHE_HOME=$tmp/xdg KTSTR_CACHE_DIR=$tmp/kernels CI=1
k=$tmp/ktest
apt=$XDG_CACHE_HOME/ktest/apt

"$k" kernel fetch --list --json "$spec" >"$tmp/list.json" 2>/dev/null
key=$(grep -m1 '"key":' "$tmp/list.json" | sed 's/.*"key": "\(.*\)".*/\1/')
# The first kernel's packages, as name=version.
pkgs=$(awk '/"packages": \[/{p=1} p&&/"package":/{gsub(/[",]/,"");n=$2} p&&/"version":/{gsub(/[",]/,"");print n"="$2} p&&/\]/{exit}' "$tmp/list.json")
echo "bench-fetch: $spec -> $key; packages: $(echo $pkgs)" >&2

now() { date +%s%N; }
declare -a fetch_warm apt_warm fetch_cold apt_cold
t() { local s e; s=$(now); "$@" >/dev/null 2>&1; e=$(now); echo $(((e - s) / 1000000)); }
do_fetch() { rm -rf "$KTSTR_CACHE_DIR/$key"; "$k" kernel fetch "$spec"; }
do_apt() { rm -rf "$tmp/dl"; mkdir "$tmp/dl"; (cd "$tmp/dl" && APT_CONFIG=$apt/apt.conf apt-get -q download $pkgs); }
cold() { rm -rf "$apt/lists" "$apt/index.json" "$apt"/cache/*.bin; mkdir -p "$apt/lists/partial"; }
do_apt_cold() { APT_CONFIG=$apt/apt.conf apt-get -q update && do_apt; }
for r in $(seq "$rounds"); do
  if [ $((r % 2)) = 1 ]; then
    fetch_warm+=("$(t do_fetch)"); apt_warm+=("$(t do_apt)")
    cold; fetch_cold+=("$(t do_fetch)"); cold; apt_cold+=("$(t do_apt_cold)")
  else
    apt_warm+=("$(t do_apt)"); fetch_warm+=("$(t do_fetch)")
    cold; apt_cold+=("$(t do_apt_cold)"); cold; fetch_cold+=("$(t do_fetch)")
  fi
  echo "bench-fetch: round $r: warm fetch ${fetch_warm[-1]} ms, apt-get download ${apt_warm[-1]} ms; cold fetch ${fetch_cold[-1]} ms, apt-get update+download ${apt_cold[-1]} ms" >&2
done
"$k" kernel fetch "$spec" >/dev/null 2>&1
refetch=()
for _ in $(seq 21); do
  s=$(now); "$k" kernel fetch "$spec" >/dev/null 2>&1; e=$(now); refetch+=($(((e - s) / 1000)))
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
fw=$(median "${fetch_warm[@]}"); aw=$(median "${apt_warm[@]}")
fc=$(median "${fetch_cold[@]}"); ac=$(median "${apt_cold[@]}")
rf=$(median "${refetch[@]}")
awk -v fw="$fw" -v aw="$aw" -v fc="$fc" -v ac="$ac" -v rf="$rf" -v spec="$spec" 'BEGIN {
  printf "first fetch of %s, index fresh: %d ms vs apt-get download %d ms: ratio %.2f\n", spec, fw, aw, fw / aw
  printf "first fetch of %s, cold:        %d ms vs apt-get update+download %d ms: ratio %.2f\n", spec, fc, ac, fc / ac
  printf "re-fetch of a cached kernel:    %.1f ms (median of 21)\n", rf / 1000
}'
