package runner

import (
	"bytes"
	"strings"
	"testing"
)

// TestCopyStderrLongLine: a stderr line over 16 MiB comes through whole,
// and so do the lines around it.
func TestCopyStderrLongLine(t *testing.T) {
	in := "before\n" + strings.Repeat("s", 17<<20) + "\nafter"
	var out bytes.Buffer
	if err := copyStderr(&out, strings.NewReader(in)); err != nil {
		t.Fatal(err)
	}
	if out.String() != in {
		t.Errorf("got %d bytes, want %d (start %.20q)", out.Len(), len(in), out.String())
	}
}
