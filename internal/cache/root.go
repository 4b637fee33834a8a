package cache

import (
	"fmt"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Environment variables that select the cache root (docs/spec.md §7).
const (
	EnvCacheDir      = "KTSTR_CACHE_DIR"
	EnvXDGCacheHome  = "XDG_CACHE_HOME"
	EnvHome          = "HOME"
	rootSuffixKtstr  = "ktstr"
	rootSuffixKernel = "kernels"
)

// rootFixHint is appended to every HOME error: it names the variables that
// bypass HOME entirely.
const rootFixHint = "set HOME to an absolute path, or set KTSTR_CACHE_DIR (e.g. /tmp/ktstr-cache) or XDG_CACHE_HOME to an absolute directory"

// RootFromEnv resolves the kernel cache root from getenv (usually os.Getenv):
//
//  1. KTSTR_CACHE_DIR, verbatim, when non-empty (non-UTF-8 is an error);
//  2. $XDG_CACHE_HOME/ktstr/kernels when XDG_CACHE_HOME is a non-empty
//     absolute UTF-8 path (a relative value is ignored, as the XDG base
//     directory spec requires);
//  3. $HOME/.cache/ktstr/kernels, refusing a HOME that is unset or empty,
//     "/", relative or not UTF-8.
//
// A getenv function cannot tell an unset variable from an empty one, so this
// form reports both as "HOME is unset or empty"; use RootFromLookupEnv with
// os.LookupEnv to get the distinct message. Nothing is created on disk.
//
// Divergence from ktstr: ktstr uses a relative XDG_CACHE_HOME as is; ktest
// ignores it per the XDG spec and falls back to HOME.
func RootFromEnv(getenv func(string) string) (string, error) {
	return resolveRoot(func(k string) (string, bool, bool) {
		v := getenv(k)
		return v, v != "", false
	})
}

// RootFromLookupEnv is RootFromEnv with a lookup function (usually
// os.LookupEnv) so that an unset HOME and an empty HOME get distinct errors.
func RootFromLookupEnv(lookupenv func(string) (string, bool)) (string, error) {
	return resolveRoot(func(k string) (string, bool, bool) {
		v, ok := lookupenv(k)
		return v, ok, true
	})
}

// resolveRoot implements the cascade. lookup returns the value, whether the
// variable is set, and whether "set" is trustworthy (false for the getenv
// form, where empty and unset are indistinguishable).
func resolveRoot(lookup func(string) (value string, set bool, exact bool)) (string, error) {
	if dir, _, _ := lookup(EnvCacheDir); dir != "" {
		if !utf8.ValidString(dir) {
			return "", fmt.Errorf("resolve cache root: %s contains non-UTF-8 bytes (%q); ktstr and ktest require a UTF-8 cache path: set %s to a UTF-8 directory (e.g. /tmp/ktstr-cache) or unset it to fall back to XDG_CACHE_HOME/HOME",
				EnvCacheDir, dir, EnvCacheDir)
		}
		return dir, nil
	}
	base, err := userCacheHome(lookup)
	if err != nil {
		return "", fmt.Errorf("resolve cache root: %w", err)
	}
	return filepath.Join(base, rootSuffixKtstr, rootSuffixKernel), nil
}

// UserCacheHome returns the user's base cache directory by the XDG rules
// the kernel cache root follows: $XDG_CACHE_HOME when it is an absolute
// UTF-8 path (a relative one is ignored), else $HOME/.cache, refusing a
// HOME that is unset, empty, "/", relative or not UTF-8. ktest keeps its
// own state (the KVM probe cache, the private apt lists) under
// UserCacheHome/ktest. lookupenv is usually os.LookupEnv.
func UserCacheHome(lookupenv func(string) (string, bool)) (string, error) {
	return userCacheHome(func(k string) (string, bool, bool) {
		v, ok := lookupenv(k)
		return v, ok, true
	})
}

func userCacheHome(lookup func(string) (value string, set bool, exact bool)) (string, error) {
	if xdg, _, _ := lookup(EnvXDGCacheHome); xdg != "" && utf8.ValidString(xdg) && filepath.IsAbs(xdg) {
		return xdg, nil
	}
	home, set, exact := lookup(EnvHome)
	switch {
	case !exact && home == "":
		return "", fmt.Errorf("HOME is unset or empty and neither KTSTR_CACHE_DIR nor an absolute XDG_CACHE_HOME is set; %s", rootFixHint)
	case !set:
		return "", fmt.Errorf("HOME is unset and neither KTSTR_CACHE_DIR nor an absolute XDG_CACHE_HOME is set; %s", rootFixHint)
	case home == "":
		return "", fmt.Errorf("HOME is set to the empty string (often `export HOME=` in a Dockerfile or shell rc); %s", rootFixHint)
	case !utf8.ValidString(home):
		return "", fmt.Errorf("HOME contains non-UTF-8 bytes (%q); %s", home, rootFixHint)
	case strings.Trim(home, "/") == "":
		return "", fmt.Errorf("HOME is %q, so the cache would be /.cache/ktstr/kernels on the root filesystem instead of a per-user cache; %s", home, rootFixHint)
	case !filepath.IsAbs(home):
		return "", fmt.Errorf("HOME=%q is not an absolute path, so the cache would move with the working directory; %s", home, rootFixHint)
	}
	return filepath.Join(home, ".cache"), nil
}
