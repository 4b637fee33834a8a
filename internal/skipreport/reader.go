package skipreport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// SchemaError reports a sidecar whose schema this ktest does not know, such
// as one written by a newer ktest.
type SchemaError struct {
	Found string
	Want  string
}

func (e *SchemaError) Error() string {
	if e.Found == "" {
		return fmt.Sprintf("no \"schema\" field (want %q)", e.Want)
	}
	return fmt.Sprintf("unknown schema %q (this ktest reads %q; a newer ktest may have written it)", e.Found, e.Want)
}

// ParseRun decodes run.json.
func ParseRun(data []byte) (RunRecord, error) {
	var rec RunRecord
	return rec, parseSidecar(data, runSchemaFamily, &rec)
}

// ParseSkip decodes a skip sidecar.
func ParseSkip(data []byte) (SkipRecord, error) {
	var rec SkipRecord
	return rec, parseSidecar(data, SkipSchema, &rec)
}

// schemaAccepted reports whether a sidecar's schema found is of the schema
// family want ("ktest.run/v1"): want itself or a minor version of it
// ("ktest.run/v1.1"), which only adds fields.
func schemaAccepted(found, want string) bool {
	minor, ok := strings.CutPrefix(found, want)
	if !ok {
		return false
	}
	if minor == "" {
		return true
	}
	digits, ok := strings.CutPrefix(minor, ".")
	if !ok || digits == "" || len(digits) > 9 {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// parseSidecar checks the schema field first, so that a future schema is
// reported as such instead of as a decoding error, then decodes into v.
// want is the schema family (see schemaAccepted).
func parseSidecar(data []byte, want string, v any) error {
	var head struct {
		Schema *string `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	if head.Schema == nil || !schemaAccepted(*head.Schema, want) {
		found := ""
		if head.Schema != nil {
			found = *head.Schema
		}
		return &SchemaError{Found: found, Want: want}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode %s: %w", want, err)
	}
	return validateRecord(v)
}

// FileProblem is a sidecar file that could not be used.
type FileProblem struct {
	Path string `json:"path"`
	// Kind is "unreadable", "malformed", "unknown_schema" or "invalid"
	// (a value that cannot be true, such as a negative count).
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
}

// RunContents is what one run directory holds.
type RunContents struct {
	Dir string
	// Run is nil when run.json is missing (a run that was killed) or
	// unusable (then it is listed in Problems).
	Run      *RunRecord
	Skips    []SkipRecord
	Problems []FileProblem
}

// ReadRunDir reads run.json and every skips/*.json of a run directory.
// Unusable files are reported in Problems, never fatal.
func ReadRunDir(dir string) RunContents {
	rc := RunContents{Dir: dir}
	runPath := filepath.Join(dir, "run.json")
	if data, err := os.ReadFile(runPath); err == nil {
		if rec, err := ParseRun(data); err == nil {
			rc.Run = &rec
		} else {
			rc.Problems = append(rc.Problems, problemOf(runPath, err))
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		rc.Problems = append(rc.Problems, FileProblem{Path: runPath, Kind: "unreadable", Reason: err.Error()})
	}
	skipDir := filepath.Join(dir, "skips")
	entries, err := os.ReadDir(skipDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		rc.Problems = append(rc.Problems, FileProblem{Path: skipDir, Kind: "unreadable", Reason: err.Error()})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue // temp files of an atomic write in progress start with "."
		}
		path := filepath.Join(skipDir, name)
		data, err := os.ReadFile(path)
		if err != nil {
			rc.Problems = append(rc.Problems, FileProblem{Path: path, Kind: "unreadable", Reason: err.Error()})
			continue
		}
		rec, err := ParseSkip(data)
		if err != nil {
			rc.Problems = append(rc.Problems, problemOf(path, err))
			continue
		}
		rc.Skips = append(rc.Skips, rec)
	}
	return rc
}

func problemOf(path string, err error) FileProblem {
	var se *SchemaError
	if errors.As(err, &se) {
		return FileProblem{Path: path, Kind: "unknown_schema", Reason: err.Error()}
	}
	var ie *InvalidValueError
	if errors.As(err, &ie) {
		return FileProblem{Path: path, Kind: "invalid", Reason: err.Error()}
	}
	return FileProblem{Path: path, Kind: "malformed", Reason: err.Error()}
}
