package vmm

import (
	"fmt"
	"strings"
	"testing"
)

func TestTailLines(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{
		{"", 3, ""},
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 5, "a\nb\nc"},
		{"a\n\n", 1, "a"},
	} {
		if got := tailLines(c.s, c.n); got != c.want {
			t.Errorf("tailLines(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
	}
}

func TestConsoleTailReachesThePanic(t *testing.T) {
	var b strings.Builder
	for i := range 100 {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	b.WriteString("Kernel panic - not syncing: x\n")
	for i := range 60 {
		fmt.Fprintf(&b, "after %d\n", i)
	}
	got := consoleTail(b.String())
	if !strings.Contains(got, "Kernel panic") || !strings.Contains(got, "line 80\n") || strings.Contains(got, "line 70\n") {
		t.Errorf("consoleTail:\n%s", got)
	}
	if got := consoleTail("a\nb\n"); got != "a\nb" {
		t.Errorf("consoleTail without a panic = %q", got)
	}
}
