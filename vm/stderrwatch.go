package vm

import (
	"bytes"
	"strings"
)

// fatalStderrPatterns are QEMU stderr fragments (lower-cased) after which
// the VM can make no progress but QEMU does not exit by itself: on a KVM
// internal error QEMU pauses the VM and waits for a monitor command.
var fatalStderrPatterns = []string{
	"kvm internal error",
	"emulation failure",
}

// stderrWatcher keeps QEMU's stderr and calls onFatal once when a line
// matching fatalStderrPatterns appears. Like consoleParser it is written
// by exec's copy goroutine only and read after cmd.Wait.
type stderrWatcher struct {
	buf     *cappedBuffer
	line    []byte
	onFatal func()
	fired   bool
}

func newStderrWatcher(onFatal func()) *stderrWatcher {
	return &stderrWatcher{buf: newCappedBuffer(), onFatal: onFatal}
}

func (w *stderrWatcher) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if w.fired {
		return len(p), nil
	}
	w.line = append(w.line, p...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			if len(w.line) > maxLineLen {
				w.line = w.line[:0]
			}
			break
		}
		l := strings.ToLower(string(w.line[:i]))
		w.line = w.line[i+1:]
		for _, pat := range fatalStderrPatterns {
			if strings.Contains(l, pat) {
				w.fired = true
				w.onFatal()
				return len(p), nil
			}
		}
	}
	return len(p), nil
}

func (w *stderrWatcher) String() string { return w.buf.String() }
