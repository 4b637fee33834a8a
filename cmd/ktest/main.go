// Command ktest runs go test for suites that boot Linux kernels in virtual
// machines: it checks KVM, resolves and locks a kernel, exports it to the
// tests, and turns host contention or a missing kernel into labelled SKIPs.
package main

import (
	"context"
	"io"
	"os"

	"github.com/ktest-dev/ktest/internal/cli"
	"github.com/ktest-dev/ktest/internal/fdlimit"
	"github.com/ktest-dev/ktest/internal/reaper"
	"github.com/ktest-dev/ktest/internal/vminit"
)

func main() {
	if vminit.Requested() {
		// This process is the init of a --vm guest (PID 1), not a command.
		os.Exit(vminit.Main())
	}
	if reaper.Requested() {
		// This process is ktest's supervisor of go test, not a run.
		os.Exit(reaper.Main())
	}
	reaper.Enable()
	// Before anything opens a file: a limit that leaves no room for the Go
	// runtime's poller is an error here, not a runtime crash later.
	err := fdlimit.Check()
	if err == nil {
		err = run(context.Background(), os.Args[1:], os.Stdout, os.Stderr)
	}
	reportError(os.Stderr, err)
	os.Exit(exitCode(err))
}

// run is ktest without the process around it: tests call it directly.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return cli.Run(ctx, args, cli.IO{Stdin: os.Stdin, Stdout: stdout, Stderr: stderr})
}
