// Package termtext makes text that ktest did not write itself (command lines
// of lock holders, metadata fields, sidecar fields, file and entry names,
// command-line arguments) safe to print on one line of a terminal.
//
// A terminal acts on control characters: ESC starts sequences that move the
// cursor, clear the screen or retitle the window, CR and newlines start a
// fresh line that can forge output such as "ktest: PASS", and bidirectional
// overrides reorder what the reader sees. Line replaces each of them with a
// visible escape in the style of strconv.Quote. It is for human output only:
// JSON output keeps the data exact.
package termtext

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Line returns s with every character a terminal could act on replaced by a
// visible escape, so that s prints as exactly one line of plain text:
//
//   - C0 controls and DEL: \a \b \t \n \v \f \r, else \x1b-style;
//   - bytes that are not UTF-8: \xff-style;
//   - C1 controls, format characters (bidi overrides and isolates,
//     zero-width joiners), line and paragraph separators, and any other
//     non-graphic rune: \u0085-style (\U0001xxxx above the BMP).
//
// Graphic characters, spaces included, are kept, as are backslashes: the
// result is for reading, not for unquoting. Text that needs no escape is
// returned as is, without allocating.
func Line(s string) string {
	i := firstUnsafe(s)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, c)
		case r < 0x80:
			b.WriteString(controlEscape(c))
		case unicode.IsGraphic(r):
			b.WriteString(s[i : i+size])
		case r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
		i += size
	}
	return b.String()
}

// firstUnsafe is the index of the first byte of s that Line would change,
// or -1.
func firstUnsafe(s string) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if c < 0x80 || (r == utf8.RuneError && size == 1) || !unicode.IsGraphic(r) {
			return i
		}
		i += size
	}
	return -1
}

func controlEscape(c byte) string {
	switch c {
	case '\a':
		return `\a`
	case '\b':
		return `\b`
	case '\t':
		return `\t`
	case '\n':
		return `\n`
	case '\v':
		return `\v`
	case '\f':
		return `\f`
	case '\r':
		return `\r`
	}
	return fmt.Sprintf(`\x%02x`, c)
}

// Lines applies Line to each line of s and keeps the line breaks: for
// messages that are meant to span lines (an error with the output of a
// command under it) but must not move the cursor or forge a line's start.
// A CR is escaped, so no line can overwrite another.
func Lines(s string) string {
	if firstUnsafe(s) < 0 {
		return s
	}
	parts := strings.Split(s, "\n")
	for i, p := range parts {
		parts[i] = Line(p)
	}
	return strings.Join(parts, "\n")
}

// MaxEcho is how much of a value Clip and Quote keep, in bytes: enough to
// recognise it, short enough that a value of hundreds of KB does not bury
// the message that echoes it.
const MaxEcho = 200

// Clip returns s cut to at most max bytes (MaxEcho when max <= 0) at a rune
// boundary, followed by "… (N bytes)" with s's full length, or s itself
// when it is short enough.
func Clip(s string, max int) string {
	if max <= 0 {
		max = MaxEcho
	}
	if len(s) <= max {
		return s
	}
	return fmt.Sprintf("%s… (%d bytes)", s[:cutAt(s, max)], len(s))
}

// cutAt is the largest rune boundary of s at or below max.
func cutAt(s string, max int) int {
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return cut
}

// Quote is the value s as an error message echoes it: Go-quoted (so every
// control character is escaped), and cut to MaxEcho bytes with "… (N
// bytes)" when it is longer.
func Quote(s string) string {
	if len(s) <= MaxEcho {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q… (%d bytes)", s[:cutAt(s, MaxEcho)], len(s))
}
