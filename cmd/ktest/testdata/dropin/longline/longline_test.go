// Package longline fails with lines longer than 64 KiB, printed directly and
// logged.
package longline

import (
	"fmt"
	"strings"
	"testing"
)

func TestLongLines(t *testing.T) {
	fmt.Println("direct:" + strings.Repeat("d", 70000))
	t.Error("logged:" + strings.Repeat("l", 70000))
}
