package skipreport

import (
	"fmt"
	"slices"
)

// Bounds on the numbers a run.json may hold. A file that breaks them was
// not written by ktest (or was damaged): stats reports it as "invalid" and
// leaves its numbers out, instead of summing them into nonsense (2^62
// passed tests made the total negative).
const (
	// maxTestCount bounds a count of tests in one run.
	maxTestCount = 1_000_000_000
	// maxRecordMS bounds a duration in one run (a package's time, a lock
	// wait): a year.
	maxRecordMS = 366 * 24 * 3600 * 1000
)

// InvalidValueError is a sidecar field whose value cannot be true.
type InvalidValueError struct {
	Field  string // JSON path, e.g. counts.passed or packages[2].elapsed_ms
	Value  int64
	Reason string
}

func (e *InvalidValueError) Error() string {
	return fmt.Sprintf("%s is %d: %s", e.Field, e.Value, e.Reason)
}

// validator is a record that can check its own values after decoding.
type validator interface{ validate() error }

// validateRecord checks v's values when it has a validate method.
func validateRecord(v any) error {
	if r, ok := v.(validator); ok {
		return r.validate()
	}
	return nil
}

// validate rejects counts and durations that cannot be true: negative ones,
// ones over maxTestCount or maxRecordMS, skips by category that add up to
// more than the skips, and a package whose passed, failed and skipped do
// not add up to its tests.
func (r *RunRecord) validate() error {
	if err := validateCounts("counts", r.Counts); err != nil {
		return err
	}
	if err := validatePackages("packages", r.Packages); err != nil {
		return err
	}
	if err := validateLock("lock", r.Lock); err != nil {
		return err
	}
	for i, k := range r.Kernels {
		at := fmt.Sprintf("kernels[%d]", i)
		if err := validateCounts(at+".counts", k.Counts); err != nil {
			return err
		}
		if err := validatePackages(at+".packages", k.Packages); err != nil {
			return err
		}
		if err := validateLock(at+".lock", k.Lock); err != nil {
			return err
		}
		if err := checkMS(at+".elapsed_ms", k.ElapsedMS); err != nil {
			return err
		}
	}
	return nil
}

// validateCounts checks counts (at names them: counts, kernels[1].counts).
func validateCounts(at string, c RunCounts) error {
	for _, f := range []struct {
		name string
		v    int
	}{{"passed", c.Passed}, {"failed", c.Failed}, {"skipped", c.Skipped}} {
		if err := checkCount(at+"."+f.name, f.v); err != nil {
			return err
		}
	}
	sum := 0
	cats := make([]string, 0, len(c.SkippedByCategory))
	for cat := range c.SkippedByCategory {
		cats = append(cats, cat)
	}
	slices.Sort(cats) // the first bad one, deterministically
	for _, cat := range cats {
		n := c.SkippedByCategory[cat]
		if err := checkCount(fmt.Sprintf("%s.skipped_by_category[%q]", at, cat), n); err != nil {
			return err
		}
		sum += n
	}
	if sum > c.Skipped {
		return &InvalidValueError{Field: at + ".skipped_by_category", Value: int64(sum),
			Reason: fmt.Sprintf("the categories add up to more than %s.skipped (%d)", at, c.Skipped)}
	}
	return nil
}

func validatePackages(at string, pkgs []PackageRecord) error {
	for i, p := range pkgs {
		at := fmt.Sprintf("%s[%d]", at, i)
		for _, f := range []struct {
			name string
			v    int
		}{{"tests", p.Tests}, {"passed", p.Passed}, {"failed", p.Failed}, {"skipped", p.Skipped}} {
			if err := checkCount(at+"."+f.name, f.v); err != nil {
				return err
			}
		}
		// Older run.json files have only tests; when the parts are
		// there, they add up to it.
		if parts := p.Passed + p.Failed + p.Skipped; parts != 0 && parts != p.Tests {
			return &InvalidValueError{Field: at + ".tests", Value: int64(p.Tests),
				Reason: fmt.Sprintf("passed + failed + skipped is %d", parts)}
		}
		if err := checkMS(at+".elapsed_ms", p.ElapsedMS); err != nil {
			return err
		}
	}
	return nil
}

func validateLock(at string, l *LockRecord) error {
	if l == nil {
		return nil
	}
	return checkMS(at+".waited_ms", l.WaitedMS)
}

func checkCount(field string, n int) error {
	switch {
	case n < 0:
		return &InvalidValueError{Field: field, Value: int64(n), Reason: "a count cannot be negative"}
	case n > maxTestCount:
		return &InvalidValueError{Field: field, Value: int64(n), Reason: fmt.Sprintf("more tests than any run has (at most %d)", maxTestCount)}
	}
	return nil
}

func checkMS(field string, ms int64) error {
	switch {
	case ms < 0:
		return &InvalidValueError{Field: field, Value: ms, Reason: "a duration cannot be negative"}
	case ms > maxRecordMS:
		return &InvalidValueError{Field: field, Value: ms, Reason: "longer than a year"}
	}
	return nil
}
