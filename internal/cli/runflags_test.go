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

// TestVMFlags pins --vm and its settings: defaults, units, and the errors
// for values no guest can have or a setting without --vm.
func TestVMFlags(t *testing.T) {
	for _, tc := range []struct {
		args     string
		cpus, mb int
		jobs     int
		err      string
	}{
		{args: "--vm ./...", cpus: 0, mb: 0},
		{args: "--vm --vm-cpus 4 --vm-memory 512 ./...", cpus: 4, mb: 512},
		{args: "./... --vm --vm-memory=2G --vm-jobs=3", mb: 2048, jobs: 3},
		{args: "--vm --vm-memory 768MiB", mb: 768},
		{args: "--vm --vm-memory 1gib", mb: 1024},
		{args: "--vm --vm-memory size=1048576K", mb: 1024},
		{args: "--vm-cpus 4 ./...", err: "--vm-cpus needs --vm"},
		{args: "--vm-memory 2G", err: "--vm-memory needs --vm"},
		{args: "--vm --vm-cpus 0", err: `invalid value "0" for --vm-cpus: want a number of vCPUs from 1 to 255`},
		{args: "--vm --vm-cpus two", err: `invalid value "two" for --vm-cpus`},
		{args: "--vm --vm-memory 32", err: `invalid value "32" for --vm-memory: want a size from 64 MiB`},
		{args: "--vm --vm-memory 2T", err: `invalid value "2T" for --vm-memory`},
		{args: "--vm --vm-memory -1G", err: `invalid value "-1G" for --vm-memory`},
		{args: "--vm --vm-memory 2000G", err: `invalid value "2000G" for --vm-memory`},
		{args: "--vm --vm-jobs 0", err: `invalid value "0" for --vm-jobs: want a number of guests from 1 to 1024`},
		{args: "-vm ./...", err: "ktest flags take two dashes: use --vm"},
		{args: "--vm --vm-cpus", err: "--vm-cpus needs a value"},
	} {
		f := newRunFlags()
		err := f.parse(strings.Fields(tc.args))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.args, err)
			continue
		}
		vm := f.opts.VM
		if vm == nil || vm.CPUs != tc.cpus || vm.MemoryMB != tc.mb || vm.Jobs != tc.jobs {
			t.Errorf("%s: VM = %+v, want cpus %d, memory %d, jobs %d", tc.args, vm, tc.cpus, tc.mb, tc.jobs)
		}
		if slices.Contains(f.opts.GoArgs, "--vm") {
			t.Errorf("%s: --vm reached go: %q", tc.args, f.opts.GoArgs)
		}
	}
	if f := newRunFlags(); f.parse([]string{"./..."}) != nil || f.opts.VM != nil {
		t.Errorf("without --vm: VM = %+v", f.opts.VM)
	}
}
