// Package jobslot bounds how many processes of one ktest run hold a slot
// at once: --vm-jobs N gives the run a directory of N lockfiles, and each
// vm-exec holds an exclusive flock on one of them while its guest runs. A
// slot is released by closing it, or by the holder's death.
package jobslot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// pollInterval is how often a waiter tries the slots again. Waiters are
// other guests' test binaries, which run for seconds: a short poll costs
// nothing next to them.
const pollInterval = 50 * time.Millisecond

// Acquire takes one of the n slots in dir, waiting until one is free or
// ctx is done. release gives it back.
func Acquire(ctx context.Context, dir string, n int) (release func(), err error) {
	if n < 1 {
		return nil, fmt.Errorf("acquire a job slot: %d slots", n)
	}
	files := make([]*os.File, n)
	defer func() {
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
	}()
	for i := range files {
		f, err := os.OpenFile(filepath.Join(dir, "slot-"+strconv.Itoa(i)), os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return nil, fmt.Errorf("acquire a job slot: %w", err)
		}
		files[i] = f
	}
	// Start at a slot of our own so that waiters spread over the files.
	start := os.Getpid() % n
	for {
		for k := range n {
			i := (start + k) % n
			err := flockRetry(files[i], unix.LOCK_EX|unix.LOCK_NB)
			if err == nil {
				held := files[i]
				files[i] = nil
				return func() { held.Close() }, nil
			}
			if !errors.Is(err, unix.EWOULDBLOCK) {
				return nil, fmt.Errorf("acquire a job slot: flock %s: %w", files[i].Name(), err)
			}
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

func flockRetry(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
