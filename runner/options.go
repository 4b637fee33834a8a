// Package runner runs `go test -json` as a child process for ktest: it builds
// the command, runs it in its own process group, streams its events through
// gotestsum's testjson to the chosen format, writes the JSON and JUnit files,
// forwards signals, and summarises the run.
package runner

import (
	"io"
	"time"
)

// DefaultGracePeriod is how long the go test process group gets to exit after
// ktest forwards SIGINT or SIGTERM before the whole group is killed.
const DefaultGracePeriod = 10 * time.Second

// Options configure one run of go test. The zero value is not usable: GoArgs
// may be empty, but Stdout and Stderr must be set.
type Options struct {
	// GoArgs are the go test arguments, passed verbatim after `go test -json`.
	GoArgs []string
	// Format is a gotestsum format name; "" picks the plain go test look
	// (standard-quiet, or standard-verbose when GoArgs hold -v).
	Format string
	// JUnitFile and JSONFile, when set, receive the JUnit XML report and the
	// raw test2json events.
	JUnitFile string
	JSONFile  string
	// GracePeriod bounds the wait after a forwarded signal; 0 means
	// DefaultGracePeriod.
	GracePeriod time.Duration
	// DryRun prints the command and environment instead of running them.
	DryRun bool
	// Env is the process environment as KEY=VALUE (os.Environ() in
	// production); Getenv-style lookups read it so tests can inject values.
	Env []string
	// Dir is the working directory for go test ("" = current directory).
	Dir string

	Stdout io.Writer
	Stderr io.Writer
}

func (o Options) gracePeriod() time.Duration {
	if o.GracePeriod > 0 {
		return o.GracePeriod
	}
	return DefaultGracePeriod
}
