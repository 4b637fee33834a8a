package runner

import "strings"

// goValueFlags are the go test and go build flags that take a separate
// value (`-run X`): their next argument is not a package pattern.
var goValueFlags = map[string]bool{
	// go test flags (and their test.* spellings, below)
	"bench": true, "benchtime": true, "blockprofile": true, "blockprofilerate": true,
	"count": true, "coverprofile": true, "cpu": true, "cpuprofile": true, "fuzz": true,
	"fuzzminimizetime": true, "fuzztime": true, "list": true, "memprofile": true,
	"memprofilerate": true, "mutexprofile": true, "mutexprofilefraction": true,
	"outputdir": true, "parallel": true, "run": true, "skip": true, "shuffle": true,
	"timeout": true, "trace": true, "exec": true, "o": true, "vet": true,
	"covermode": true, "coverpkg": true,
	// go build flags
	// (-buildvcs is not one: go declares it a boolean-style flag, so
	// `-buildvcs ./...` does not take ./... as its value.)
	"C": true, "p": true, "asmflags": true, "buildmode": true,
	"compiler": true, "gccgoflags": true, "gcflags": true, "installsuffix": true,
	"ldflags": true, "mod": true, "modfile": true, "overlay": true, "pgo": true,
	"pkgdir": true, "tags": true, "toolexec": true,
}

// TakesSeparateValue reports whether arg is a go test or go build flag whose
// value is the next argument: -run (or --run, -test.run) without =value.
func TakesSeparateValue(arg string) bool {
	if strings.Contains(arg, "=") {
		return false
	}
	name := flagName(arg)
	return name != "" && goValueFlags[strings.TrimPrefix(name, "test.")]
}

// goListFlags are the build flags that change which packages exist, so
// `go list` must see them too.
var goListFlags = map[string]bool{"tags": true, "mod": true, "modfile": true, "C": true, "overlay": true}

// splitGoArgs separates package patterns from flags in go test arguments.
// Patterns are the positional arguments before -args; flags keep their
// values; everything from -args on is passed to the test binary as is.
type splitGoArgs struct {
	Flags    []string // flags with their values, in order
	Patterns []string
	Tail     []string // -args and what follows
	// ListFlags are the flags go list needs to see the same packages.
	ListFlags []string
}

func splitGoTestArgs(args []string) splitGoArgs {
	var s splitGoArgs
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-args" || a == "--args" {
			s.Tail = args[i:]
			return s
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			s.Patterns = append(s.Patterns, a)
			continue
		}
		name := strings.TrimPrefix(flagName(a), "test.")
		flag := []string{a}
		if TakesSeparateValue(a) && i+1 < len(args) {
			i++
			flag = append(flag, args[i])
		}
		s.Flags = append(s.Flags, flag...)
		if goListFlags[name] {
			s.ListFlags = append(s.ListFlags, flag...)
		}
	}
	return s
}

// withPatterns rebuilds the arguments with other package patterns.
func (s splitGoArgs) withPatterns(patterns []string) []string {
	out := append([]string{}, s.Flags...)
	out = append(out, patterns...)
	return append(out, s.Tail...)
}
