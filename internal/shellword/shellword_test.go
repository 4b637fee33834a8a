package shellword

import (
	"os/exec"
	"testing"
)

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"":             "''",
		"./pkg/...":    "./pkg/...",
		"-run=^TestX$": "'-run=^TestX$'",
		"it's":         `'it'\''s'`,
		"a b":          "'a b'",
		"$HOME":        "'$HOME'",
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}

// FuzzQuote: a real shell reads the quoted word back as the original.
func FuzzQuote(f *testing.F) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		f.Skip("no sh")
	}
	for _, s := range []string{"", "a", "it's", "$(id)", "`x`", "a\nb", "*", "~", "!x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for i := 0; i < len(s); i++ {
			if s[i] == 0 {
				return // argv cannot carry NUL
			}
		}
		out, err := exec.Command(sh, "-c", "printf %s "+Quote(s)).Output()
		if err != nil {
			t.Fatalf("sh -c printf %s: %v", Quote(s), err)
		}
		if string(out) != s {
			t.Fatalf("Quote(%q) = %s reads back as %q", s, Quote(s), out)
		}
	})
}
