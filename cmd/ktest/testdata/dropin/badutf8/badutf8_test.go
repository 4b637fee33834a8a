// Package badutf8 fails and prints invalid UTF-8, which go test -json turns
// into U+FFFD: the one place where ktest's console differs from go test's.
package badutf8

import (
	"fmt"
	"testing"
)

func TestInvalidUTF8(t *testing.T) {
	fmt.Println("invalid: \xff\xfe end")
	t.Fail()
}
