package runner

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/ktest-dev/ktest/internal/shellword"
)

// goCommand is the go test invocation ktest will run.
type goCommand struct {
	// Path is the resolved go binary.
	Path string
	// Args are the arguments after the binary: test -json <user args>.
	Args []string
	// RawJSON is true when the user asked for -json themselves: the raw
	// test2json stream then goes to stdout unchanged.
	RawJSON bool
	// Verbose is true when the user passed -v (which is not passed on).
	Verbose bool
}

// lookupGo finds the go binary: KTEST_GO when set (a path, or a name looked up
// on PATH), else "go" on PATH, the way a shell would find it.
func lookupGo(env []string) (string, error) {
	name := envValue(env, "KTEST_GO")
	from := "KTEST_GO"
	if name == "" {
		name, from = "go", "PATH"
	}
	path, err := exec.LookPath(name)
	if err == nil {
		return path, nil
	}
	if errors.Is(err, exec.ErrDot) {
		return "", fmt.Errorf("find go: %q resolves to the current directory through PATH, which ktest refuses; use an absolute path in KTEST_GO", name)
	}
	if from == "KTEST_GO" {
		return "", fmt.Errorf("find go: KTEST_GO=%q is not an executable (%v); fix KTEST_GO or unset it to use go from PATH", name, unwrapExecError(err))
	}
	return "", fmt.Errorf("find go: no go command on PATH; install Go (https://go.dev/dl) or set KTEST_GO=/path/to/go")
}

func unwrapExecError(err error) error {
	var e *exec.Error
	if errors.As(err, &e) {
		return e.Err
	}
	return err
}

// buildGoCommand assembles `go test -json <args>`. A -json the user passed is
// not repeated, but remembered so the raw stream is passed through.
func buildGoCommand(goPath string, userArgs []string) goCommand {
	c := goCommand{Path: goPath, Args: []string{"test", "-json"}}
	own := goTestFlags(userArgs)
	for _, a := range own {
		if flagName(a) == "json" && flagBoolValue(a) {
			c.RawJSON = true
		}
	}
	// -v is taken out and rendered by ktest (see normaliseVerbose).
	own, tail, verbose := normaliseVerbose(own, userArgs[len(own):])
	c.Verbose = verbose
	// Only go test's own -json is dropped: after -args the arguments
	// belong to the test binary and pass through verbatim.
	for _, a := range own {
		if isFlag(a, "json") {
			continue
		}
		c.Args = append(c.Args, a)
	}
	c.Args = append(c.Args, tail...)
	return c
}

// goTestFlags returns the arguments that go test would read as its own flags:
// everything before -args (after -args they belong to the test binary).
func goTestFlags(args []string) []string {
	for i, a := range args {
		if a == "-args" || a == "--args" {
			return args[:i]
		}
	}
	return args
}

// flagName returns the name of a -flag or --flag argument, without its value.
func flagName(arg string) string {
	if !strings.HasPrefix(arg, "-") || arg == "-" || arg == "--" {
		return ""
	}
	name := strings.TrimPrefix(strings.TrimPrefix(arg, "-"), "-")
	if i := strings.IndexByte(name, '='); i >= 0 {
		name = name[:i]
	}
	return name
}

// flagBoolValue reports the value of a boolean flag argument: true unless it
// is written -name=false (or 0, f, F, FALSE, False).
func flagBoolValue(arg string) bool {
	i := strings.IndexByte(arg, '=')
	if i < 0 {
		return true
	}
	switch arg[i+1:] {
	case "false", "0", "f", "F", "FALSE", "False":
		return false
	}
	return true
}

func isFlag(arg, name string) bool {
	return flagName(arg) == name
}

// String renders the command as a shell would need to see it.
func (c goCommand) String() string {
	parts := []string{shellword.Quote(c.Path)}
	for _, a := range c.Args {
		parts = append(parts, shellword.Quote(a))
	}
	return strings.Join(parts, " ")
}
