#!/bin/sh
# fetch-kernel.sh — put the distribution's VM kernel into ktest's kernel cache.
#
# On Debian it takes linux-image-cloud-<arch>, on Ubuntu linux-image-kvm (else
# linux-image-virtual): it resolves the meta-package to the versioned image
# package it depends on (e.g. linux-image-6.1.0-56-cloud-amd64 = 6.1.192-2),
# downloads that .deb with apt-get download (no installation, nothing outside
# a temporary directory), extracts /boot/vmlinuz-* with dpkg-deb -x and runs
#
#     ktest kernel add vmlinuz --key <release>-deb-<package version> --version <release>
#
# Idempotent: the key names the exact package version, so when
# `ktest kernel path <key>` already finds it, nothing is downloaded. A newer
# package makes a new entry; `ktest kernel clean --keep 1` drops older ones.
#
# The cache is ktest's (KTSTR_CACHE_DIR, else $XDG_CACHE_HOME/ktstr/kernels,
# else $HOME/.cache/ktstr/kernels). ktest is $KTEST when set (a command,
# e.g. KTEST=ktest or KTEST="go run ./cmd/ktest"), else built from this
# repository with `go build` into the temporary directory.
#
# apt-get update runs only when the package lists lack the kernel packages
# or a download fails (stale lists), and only as root; otherwise the script
# says what to run. Exit status: 0 done (or already cached), 1 failed,
# 2 unsupported system (with instructions).
set -eu

prog=fetch-kernel
say() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() { say "error: $*"; exit 1; }

usage() {
	sed -n '2,/^set -eu/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

case "${1:-}" in
-h | --help) usage; exit 0 ;;
"") ;;
*) say "error: unknown argument '$1' (fetch-kernel.sh takes none; see --help)"; exit 1 ;;
esac

unsupported() {
	say "$1"
	cat >&2 <<'EOF'
fetch-kernel: this script knows Debian and Ubuntu (apt). Elsewhere, add a kernel yourself:
  - your distribution's kernel, if readable:   ktest kernel add /boot/vmlinuz-$(uname -r)
  - or one you built:                          make -C linux bzImage && ktest kernel add linux/arch/x86/boot/bzImage
  - or point a run at an image without caching: KTSTR_TEST_KERNEL=/path/to/bzImage ktest ./...
EOF
	exit 2
}

# --- which distribution and package -----------------------------------------
[ -r /etc/os-release ] || unsupported "no /etc/os-release: cannot tell which distribution this is"
os_id=$(. /etc/os-release && printf '%s' "${ID:-}")
os_like=$(. /etc/os-release && printf '%s' "${ID_LIKE:-}")
for tool in apt-get apt-cache dpkg dpkg-deb; do
	command -v "$tool" >/dev/null 2>&1 || unsupported "$tool not found (ID=$os_id)"
done
arch=$(dpkg --print-architecture)

case "$os_id" in
debian) metas="linux-image-cloud-$arch" ;;
ubuntu) metas="linux-image-kvm linux-image-virtual" ;;
*)
	case " $os_like " in
	*" ubuntu "*) metas="linux-image-kvm linux-image-virtual" ;;
	*" debian "*) metas="linux-image-cloud-$arch" ;;
	*) unsupported "unsupported distribution ID=$os_id" ;;
	esac
	;;
esac

# --- ktest --------------------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/fetch-kernel.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -n "${KTEST:-}" ]; then
	ktest() { (cd "$repo" && $KTEST "$@"); }
else
	command -v go >/dev/null 2>&1 || die "no go on PATH to build ktest; install Go or set KTEST=/path/to/ktest"
	say "building ktest from $repo"
	(cd "$repo" && go build -o "$tmp/ktest" ./cmd/ktest) || die "go build ./cmd/ktest failed; set KTEST=/path/to/ktest to use an installed one"
	ktest() { "$tmp/ktest" "$@"; }
fi

# --- package lists --------------------------------------------------------------
updated=no
apt_update() {
	[ "$updated" = no ] || return 1
	updated=yes
	if [ "$(id -u)" != 0 ]; then
		die "the package lists are missing or stale; run: sudo apt-get update (then rerun this script)"
	fi
	say "running apt-get update (the package lists $1)"
	apt-get update -qq || die "apt-get update failed"
}

# show PKG: its newest candidate stanza, empty when the lists do not know it.
show() { apt-cache show --no-all-versions "$1" 2>/dev/null || true; }

find_meta() {
	for m in $metas; do
		if [ -n "$(show "$m")" ]; then
			echo "$m"
			return 0
		fi
	done
	return 1
}
meta=$(find_meta) || {
	apt_update "do not know $metas"
	meta=$(find_meta) || die "no package $metas in the configured apt sources (check /etc/apt/sources.list*)"
}

# --- versioned image package -------------------------------------------------
# Depends: linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)
# Take the first dependency (first alternative) that is an image package.
dep=$(show "$meta" | sed -n 's/^Depends: //p' | tr ',|' '\n\n' | sed 's/^ *//' |
	grep -E '^linux-image-(unsigned-)?[0-9]' | head -n 1) ||
	true
[ -n "$dep" ] || die "cannot find the image package $meta depends on (Depends: $(show "$meta" | sed -n 's/^Depends: //p'))"
pkg=${dep%% *}
ver=$(printf '%s\n' "$dep" | sed -n 's/.*(= *\([^)]*\)).*/\1/p')
[ -n "$ver" ] || ver=$(show "$pkg" | sed -n 's/^Version: //p')
[ -n "$ver" ] || die "cannot find the version of $pkg"
release=${pkg#linux-image-}
release=${release#unsigned-}
# Cache keys allow [A-Za-z0-9._+-]: an epoch's ':' and a '~' become '_'.
key="$release-deb-$(printf '%s' "$ver" | tr -c 'A-Za-z0-9._+-' '_')"
say "$meta -> $pkg $ver (key $key)"

# --- already cached? -------------------------------------------------------------
if path=$(ktest kernel path "$key" 2>/dev/null); then
	say "already cached, nothing downloaded: $path"
	printf '%s\n' "$key"
	exit 0
fi

# --- download, extract, add ----------------------------------------------------
download() {
	# As root, apt would drop to the _apt user, who cannot write into our
	# private temporary directory; download as root without the warning.
	if [ "$(id -u)" = 0 ]; then
		(cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$ver")
	else
		(cd "$tmp" && apt-get download -q "$pkg=$ver")
	fi
}
say "downloading $pkg=$ver"
if ! download >"$tmp/download.log" 2>&1; then
	cat "$tmp/download.log" >&2
	apt_update "could not serve $pkg=$ver" || die "apt-get download $pkg=$ver failed"
	download >"$tmp/download.log" 2>&1 || { cat "$tmp/download.log" >&2; die "apt-get download $pkg=$ver failed after apt-get update"; }
fi
deb=$(ls "$tmp"/*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || die "apt-get download left no .deb in $tmp"
say "downloaded $(basename "$deb") ($(du -h "$deb" | cut -f1))"

dpkg-deb -x "$deb" "$tmp/root" || die "dpkg-deb -x $deb failed"
img="$tmp/root/boot/vmlinuz-$release"
if [ ! -f "$img" ]; then
	img=$(find "$tmp/root" -type f -name 'vmlinuz*' | head -n 1)
fi
[ -n "$img" ] && [ -f "$img" ] || die "no vmlinuz in $(basename "$deb")"
say "extracted $img"

added=$(ktest kernel add "$img" --key "$key" --version "$release") || die "ktest kernel add failed"
say "added $added: $(ktest kernel path "$added")"
printf '%s\n' "$added"
