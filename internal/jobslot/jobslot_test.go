package jobslot

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestAcquireBounds: two slots admit two holders; a third waits until one
// is released, and gives up when its context ends.
func TestAcquireBounds(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	r1, err := Acquire(ctx, dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Acquire(ctx, dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := Acquire(short, dir, 2); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third holder of two slots: %v, want a deadline", err)
	}
	got := make(chan error, 1)
	go func() {
		r3, err := Acquire(ctx, dir, 2)
		if err == nil {
			r3()
		}
		got <- err
	}()
	r1()
	if err := <-got; err != nil {
		t.Fatalf("after a release: %v", err)
	}
	r2()
	if _, err := Acquire(ctx, dir, 0); err == nil {
		t.Error("zero slots: want an error")
	}
}
