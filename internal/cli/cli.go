// Package cli is ktest's command line: it splits the arguments, dispatches to
// the subcommands, and prints help. cmd/ktest calls Run and maps the error it
// returns to an exit status.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/ktest-dev/ktest/internal/preflight"
	"github.com/ktest-dev/ktest/internal/runner"
	"github.com/ktest-dev/ktest/internal/termtext"
)

// IO is where a command reads and writes.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// command is one `ktest <name>` subcommand.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdio IO) error
}

func commands() map[string]command {
	return map[string]command{
		"version": {"print ktest's version", runVersion},
		"stats":   {"statistics over run and skip sidecars", runStats},
		"kernel":  {"manage the kernel cache: list, add, fetch, rm, clean, path", runKernel},
		"locks":   {"list the cache's lockfiles and who holds them", runLocks},
		"doctor":  {"check KVM, the kernel, the cache and tools without running tests", runDoctor},
		"help":    {"print this help", func(_ context.Context, _ []string, stdio IO) error { return printRunHelp(stdio.Stdout) }},
	}
}

// Run runs ktest with args (without the program name).
func Run(ctx context.Context, args []string, stdio IO) error {
	if len(args) > 0 && args[0] == runner.VMExecCommand {
		// Hidden: go test's -exec under --vm, not a command for people.
		return runVMExec(ctx, args[1:], stdio)
	}
	if len(args) > 0 {
		cmds := commands()
		if cmd, ok := cmds[args[0]]; ok {
			return cmd.run(ctx, args[1:], stdio)
		}
		names := make([]string, 0, len(cmds))
		for name := range cmds {
			names = append(names, name)
		}
		sort.Strings(names)
		if err := subcommandTypo(ctx, args[0], names); err != nil {
			return err
		}
	}
	return runTests(ctx, args, stdio)
}

// runTests is the run form: ktest [ktest flags] [--] [go test arguments].
func runTests(ctx context.Context, args []string, stdio IO) error {
	flags := newRunFlags()
	if err := flags.parse(args); err != nil {
		return err
	}
	if flags.help {
		return printRunHelp(stdio.Stdout)
	}
	opts := flags.opts
	if err := defaultOnNoKVM(flags, &opts); err != nil {
		return err
	}
	opts.Env = os.Environ()
	opts.Argv = append([]string{"ktest"}, args...)
	// Test seam: relocate /boot and /lib/modules for kernel resolution.
	opts.Resolve.HostRoot = os.Getenv("KTEST_TEST_HOST_ROOT")
	opts.Stdout, opts.Stderr = stdio.Stdout, stdio.Stderr
	if err := fetchForRun(ctx, flags.fetch, opts, stdio.Stderr); err != nil {
		return err
	}
	_, err := runner.Run(ctx, opts)
	return err
}

func runVersion(_ context.Context, args []string, stdio IO) error {
	if len(args) > 0 {
		if isHelp(args[0]) {
			_, err := fmt.Fprint(stdio.Stdout, "usage: ktest version\n\nPrints ktest's module version, VCS revision and Go version.\n\nExamples:\n  ktest version\n\n"+exitCodeTable)
			return err
		}
		return fmt.Errorf("ktest version takes no arguments, got %s", termtext.Quote(args[0]))
	}
	_, err := fmt.Fprintln(stdio.Stdout, versionString())
	return err
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help"
}

// defaultOnNoKVM applies KTEST_ON_NO_KVM when --on-no-kvm was not given, so
// that a CI job or a machine without KVM can set the policy once.
func defaultOnNoKVM(flags *runFlags, opts *runner.Options) error {
	v := os.Getenv("KTEST_ON_NO_KVM")
	if v == "" || flags.given("on-no-kvm") {
		return nil
	}
	if !preflight.ValidOnNoKVM(v) {
		return fmt.Errorf("KTEST_ON_NO_KVM=%s: want %s", termtext.Quote(v), strings.Join(preflight.OnNoKVMPolicies, ", "))
	}
	opts.OnNoKVM = v
	return nil
}
