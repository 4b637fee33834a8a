package runner

import (
	"bytes"
	"strings"
	"testing"
)

// TestSpool: output past the memory share goes to a temp file and comes
// back whole and in order, and the spool is empty after writing it out.
func TestSpool(t *testing.T) {
	var s spool
	var want strings.Builder
	for i := 0; i < 3000; i++ {
		line := strings.Repeat(string(rune('a'+i%26)), 1000) + "\n"
		s.write(line)
		want.WriteString(line)
	}
	if s.file == nil {
		t.Fatalf("3 MB held in memory (%d bytes), want a temp file", len(s.mem))
	}
	var out bytes.Buffer
	if err := s.writeTo(&out); err != nil {
		t.Fatal(err)
	}
	if out.String() != want.String() {
		t.Errorf("got %d bytes back, want %d", out.Len(), want.Len())
	}
	if !s.empty() {
		t.Errorf("spool not empty after writeTo")
	}
	s.write("again\n")
	out.Reset()
	s.writeTo(&out)
	if out.String() != "again\n" {
		t.Errorf("after reuse: %q", out.String())
	}
}
