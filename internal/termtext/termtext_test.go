package termtext

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestLine(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text, ünïcödé and 日本語", "plain text, ünïcödé and 日本語"},
		{"", ""},
		{"a\x1b[2Jb", `a\x1b[2Jb`},
		{"x\nktest: PASS", `x\nktest: PASS`},
		{"over\rwrite", `over\rwrite`},
		{"tab\there", `tab\there`},
		{"bell\a del\x7f nul\x00", `bell\a del\x7f nul\x00`},
		{"c1 \u009b31m csi", `c1 \u009b31m csi`},
		{"bidi \u202eevil\u202c", `bidi \u202eevil\u202c`},
		{"isolate \u2066x\u2069", `isolate \u2066x\u2069`},
		{"ls \u2028 ps \u2029", `ls \u2028 ps \u2029`},
		{"zwj a\u200db", `zwj a\u200db`},
		{"bad \xff\xfe utf8", `bad \xff\xfe utf8`},
		{"tag \U000e0041", `tag \U000e0041`},
		{`back\slash`, `back\slash`},
		{"nbsp\u00a0kept", "nbsp\u00a0kept"},
	} {
		if got := Line(tc.in); got != tc.want {
			t.Errorf("Line(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLineDoesNotAllocateForSafeText(t *testing.T) {
	s := strings.Repeat("safe text ünïcödé ", 10)
	if n := testing.AllocsPerRun(100, func() { _ = Line(s) }); n != 0 {
		t.Errorf("Line allocated %v times for text that needs no escape", n)
	}
}

func TestLines(t *testing.T) {
	got := Lines("first \x1b[1m\nsecond\r\x1b]0;title\a\n")
	want := "first \\x1b[1m\nsecond\\r\\x1b]0;title\\a\n"
	if got != want {
		t.Errorf("Lines = %q, want %q", got, want)
	}
}

func TestClipAndQuote(t *testing.T) {
	if got := Clip("short", 0); got != "short" {
		t.Errorf("Clip(short) = %q", got)
	}
	long := strings.Repeat("a", 300_000)
	got := Clip(long, 0)
	if want := strings.Repeat("a", MaxEcho) + "… (300000 bytes)"; got != want {
		t.Errorf("Clip(long) = %.40q…, len %d", got, len(got))
	}
	// A cut never splits a rune.
	multi := strings.Repeat("é", 150) // 300 bytes
	if got := Clip(multi, 0); !utf8.ValidString(got) || !strings.HasSuffix(got, "… (300 bytes)") {
		t.Errorf("Clip split a rune: %q", got)
	}
	if got := Quote("a\x1bb"); got != `"a\x1bb"` {
		t.Errorf("Quote = %s", got)
	}
	if got, want := Quote(long), `"`+strings.Repeat("a", MaxEcho)+`"… (300000 bytes)`; got != want {
		t.Errorf("Quote(long) = %.40s…, len %d", got, len(got))
	}
}

// FuzzLine checks that nothing a terminal acts on survives Line, that text
// needing no escape is kept, and that Clip and Quote stay bounded.
func FuzzLine(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b[31mred", "a\nb\r\n", "\u202e", "\xff", "é\u0085", "\U000e0041"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Line(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Line(%q) = %q is not UTF-8", s, out)
		}
		for _, r := range out {
			if r < 0x20 || r == 0x7f || !(r < 0x80 || unicode.IsGraphic(r)) {
				t.Fatalf("Line(%q) = %q keeps %U", s, out, r)
			}
		}
		if firstUnsafe(s) < 0 && out != s {
			t.Fatalf("Line changed safe text %q to %q", s, out)
		}
		for _, line := range strings.Split(Lines(s), "\n") {
			if line != Line(line) {
				t.Fatalf("Lines(%q) left %q unescaped", s, line)
			}
		}
		if c := Clip(s, 0); len(c) > MaxEcho+len("… (")+20+len(" bytes)") {
			t.Fatalf("Clip(%q) is %d bytes", s, len(c))
		}
	})
}
