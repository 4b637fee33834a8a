#!/usr/bin/env bash
# check-go-line.sh — go.mod's go line must be the lowest Go version this
# module's code needs, so that a user's module that imports kerneltest is
# not forced onto a newer toolchain than necessary (docs/spec.md §15).
#
# At the go line itself, go vet ./... passes (test.sh runs it): the compiler
# checks the language version and vet's stdversion analyzer checks that no
# file uses a standard-library API newer than it. This script checks the
# other direction: in a copy of the module where every file is lowered one
# minor version below the go line (a //go:build go1.N constraint lowers a
# file's language version), the compiler or vet must object. It prints what
# needs the go line, and fails when nothing does, because then the line can
# go down.
set -euo pipefail
cd "$(dirname "$0")/.."

line=$(go mod edit -json | sed -n 's/^[[:space:]]*"Go": "\([0-9.]*\)".*/\1/p')
major=${line%%.*}
rest=${line#*.}
minor=${rest%%.*}
lower="$major.$((minor - 1))"
want="$major.$minor"

copy=$(mktemp -d "${TMPDIR:-/tmp}/ktest-go-line.XXXXXX")
trap 'rm -rf "$copy"' EXIT
git ls-files -z | xargs -0 tar cf - | tar xf - -C "$copy"

# Lower every Go file: an existing constraint gets "&& go1.N", a file
# without one gets a constraint line before its package clause.
find "$copy" -name '*.go' -print0 | while IFS= read -r -d '' f; do
  if grep -q '^//go:build ' "$f"; then
    sed -i -E "0,/^\/\/go:build (.*)$/s//\/\/go:build (\1) \&\& go$lower/" "$f"
  else
    awk -v v="$lower" '!done && /^package / { print "//go:build go" v; print ""; done = 1 } { print }' "$f" >"$f.tmp"
    mv "$f.tmp" "$f"
  fi
done

out=$(cd "$copy" && go vet ./... 2>&1 || true)
needs=$(grep -E "requires go$want( |$)|go$want or later" <<<"$out" | sed "s|$copy/||" | sort -u || true)
if [ -z "$needs" ]; then
  echo "check-go-line: nothing needs go $line (go.mod); lower the go line to $lower:" >&2
  echo "$out" | head -20 >&2
  exit 1
fi
echo "check-go-line: go $line is needed by:" >&2
echo "$needs" >&2
