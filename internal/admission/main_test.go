package admission

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ktest-dev/ktest/internal/hostres"
)

// The test binary doubles as the second process of cross-process tests:
// with envChild set, TestMain holds a slot instead of running the tests.
const (
	envChild     = "KTEST_ADMISSION_TEST_CHILD"
	envChildDir  = "KTEST_ADMISSION_TEST_DIR"
	envChildCPUs = "KTEST_ADMISSION_TEST_CPUS"
)

func TestMain(m *testing.M) {
	if os.Getenv(envChild) == "hold" {
		if err := childHold(); err != nil {
			fmt.Fprintf(os.Stderr, "child: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childHold takes a slot of one CPU, says "held PATH", and keeps it until
// its stdin reaches EOF.
func childHold() error {
	cpus, err := strconv.Atoi(os.Getenv(envChildCPUs))
	if err != nil {
		return err
	}
	o := Options{Dir: os.Getenv(envChildDir), Resources: fakeHost(cpus, 4096), ReserveMB: -1}
	s, err := o.Acquire(context.Background(), Need{CPUs: 1, MemoryMB: 100}, 30*time.Second)
	if err != nil {
		return err
	}
	fmt.Printf("held %s\n", s.Path())
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := s.Close(); err != nil {
		return err
	}
	fmt.Println("released")
	return nil
}

// fakeHost is a host of cpus CPUs and memMB of memory, all available.
func fakeHost(cpus int, memMB int64) func() (hostres.Resources, error) {
	return func() (hostres.Resources, error) {
		return hostres.Resources{CPUs: cpus, MemTotalMB: memMB, MemAvailableMB: memMB}, nil
	}
}

// holder is a child process holding a slot.
type holder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	path  string
}

// startHolder starts a child that holds a slot in dir on a host of cpus
// CPUs, and waits until it holds it.
func startHolder(t *testing.T, dir string, cpus int) *holder {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"=hold", envChildDir+"="+dir, envChildCPUs+"="+strconv.Itoa(cpus))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &holder{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := h.out.ReadString('\n')
	path, ok := strings.CutPrefix(strings.TrimSpace(line), "held ")
	if err != nil || !ok {
		t.Fatalf("holder said %q, %v; want \"held PATH\"", line, err)
	}
	h.path = path
	return h
}

// acquireAsync runs o.Acquire in the background.
func acquireAsync(o Options, need Need, wait time.Duration) <-chan result {
	ch := make(chan result, 1)
	go func() {
		s, err := o.Acquire(context.Background(), need, wait)
		ch <- result{s, err}
	}()
	return ch
}

type result struct {
	slot *Slot
	err  error
}
