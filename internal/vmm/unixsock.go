package vmm

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// listener is a unix stream socket QEMU connects to. It is made with
// x/sys/unix rather than package net: net would link the cgo resolver and
// make the ktest binary, the guest's static init, dynamic.
type listener struct {
	fd   int
	path string
}

func listenUnix(path string) (*listener, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := unix.Listen(fd, 1); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return &listener{fd: fd, path: path}, nil
}

var errStopped = errors.New("stopped")

// accept waits for one connection, or until stop is closed.
func (l *listener) accept(stop <-chan struct{}) (*os.File, error) {
	for {
		select {
		case <-stop:
			return nil, errStopped
		default:
		}
		fds := []unix.PollFd{{Fd: int32(l.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 20)
		if errors.Is(err, unix.EINTR) || n == 0 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("accept on %s: %w", l.path, err)
		}
		nfd, _, err := unix.Accept4(l.fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("accept on %s: %w", l.path, err)
		}
		// Non-blocking, so the runtime poller serves it: Close ends a
		// Read blocked in another goroutine.
		return os.NewFile(uintptr(nfd), l.path), nil
	}
}

func (l *listener) close() { unix.Close(l.fd) }
