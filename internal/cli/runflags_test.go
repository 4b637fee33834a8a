package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/ktest-dev/ktest/internal/runner"
)

// FuzzRunFlagsParse checks the argument split of the run form on any
// command line: it never panics, the go test arguments keep their order and
// are taken verbatim from the command line, and no ktest flag reaches go
// unless it comes after -- or -args or is the separate value of a go flag.
func FuzzRunFlagsParse(f *testing.F) {
	for _, seed := range []string{
		"-count=1 --jsonfile out.json ./...",
		"-run --kernel ./pass",
		"./pass -v --jsonfile=x -run X --dry-run",
		"-- -count=1 --jsonfile x",
		"-count=1 -- --jsonfile x",
		"./pass -args --jsonfile x",
		"--kernel 6.1 --format testname -count=1 ./...",
		"-test.run --format -count 2",
		"./... --help",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Fields(line)
		flags := newRunFlags()
		if err := flags.parse(args); err != nil {
			return
		}
		goArgs := flags.opts.GoArgs
		// A subsequence of args, in order.
		j, first := 0, -1
		for k, a := range args {
			if j < len(goArgs) && goArgs[j] == a {
				if j == 0 {
					first = k
				}
				j++
			}
		}
		if j != len(goArgs) {
			t.Fatalf("go args %q are not a subsequence of %q", goArgs, args)
		}
		if first > 0 && slices.Contains(args[:first], "--") {
			return // a leading -- handed the rest to go verbatim
		}
		for i := 0; i < len(goArgs); i++ {
			a := goArgs[i]
			if a == "--" || a == "-args" || a == "--args" {
				break
			}
			if flags.isOwn(a) {
				t.Fatalf("ktest flag %q passed to go: %q from %q", a, goArgs, args)
			}
			if runner.TakesSeparateValue(a) {
				i++
			}
		}
	})
}
