// Package hint attaches "what to do" lines to errors. ktest prints them as
// `  hint: ...` lines under the error (docs/spec.md §6 banners use the same form).
package hint

import "errors"

// Error is an error with hints.
type Error struct {
	Err   error
	hints []string
}

// Wrap returns err with hints attached; a nil err stays nil.
func Wrap(err error, hints ...string) error {
	if err == nil {
		return nil
	}
	return &Error{Err: err, hints: hints}
}

func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *Error) Unwrap() error { return e.Err }

// Hints returns the attached hints.
func (e *Error) Hints() []string { return e.hints }

// Of collects the hints of every error in err's tree that has any, through
// wrapping and joined (multi-)errors, in order and without duplicates.
func Of(err error) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		if h, ok := e.(interface{ Hints() []string }); ok {
			for _, s := range h.Hints() {
				if s != "" && !seen[s] {
					seen[s] = true
					out = append(out, s)
				}
			}
		}
		switch u := e.(type) {
		case interface{ WrappedErrors() []error }: // go-multierror
			for _, inner := range u.WrappedErrors() {
				walk(inner)
			}
		case interface{ Unwrap() []error }:
			for _, inner := range u.Unwrap() {
				walk(inner)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// Is reports whether any error in err's tree carries hints.
func Is(err error) bool {
	var h interface{ Hints() []string }
	return errors.As(err, &h)
}
