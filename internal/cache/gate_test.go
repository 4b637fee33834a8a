package cache

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Three overlapping readers (runs taking LOCK_SH on one key in turn, at
// least one always holding it) must not keep a writer out: with plain
// flock(2) the writer waited until its deadline. The writer-intent gate
// makes new readers queue behind it. The bound is generous: "got in"
// against "starved for the whole deadline".
func TestWriterNotStarvedByOverlappingReaders(t *testing.T) {
	path := filepath.Join(t.TempDir(), locksDirName, "k.lock")
	var readers []*child
	for range 3 {
		r := startChild(t, "overlap-reader", envLockPath+"="+path, envHold+"=300ms")
		r.expect(t, "held 1")
		readers = append(readers, r)
		time.Sleep(100 * time.Millisecond) // staggered: their holds overlap
	}
	if hs, err := LockHolders(path); err != nil || len(hs) == 0 {
		t.Fatalf("readers hold nothing (%v, %v): the test would prove nothing", hs, err)
	}
	l, err := AcquireLock(t.Context(), path, Exclusive, 30*time.Second, `cache entry "k"`)
	if err != nil {
		t.Fatalf("writer starved by overlapping readers: %v", err)
	}
	// While the writer holds it, no reader does.
	hs, err := LockHolders(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		if h.Mode == "READ" {
			t.Errorf("a reader (pid %d) holds LOCK_SH under the writer's LOCK_EX", h.PID)
		}
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	// The readers get in again afterwards: the gate queues, it does not shut out.
	for _, r := range readers {
		deadline := time.Now().Add(30 * time.Second)
		for {
			line := r.next(t, time.Until(deadline))
			if strings.HasPrefix(line, "held ") && line != "held 1" {
				break
			}
		}
	}
}

// A reader that arrives while a writer is queued waits for the writer, and
// its timeout names the queued writer.
func TestReaderYieldsToQueuedWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), locksDirName, "k.lock")
	holder := startHolder(t, path, Shared) // a run using the entry
	got := make(chan error, 1)
	go func() {
		l, err := AcquireLock(t.Context(), path, Exclusive, 30*time.Second, "writer")
		if err == nil {
			l.Unlock()
		}
		got <- err
	}()
	// Wait until the writer is queued (it holds the gate).
	deadline := time.Now().Add(30 * time.Second)
	for {
		if hs, _ := LockHolders(gatePath(path)); len(hs) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer never queued at the gate")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err := AcquireLock(t.Context(), path, Shared, 200*time.Millisecond, `cache entry "k"`)
	var lte *LockTimeoutError
	if !errors.As(err, &lte) {
		t.Fatalf("new reader while a writer is queued: %v, want *LockTimeoutError", err)
	}
	// The reader is told who holds the entry and who is queued ahead of it
	// (the writer is this process, so it is not listed as queued).
	if len(lte.Holders) == 0 || lte.Holders[0].PID != holder.pid() {
		t.Errorf("holders %+v, want the reading holder pid %d first", lte.Holders, holder.pid())
	}
	holder.kill(t)
	if err := <-got; err != nil {
		t.Fatalf("writer: %v", err)
	}
}

// ktstr locks only {key}.lock, with plain flock(2). ktest must still exclude
// it both ways: a ktstr reader keeps a ktest writer out, a ktstr writer
// keeps a ktest reader out.
func TestGateKeepsKtstrInterop(t *testing.T) {
	for _, tc := range []struct {
		ktstr, ktest LockMode
	}{{Shared, Exclusive}, {Exclusive, Shared}, {Exclusive, Exclusive}} {
		path := filepath.Join(t.TempDir(), locksDirName, "k.lock")
		raw := startChild(t, "raw-holder", envLockPath+"="+path, envLockMode+"="+tc.ktstr.String())
		raw.expect(t, "locked")
		_, err := AcquireLock(t.Context(), path, tc.ktest, 300*time.Millisecond, "test")
		var lte *LockTimeoutError
		if !errors.As(err, &lte) || len(lte.Holders) != 1 || lte.Holders[0].PID != raw.pid() {
			t.Errorf("ktstr %s, ktest %s: got %v, want a timeout naming the ktstr holder", tc.ktstr, tc.ktest, err)
		}
		raw.wait(t)
		l, err := AcquireLock(t.Context(), path, tc.ktest, 30*time.Second, "test")
		if err != nil {
			t.Errorf("ktest %s after the ktstr holder left: %v", tc.ktest, err)
			continue
		}
		l.Unlock()
	}
}
