#!/usr/bin/env bash
# rust-virtiofsd.sh — fetches Debian trixie's Rust virtiofsd (and the
# trixie glibc it needs, which bookworm's is too old for) into DIR, and
# prints the path of a wrapper that runs it through that glibc's loader.
# test.sh passes it to the tests as KTEST_RUST_VIRTIOFSD, so that ktest's
# Rust-virtiofsd command line is exercised on a host whose own virtiofsd
# is QEMU's C one. It uses ktest's private apt configuration (made by
# `ktest kernel fetch`, so run setup.sh first) and writes only into DIR.
#
# usage: scripts/rust-virtiofsd.sh [DIR]     DIR defaults to .ktest/rust-virtiofsd
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mkdir -p "${1:-.ktest/rust-virtiofsd}" && cd "${1:-.ktest/rust-virtiofsd}" && pwd)
conf=${XDG_CACHE_HOME:-$HOME/.cache}/ktest/apt/apt.conf
[ -f "$conf" ] || { echo "rust-virtiofsd.sh: no $conf (run scripts/setup.sh first)" >&2; exit 1; }
if [ ! -x "$dir/virtiofsd" ]; then
  debs=$(mktemp -d "$dir/.debs.XXXXXX")
  trap 'rm -rf "$debs"' EXIT
  (cd "$debs" && APT_CONFIG=$conf apt-get download -q virtiofsd/trixie libc6/trixie >/dev/null)
  rm -rf "$dir/root"
  for deb in "$debs"/*.deb; do
    dpkg-deb -x "$deb" "$dir/root"
  done
  [ -x "$dir/root/usr/libexec/virtiofsd" ] || { echo "rust-virtiofsd.sh: the package has no /usr/libexec/virtiofsd" >&2; exit 1; }
  cat > "$dir/virtiofsd.tmp" <<WRAP
#!/bin/sh
exec "$dir/root/usr/lib64/ld-linux-x86-64.so.2" --library-path "$dir/root/usr/lib/x86_64-linux-gnu:/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu" "$dir/root/usr/libexec/virtiofsd" "\$@"
WRAP
  chmod +x "$dir/virtiofsd.tmp"
  mv "$dir/virtiofsd.tmp" "$dir/virtiofsd"
fi
"$dir/virtiofsd" --version >&2
echo "$dir/virtiofsd"
