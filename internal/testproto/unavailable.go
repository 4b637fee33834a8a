package testproto

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Unavailable is why the tests of a run get no kernel: ktest's run-level
// SKIP, handed to every test that asks for a kernel. ktest exports it twice:
// as KTEST_UNAVAILABLE, "<category>: <reason>" (Text), which every version
// of ktest writes and every version of kerneltest reads, and as
// KTEST_UNAVAILABLE_JSON (JSON), which carries the errno and hints too, so
// that no reader has to find them in the text.
type Unavailable struct {
	Category Category `json:"category"`
	Reason   string   `json:"reason"`
	// Errno is the symbolic errno ("EBUSY") when a system call said why,
	// else "".
	Errno string `json:"errno,omitempty"`
	// Hints say what to do, one line each, as under the SKIP banner.
	Hints []string `json:"hints,omitempty"`
}

// noReason stands in for a reason ktest left empty.
const noReason = "ktest reported the kernel unavailable without a reason"

// Text is the KTEST_UNAVAILABLE form: "<category>: <reason>".
func (u Unavailable) Text() string { return string(u.Category) + ": " + u.Reason }

// JSON is the KTEST_UNAVAILABLE_JSON form: one line of JSON.
func (u Unavailable) JSON() string {
	data, err := json.Marshal(u)
	if err != nil {
		panic(err) // strings and a slice of strings always encode
	}
	return string(data)
}

// ParseUnavailableJSON reads the KTEST_UNAVAILABLE_JSON form. Fields it
// does not know are ignored (a newer minor version may add some); a value
// that is not a JSON object, lacks a category, or has a category or errno
// of the wrong shape is an error saying so.
func ParseUnavailableJSON(text string) (Unavailable, error) {
	var u Unavailable
	if err := json.Unmarshal([]byte(text), &u); err != nil {
		return Unavailable{}, fmt.Errorf("not the JSON object of docs/spec.md §9: %w", err)
	}
	if !isCategory(string(u.Category)) {
		return Unavailable{}, fmt.Errorf("category %q is not a SKIP category (a lower-case word such as %q)", u.Category, NoKernel)
	}
	if u.Errno != "" && !isErrnoName(u.Errno) {
		return Unavailable{}, fmt.Errorf("errno %q is not an errno name (such as \"EBUSY\")", u.Errno)
	}
	u.Reason = strings.TrimSpace(u.Reason)
	if u.Reason == "" {
		u.Reason = noReason
	}
	hints := u.Hints[:0]
	for _, h := range u.Hints {
		if h = strings.TrimSpace(h); h != "" {
			hints = append(hints, h)
		}
	}
	u.Hints = hints
	if len(u.Hints) == 0 {
		u.Hints = nil
	}
	return u, nil
}

// ParseUnavailableText reads the KTEST_UNAVAILABLE form, "<category>:
// <reason>", which ktest always writes with both parts. Text without a
// category (someone set the variable by hand) is taken as a no-kernel
// reason, since the variable's one meaning is "there is no kernel for
// you". The text form has no errno and no hints. The reason is never
// empty.
func ParseUnavailableText(text string) Unavailable {
	text = strings.TrimSpace(text)
	cat, reason, ok := strings.Cut(text, ":")
	if !ok || !isCategory(cat) || (reason != "" && !strings.ContainsAny(reason[:1], " \t\n\r")) {
		if text == "" {
			text = noReason
		}
		return Unavailable{Category: NoKernel, Reason: text}
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		reason = noReason
	}
	return Unavailable{Category: Category(cat), Reason: reason}
}

// isCategory reports whether s has the shape of a SKIP category: a lower
// case word of letters, digits and dashes, starting with a letter, at most
// 32 bytes, as "no-kernel". Categories this build does not know are
// accepted (a newer ktest may add some; they count as themselves).
func isCategory(s string) bool {
	if s == "" || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// isErrnoName reports whether s looks like a symbolic errno: "E" and up to
// 31 upper-case letters and digits.
func isErrnoName(s string) bool {
	if len(s) < 2 || len(s) > 32 || s[0] != 'E' {
		return false
	}
	for _, c := range []byte(s[1:]) {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
