#!/bin/sh
# fetch-kernel.sh — put Debian kernels into ktest's kernel cache: a thin
# wrapper around `ktest kernel fetch SPEC...` (default SPEC: 6.1), kept for
# existing callers. Prints each kernel's cache key on stdout.
#
#     scripts/fetch-kernel.sh              # the newest 6.1.x (bookworm)
#     scripts/fetch-kernel.sh 6.1 6.12     # one key per line
#
# ktest kernel fetch resolves the SPEC against Debian's archive under a
# private apt configuration (nothing of the host's apt state is touched),
# stores the image, its vmlinux, modules (with modules.dep) and config, and
# downloads nothing when the kernel is already cached. See
# `ktest kernel fetch --help`.
#
# ktest is $KTEST when set (a command, e.g. KTEST=ktest or
# KTEST="go run ./cmd/ktest"), else built from this repository with
# `go build` into a temporary directory. Exit status: ktest's (0 done or
# already cached, 3 failed, with the reason and a hint on stderr).
set -eu

case "${1:-}" in
-h | --help)
	sed -n '2,/^set -eu/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
	exit 0
	;;
esac
[ "$#" -gt 0 ] || set -- 6.1

repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${KTEST:-}" ]; then
	exec $KTEST kernel fetch "$@"
fi
command -v go >/dev/null 2>&1 || { echo "fetch-kernel: no go on PATH to build ktest; install Go or set KTEST=/path/to/ktest" >&2; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fetch-kernel.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$repo" && go build -o "$tmp/ktest" ./cmd/ktest)
"$tmp/ktest" kernel fetch "$@"
