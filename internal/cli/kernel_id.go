package cli

import (
	"errors"
	"flag"
)

// errEmptyKernel refuses --kernel "": an explicit kernel never falls back
// to another one (docs/spec.md §5), and an empty one names none. (An empty
// KTSTR_KERNEL is unset, by the convention for environment variables.)
var errEmptyKernel = errors.New(`--kernel "": empty kernel ID; give a path, a version (6.1) or a cache key, or leave --kernel out to let ktest find one`)

// flagGiven reports whether the flag was on the command line.
func flagGiven(set *flag.FlagSet, name string) bool {
	found := false
	set.Visit(func(fl *flag.Flag) { found = found || fl.Name == name })
	return found
}
