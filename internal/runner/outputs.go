package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ktest-dev/ktest/internal/outfile"
)

// outputs are the run's report files, --junitfile and --jsonfile, opened
// before anything runs (see internal/outfile for how each kind of path is
// written). A nil *outfile.File is an output that was not asked for.
type outputs struct {
	junit, json *outfile.File
}

// checkOutputs fails early, before anything runs or is created, when an
// output could not be written: a missing or unwritable directory, a
// directory or socket at the path. It is all a dry run does.
func checkOutputs(opts Options) error {
	for _, o := range []struct{ flag, path string }{{"--junitfile", opts.JUnitFile}, {"--jsonfile", opts.JSONFile}} {
		if o.path == "" {
			continue
		}
		if err := outfile.Check(o.path); err != nil {
			return outputError(o.flag, o.path, err)
		}
	}
	return nil
}

// openOutputs opens the outputs for real, before the tests run: a temp file
// next to a regular file (the old report stays until the run's end), the
// FIFO or device itself otherwise. A FIFO's reader is waited for until ctx
// is done (a signal) or outfile.DefaultFIFOWait has passed.
func openOutputs(ctx context.Context, opts Options) (*outputs, error) {
	outs := &outputs{}
	waiting := func(flag string) func(string, time.Duration) {
		return func(path string, limit time.Duration) {
			fmt.Fprintf(opts.Stderr, "ktest: %s %s is a FIFO: waiting up to %s for a reader\n", flag, path, limit)
		}
	}
	var err error
	if opts.JUnitFile != "" {
		if outs.junit, err = outfile.Create(ctx, opts.JUnitFile, outfile.Options{Waiting: waiting("--junitfile")}); err != nil {
			return nil, outputError("--junitfile", opts.JUnitFile, err)
		}
	}
	if opts.JSONFile != "" {
		if outs.json, err = outfile.Create(ctx, opts.JSONFile, outfile.Options{Waiting: waiting("--jsonfile")}); err != nil {
			outs.abort()
			return nil, outputError("--jsonfile", opts.JSONFile, err)
		}
	}
	return outs, nil
}

// abort drops whatever was not committed: the old reports stay.
func (o *outputs) abort() {
	if o == nil {
		return
	}
	o.junit.Abort()
	o.json.Abort()
}

// jsonWriter is the --jsonfile to copy events to, or nil.
func (o *outputs) jsonWriter() io.Writer {
	if o == nil || o.json == nil {
		return nil
	}
	return o.json // its Write bounds a FIFO whose reader stopped reading
}

// commitJSON publishes the --jsonfile.
func (o *outputs) commitJSON(opts Options) error {
	if o == nil || o.json == nil {
		return nil
	}
	if err := o.json.Commit(); err != nil {
		return outputError("--jsonfile", opts.JSONFile, err)
	}
	return nil
}

// outputError names the flag and the path: "--junitfile PATH: problem".
func outputError(flag, path string, err error) error {
	var oe *outfile.Error
	if errors.As(err, &oe) {
		return fmt.Errorf("%s %w", flag, err)
	}
	return fmt.Errorf("%s %s: %w", flag, path, err)
}
