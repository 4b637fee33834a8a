// Package logfatal crashes: a test calls log.Fatal.
package logfatal

import (
	"log"
	"testing"
)

func TestLogFatal(t *testing.T) {
	log.SetFlags(0)
	log.Fatal("log.Fatal in a test")
}
