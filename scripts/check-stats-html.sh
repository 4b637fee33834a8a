#!/usr/bin/env bash
# check-stats-html.sh: render `ktest stats --html` and look at it in a real
# headless Chromium.
#
#   scripts/check-stats-html.sh [OUT_DIR] [-- ktest stats flags...]
#
# Without stats flags it reports on the checked-in fixtures
# (internal/skipreport/testdata/stats/shard-a and shard-b: damaged files included) and
# on an empty directory. For each report it checks that
#   - the page's inline script ran to its end: it sets data-stats-ready on
#     <html> to the number of charts, seen in --dump-dom;
#   - nothing was logged to the browser console (no "Uncaught" errors);
#   - the page loads nothing from the network (no http(s) URL but the SVG
#     namespace name);
# and it keeps a 1280x1600 screenshot to look at: OUT_DIR/<name>.png.
#
# Needs chromium (Debian: apt-get install -y chromium). Runs as root, hence
# --no-sandbox. Exits 1 on a failed check, 2 when chromium is missing.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-}
[[ $# -gt 0 ]] && shift
[[ ${1:-} == "--" ]] && shift
if [[ -z $out ]]; then
	out=$(mktemp -d /tmp/ktest-stats-html.XXXXXX)
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)

chromium=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [[ -z $chromium ]]; then
	echo "check-stats-html: chromium not found; install it with: apt-get install -y chromium" >&2
	exit 2
fi

(cd "$root" && go build -o "$out/ktest" ./cmd/ktest)

fail=0
browser() { # browser PAGE ARGS...: run headless chromium on PAGE
	local page=$1
	shift
	timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$(mktemp -d "$out/profile.XXXXXX")" --enable-logging=stderr --v=0 \
		"$@" "file://$page"
}

check() { # check NAME CHARTS [ktest stats flags...]
	local name=$1 charts=$2
	shift 2
	local page="$out/$name.html"
	"$out/ktest" stats --html "$page" "$@" >"$out/$name.txt" 2>"$out/$name.stderr"
	if grep -Eo 'https?://[^"'"'"' )>]*' "$page" | grep -v '^http://www.w3.org/2000/svg$' >"$out/$name.urls"; then
		echo "FAIL $name: the page refers to the network: $(tr '\n' ' ' <"$out/$name.urls")"
		fail=1
	fi
	browser "$page" --dump-dom >"$out/$name.dom" 2>"$out/$name.console"
	if ! grep -q "data-stats-ready=\"$charts\"" "$out/$name.dom"; then
		echo "FAIL $name: the page's script did not finish (no data-stats-ready=\"$charts\" in the DOM: $out/$name.dom)"
		fail=1
	fi
	if grep -E ':CONSOLE|Uncaught' "$out/$name.console"; then
		echo "FAIL $name: the page logged to the console (above; all of it in $out/$name.console)"
		fail=1
	fi
	browser "$page" --screenshot="$out/$name.png" --window-size=1280,1600 >/dev/null 2>>"$out/$name.console"
	if [[ ! -s $out/$name.png ]]; then
		echo "FAIL $name: no screenshot"
		fail=1
	fi
	echo "checked $name: $page -> screenshot $out/$name.png"
}

if [[ $# -gt 0 ]]; then
	# The number of charts depends on the data: 2 when there are complete
	# runs with tests, so that is what a real directory is checked for.
	check report 2 "$@"
else
	fixtures="$root/internal/skipreport/testdata/stats"
	check fixtures 2 --dir "$fixtures/shard-a" --dir "$fixtures/shard-b"
	mkdir -p "$out/empty-dir"
	check empty 0 --dir "$out/empty-dir"
fi

if [[ $fail -ne 0 ]]; then
	exit 1
fi
echo "check-stats-html: all checks passed; look at the screenshots in $out"
