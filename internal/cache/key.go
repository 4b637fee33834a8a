package cache

import (
	"fmt"
	"strings"
)

// MaxKeyLen is the longest cache key ValidateKey accepts, in bytes.
const MaxKeyLen = 200

// keyForm describes the accepted key syntax; every ValidateKey error ends with
// it so the user sees what to type instead.
const keyForm = `keys must match [A-Za-z0-9._+-]{1,200}, must not start with "." or "-" and must not contain ".."`

// ValidateKey reports whether key is a valid cache key: 1 to 200 bytes from
// [A-Za-z0-9._+-], not starting with "." (reserved for bookkeeping such as
// .locks and .tmp-*) or "-" (it would read as a flag: `ktest kernel rm -x`,
// `rm -r {root}/-x` in a hint), and not containing "..". The error says what
// was wrong and restates the allowed form.
//
// Divergence from docs/spec.md §7's pattern: the leading "-" is refused (issue 9).
// Entries already on disk with such a name (made by hand or by another tool)
// are still listed, locked and removable: see validateEntryName.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("invalid cache key: the key is empty; %s", keyForm)
	}
	if len(key) > MaxKeyLen {
		return fmt.Errorf("invalid cache key %s: %d bytes long, the limit is %d; %s",
			quoteKeyPrefix(key), len(key), MaxKeyLen, keyForm)
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if isKeyByte(c) {
			continue
		}
		switch c {
		case 0:
			return fmt.Errorf("invalid cache key %q: contains a NUL byte at offset %d; %s", key, i, keyForm)
		case '/':
			return fmt.Errorf("invalid cache key %q: contains a slash at offset %d (a key names one directory, not a path); %s", key, i, keyForm)
		default:
			return fmt.Errorf("invalid cache key %q: byte %q at offset %d is not allowed; %s", key, c, i, keyForm)
		}
	}
	if key[0] == '.' {
		return fmt.Errorf("invalid cache key %q: starts with \".\" (names starting with a dot are reserved for cache bookkeeping); %s", key, keyForm)
	}
	if key[0] == '-' {
		return fmt.Errorf("invalid cache key %q: starts with \"-\", so it would read as a command-line flag; %s", key, keyForm)
	}
	if strings.Contains(key, "..") {
		return fmt.Errorf("invalid cache key %q: contains \"..\"; %s", key, keyForm)
	}
	return nil
}

func isKeyByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	case c == '.', c == '_', c == '+', c == '-':
		return true
	}
	return false
}

// quoteKeyPrefix quotes at most the first 40 bytes of an over-long key so an
// error message stays one readable line.
func quoteKeyPrefix(key string) string {
	const show = 40
	if len(key) <= show {
		return fmt.Sprintf("%q", key)
	}
	return fmt.Sprintf("%q...", key[:show])
}

// validateEntryName is the looser check Remove and Clean apply to directory
// names found on disk: anything List can show (a non-dot name with no slash or
// NUL) can be removed, even if ktstr or a human created it with a name that
// ValidateKey would refuse for a new entry.
func validateEntryName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("invalid cache entry name: the name is empty")
	case strings.HasPrefix(name, "."):
		return fmt.Errorf("invalid cache entry name %q: starts with \".\" (reserved for cache bookkeeping)", name)
	case strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("invalid cache entry name %q: contains a slash or NUL byte", name)
	case len(name) > 250:
		return fmt.Errorf("invalid cache entry name %s: %d bytes long, the limit is 250", quoteKeyPrefix(name), len(name))
	}
	return nil
}
