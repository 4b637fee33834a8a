package resultcache

import (
	"fmt"
	"strings"
)

// cacheableFlags are the test flags whose runs may be cached: go's own
// list (cmd/go: "the flags on the command line come entirely from a
// restricted set of 'cacheable' test flags"), plus the two go test always
// adds itself. Their values are in the key.
var cacheableFlags = map[string]bool{
	"benchtime": true, "cpu": true, "list": true, "parallel": true, "run": true,
	"short": true, "skip": true, "timeout": true, "failfast": true, "v": true,
	"fullpath": true, "outputdir": true, "paniconexit0": true,
}

// outputFlags ask for files or output a replay would not produce.
var outputFlags = map[string]bool{
	"coverprofile": true, "gocoverdir": true, "cpuprofile": true, "memprofile": true,
	"memprofilerate": true, "blockprofile": true, "blockprofilerate": true,
	"mutexprofile": true, "mutexprofilefraction": true, "trace": true, "bench": true,
	"benchmem": true, "fuzz": true, "fuzzcachedir": true, "fuzzworker": true, "fuzztime": true,
	"fuzzminimizetime": true, "testlogfile": true, "artifacts": true, "shuffle": true,
}

// Bypass reports whether a run with these arguments (the test binary's,
// as go test passes them: -test.name=value) and environment may use the
// cache. When not, reason says why, for a debug line. Like go, it bypasses
// on -test.count (go's idiom -count=1 asks for a fresh run), on flags that
// ask for outputs a replay would not write (profiles, coverage, bench,
// fuzz, shuffle's random order), on GOCOVERDIR in the environment, and on
// anything else, a test's own flags included: go caches only its known
// flags, and a custom flag such as -update may write files.
func Bypass(args, env []string) (reason string, cacheable bool) {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GOCOVERDIR="); ok && v != "" {
			return "GOCOVERDIR is set: coverage data would not be replayed", false
		}
	}
	for _, arg := range args {
		name, ok := strings.CutPrefix(arg, "-test.")
		if !ok {
			return fmt.Sprintf("argument %q is not a go test flag (a test's own flags may write files)", arg), false
		}
		name, _, _ = strings.Cut(name, "=")
		switch {
		case name == "count":
			return fmt.Sprintf("%s asks for fresh runs", arg), false
		case outputFlags[name]:
			return fmt.Sprintf("%s asks for output a cached result would not replay", arg), false
		case !cacheableFlags[name]:
			return fmt.Sprintf("%s is not a cacheable flag", arg), false
		}
	}
	return "", true
}
