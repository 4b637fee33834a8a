// Package gopanic crashes: a goroutine started by a test panics.
package gopanic

import (
	"testing"
	"time"
)

func TestBefore(t *testing.T) {}

func TestGoroutinePanics(t *testing.T) {
	t.Log("starting the goroutine")
	go func() { panic("boom in a goroutine") }()
	time.Sleep(time.Minute)
}
