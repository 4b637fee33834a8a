package runner

import (
	"strconv"
	"strings"
)

// normaliseVerbose takes every spelling of go test's -v out of the go test
// flags (own, before -args) and turns a -test.v for the test binary (tail,
// from -args on) into -test.v=test2json. It reports whether the user asked
// for verbose output: the last -v or -test.v given wins, as it does in the
// test binary.
//
// go test -json runs each test binary with -test.v=test2json, which frames
// test2json's markers (^V) around the lines it must parse. An explicit -v
// (in Go 1.26 even a plain -v) or -test.v=true on the command line reaches
// the binary after that flag and replaces it, and test2json then reads
// unframed output: a test that prints "--- FAIL: TestX" fails in the counts,
// and output without a trailing newline hides a test's result. Without -v
// the stream is still the verbose (chatty) one, from which ktest renders
// plain or -v output itself, so nothing is lost.
func normaliseVerbose(own, tail []string) (ownOut, tailOut []string, verbose bool) {
	for i := 0; i < len(own); i++ {
		a := own[i]
		name := flagName(a)
		if name == "v" || name == "test.v" {
			if v, ok := verboseValue(a); ok {
				verbose = v
				continue
			}
		}
		ownOut = append(ownOut, a)
		// A separate value is not a flag: `-run -v` runs tests named -v.
		if !strings.Contains(a, "=") && goValueFlags[strings.TrimPrefix(name, "test.")] && i+1 < len(own) {
			i++
			ownOut = append(ownOut, own[i])
		}
	}
	for i, a := range tail {
		if i > 0 && flagName(a) == "test.v" {
			if v, ok := verboseValue(a); ok {
				verbose = v
				if v {
					tailOut = append(tailOut, "-test.v=test2json")
				}
				continue
			}
		}
		tailOut = append(tailOut, a)
	}
	return ownOut, tailOut, verbose
}

// verboseValue reads the value of a -v or -test.v flag argument: a boolean
// as strconv.ParseBool spells it, or test2json. ok is false for a value go
// would reject, which is then left for go to report.
func verboseValue(arg string) (verbose, ok bool) {
	_, value, hasValue := strings.Cut(arg, "=")
	if !hasValue {
		return true, true
	}
	if value == "test2json" {
		return true, true
	}
	v, err := strconv.ParseBool(value)
	return v, err == nil
}
