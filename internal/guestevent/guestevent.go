// Package guestevent is the event stream of an in-guest test body
// (kerneltest.Run, docs/spec.md §15): the guest side of kerneltest.G writes
// one event per line on the test binary's stdout, and the host side reads
// them back and replays them onto the host's *testing.T.
//
// An event line is Prefix, the run's nonce, a colon, and one JSON object
// carrying Version. The nonce, chosen by the host per run, keeps a body's
// own output from being read as events; the prefix may follow other output
// on the same line (a body that printed no newline), and everything before
// it is ordinary output.
package guestevent

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Version is the protocol version every event carries.
const Version = "ktest.guest/1"

// Prefix starts the framing of an event line.
const Prefix = "\x1fktest-event:"

// MaxLine bounds one event line (a report value, a stack of every
// goroutine).
const MaxLine = 8 << 20

// Type says what an event is.
type Type string

// Event types.
const (
	// Log is a t.Log line (Msg, File, Line).
	Log Type = "log"
	// Error is a t.Error: the test failed and carries on.
	Error Type = "error"
	// Fatal is a t.Fatal: the test failed and stopped.
	Fatal Type = "fatal"
	// Skip is a t.Skip: the test stopped, skipped (Msg is the reason).
	Skip Type = "skip"
	// Start opens a subtest: Test is its full name, Parent its
	// parent's (a subtest's own name may hold a slash).
	Start Type = "start"
	// Done closes a test or subtest with Status.
	Done Type = "done"
	// Panic is a panic in a test's goroutine: Msg is the value, Stack
	// the goroutine's stack. The binary dies after it.
	Panic Type = "panic"
	// Report is a typed value: Key and Value (JSON).
	Report Type = "report"
	// Timeout says the body ran out of time: Msg says how long it had,
	// Stack holds every goroutine's stack.
	Timeout Type = "timeout"
)

// Status is how a test ended.
type Status string

// Statuses of a Done event.
const (
	Pass    Status = "pass"
	Fail    Status = "fail"
	Skipped Status = "skip"
)

// Event is one line of the stream.
type Event struct {
	V    string `json:"v"`
	Type Type   `json:"type"`
	// Test is the full name of the test the event belongs to, as
	// testing.T.Name gives it in the guest (the host's name too).
	Test string `json:"test"`
	// Parent is a Start's parent test.
	Parent string `json:"parent,omitempty"`
	// Msg is the message of Log, Error, Fatal, Skip, Panic and Timeout.
	Msg string `json:"msg,omitempty"`
	// File and Line are where the message was raised (base name).
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	// Stack is the stack of Panic and Timeout.
	Stack string `json:"stack,omitempty"`
	// Key and Value are a Report's.
	Key   string          `json:"key,omitempty"`
	Value json.RawMessage `json:"value,omitempty"`
	// Status is a Done's.
	Status Status `json:"status,omitempty"`
}

// EnvRun is the environment variable that makes a test binary run one
// body in the guest: its value is a Request in JSON.
const EnvRun = "KTEST_GUEST_RUN"

// Request is what the host asks of the guest test binary.
type Request struct {
	V string `json:"v"`
	// Test is the full name of the test whose kerneltest.Run body runs.
	Test string `json:"test"`
	// Nonce frames the events.
	Nonce string `json:"nonce"`
	// TimeoutMS bounds the body; 0 means none.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
}

// ParseRequest reads EnvRun's value.
func ParseRequest(s string) (Request, error) {
	var r Request
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return Request{}, fmt.Errorf("parse %s: %w", EnvRun, err)
	}
	if r.V != Version {
		return Request{}, fmt.Errorf("parse %s: %w: %q, want %q", EnvRun, ErrVersion, r.V, Version)
	}
	if r.Test == "" || !ValidNonce(r.Nonce) || r.TimeoutMS < 0 {
		return Request{}, fmt.Errorf("parse %s: a test name, a nonce and a timeout of 0 or more are needed", EnvRun)
	}
	return r, nil
}

// ErrVersion reports an event of another protocol version.
var ErrVersion = errors.New("guest event of another protocol version")

// Validate checks what every reader relies on: the version, a known type,
// a test name, and the fields the type needs.
func (e Event) Validate() error {
	if e.V != Version {
		return fmt.Errorf("%w: %q, want %q", ErrVersion, e.V, Version)
	}
	if e.Test == "" {
		return fmt.Errorf("guest event %q names no test", e.Type)
	}
	switch e.Type {
	case Log, Error, Fatal, Skip, Panic, Timeout:
	case Start:
		if e.Parent == "" || !strings.HasPrefix(e.Test, e.Parent+"/") {
			return fmt.Errorf("guest event start of %s: parent %q is not a prefix of its name", e.Test, e.Parent)
		}
	case Done:
		switch e.Status {
		case Pass, Fail, Skipped:
		default:
			return fmt.Errorf("guest event done of %s: unknown status %q", e.Test, e.Status)
		}
	case Report:
		if e.Key == "" {
			return fmt.Errorf("guest event report of %s: no key", e.Test)
		}
		if len(e.Value) == 0 || !json.Valid(e.Value) {
			return fmt.Errorf("guest event report %q of %s: the value is not JSON", e.Key, e.Test)
		}
	default:
		return fmt.Errorf("guest event of %s: unknown type %q", e.Test, e.Type)
	}
	return nil
}

// Decode parses the JSON part of an event line.
func Decode(data []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(data, &e); err != nil {
		return Event{}, fmt.Errorf("decode guest event: %w", err)
	}
	if err := e.Validate(); err != nil {
		return Event{}, fmt.Errorf("decode guest event: %w", err)
	}
	return e, nil
}

// Encode returns e's line, framed with nonce and ending in a newline, with
// the version filled in.
func Encode(nonce string, e Event) ([]byte, error) {
	e.V = Version
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode guest event: %w", err)
	}
	line := make([]byte, 0, len(Prefix)+len(nonce)+1+len(b)+1)
	line = append(line, Prefix...)
	line = append(line, nonce...)
	line = append(line, ':')
	line = append(line, b...)
	return append(line, '\n'), nil
}

// marker is what starts an event of nonce's run.
func marker(nonce string) string { return Prefix + nonce + ":" }

// ValidNonce reports whether s can frame events: non-empty, printable
// ASCII without a colon.
func ValidNonce(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r > '~' || r == ':' })
}
