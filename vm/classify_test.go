package vm

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

// outcomeCase is one boot ending, either from a real console log captured
// on this project's machines (testdata/console/<name>.txt) or from QEMU
// stderr alone.
type outcomeCase struct {
	name     string
	stderr   string
	qemuExit int
}

var outcomeCases = []outcomeCase{
	// Real console logs of the Debian 6.1 cloud kernel under TCG.
	{name: "success"},
	{name: "guest-goroutine-panic"},
	{name: "corrupt-initramfs"},   // random bytes as initrd
	{name: "truncated-initramfs"}, // a valid archive cut short: /init is incomplete
	// QEMU failing before any console output (messages as QEMU prints them).
	{name: "corrupt-kernel", stderr: "qemu: linux kernel too old to load a ram disk\n", qemuExit: 1},
	{name: "missing-kernel", stderr: "qemu: could not open kernel file '/nonexistent': No such file or directory\n", qemuExit: 1},
	{name: "kvm-busy", stderr: "Could not access KVM kernel module: Device or resource busy\nqemu-system-x86_64: failed to initialize kvm: Device or resource busy\n", qemuExit: 1},
	{name: "guest-ram-enomem", stderr: "qemu-system-x86_64: cannot set up guest memory 'pc.ram': Cannot allocate memory\n", qemuExit: 1},
	{name: "kvm-emulation-failure", stderr: "KVM internal error. Suberror: 1\nemulation failure\n", qemuExit: 1},
	// Seen here: -enable-kvm -cpu host on a host whose KVM is emulated.
	{name: "kvm-msr-abort", stderr: "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\nqemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed.\n", qemuExit: -1},
	{name: "kvm-absent", stderr: "Could not access KVM kernel module: No such file or directory\nqemu-system-x86_64: failed to initialize kvm: No such file or directory\n", qemuExit: 1},
}

var nonceRe = regexp.MustCompile(`KTEST-GUEST-BEGIN nonce=([0-9a-f]+)`)

// outcomeFor runs a case through the same steps as boot: console parser,
// then the verdict or the failure classification.
func outcomeFor(t *testing.T, c outcomeCase) (error, *consoleParser) {
	t.Helper()
	console := ""
	if c.stderr == "" {
		data, err := os.ReadFile(filepath.Join("testdata", "console", c.name+".txt"))
		if err != nil {
			t.Fatal(err)
		}
		console = string(data)
	}
	nonce := "none"
	if m := nonceRe.FindStringSubmatch(console); m != nil {
		nonce = m[1]
	}
	p := newConsoleParser(nonce, nil, nil)
	p.Write([]byte(console))
	p.Close()
	if p.verdict != nil {
		return verdictError(*p.verdict, p.Output()), p
	}
	return classifyFailure(bootOutcome{
		kernel:       "/boot/vmlinuz-test",
		stderr:       c.stderr,
		console:      p.console.String(),
		qemuExit:     c.qemuExit,
		guestStarted: p.begun,
		badVerdict:   p.badVerdict,
		output:       p.Output(),
	}), p
}

// TestClassifyGolden pins the error type and message for each ending in
// testdata/console/<name>.golden (go test -run TestClassifyGolden -update
// rewrites them).
func TestClassifyGolden(t *testing.T) {
	for _, c := range outcomeCases {
		t.Run(c.name, func(t *testing.T) {
			err, _ := outcomeFor(t, c)
			got := fmt.Sprintf("%T\n%v\n", err, err)
			golden := filepath.Join("testdata", "console", c.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, rerr := os.ReadFile(golden)
			if rerr != nil {
				t.Fatalf("read golden file (go test -update creates it): %v", rerr)
			}
			if got != string(want) {
				t.Errorf("classification changed; if intended run go test -run TestClassifyGolden -update\ngot:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestClassifyTypes states the contract the goldens must keep: which
// endings are which error type, with the key words of their reasons.
func TestClassifyTypes(t *testing.T) {
	type want struct {
		kind   string // "nil", "guest", "boot", "busy"
		reason string
	}
	wants := map[string]want{
		"success":               {"nil", ""},
		"guest-goroutine-panic": {"guest", "exited with status 2 without reporting a verdict"},
		"corrupt-initramfs":     {"boot", "initramfs is corrupt or has no /init"},
		"truncated-initramfs":   {"boot", "could not execute /init (error -26, ETXTBSY"},
		"corrupt-kernel":        {"boot", "could not load the kernel /boot/vmlinuz-test"},
		"missing-kernel":        {"boot", "could not load the kernel"},
		"kvm-busy":              {"busy", "Device or resource busy"},
		"guest-ram-enomem":      {"busy", "Cannot allocate memory"},
		"kvm-emulation-failure": {"boot", "use Accel \"tcg\""},
		"kvm-absent":            {"boot", "use Accel \"tcg\""},
		"kvm-msr-abort":         {"boot", "use Accel \"tcg\""},
	}
	for _, c := range outcomeCases {
		w, ok := wants[c.name]
		if !ok {
			t.Errorf("case %s has no expectation", c.name)
			continue
		}
		err, p := outcomeFor(t, c)
		var (
			ge *GuestError
			be *BootError
			hb *HostBusyError
		)
		var kind, reason string
		switch {
		case err == nil:
			kind = "nil"
		case errors.As(err, &ge):
			kind, reason = "guest", ge.Message
		case errors.As(err, &be):
			kind, reason = "boot", be.Reason
		case errors.As(err, &hb):
			kind, reason = "busy", hb.Reason
		default:
			kind = fmt.Sprintf("%T", err)
		}
		if kind != w.kind || !strings.Contains(reason, w.reason) {
			t.Errorf("%s: got %s %q, want %s containing %q", c.name, kind, reason, w.kind, w.reason)
		}
		// A host shortage carries its errno and reports contention
		// through the interface kerneltest.SkipOnContention reads.
		if hb != nil {
			if want := map[string]syscall.Errno{"kvm-busy": syscall.EBUSY, "guest-ram-enomem": syscall.ENOMEM}[c.name]; !errors.Is(err, want) {
				t.Errorf("%s: HostBusyError %v does not unwrap to %v", c.name, hb.Err, want)
			}
			var ce interface{ Contention() bool }
			if !errors.As(err, &ce) || !ce.Contention() {
				t.Errorf("%s: HostBusyError does not report contention", c.name)
			}
		}
		if c.name == "success" && !strings.HasPrefix(p.Output(), "TESTGUEST-INFO {") {
			t.Errorf("success: output %q, want the info line", p.Output())
		}
		if c.name == "guest-goroutine-panic" && (ge == nil || ge.ExitCode != 2 || !strings.Contains(ge.Output, "panic: deliberate goroutine panic")) {
			t.Errorf("goroutine panic: GuestError %+v, want exit 2 and the panic in the output", ge)
		}
	}
}

func TestDecodeWaitStatus(t *testing.T) {
	cases := map[string]waitStatus{
		"00000200": {2, "exited with status 2"},
		"00000000": {0, "exited with status 0"},
		"0000000b": {128 + 11, "was killed by SIGSEGV"},
		"zz":       {-1, "exited (unparseable status 0xzz)"},
	}
	for in, want := range cases {
		if got := decodeWaitStatus(in); got != want {
			t.Errorf("decodeWaitStatus(%q) = %+v, want %+v", in, got, want)
		}
	}
}

func TestStderrWatcherFiresOnce(t *testing.T) {
	fired := 0
	w := newStderrWatcher(func() { fired++ })
	for _, chunk := range []string{"qemu: warning: x\nKVM inter", "nal error. Suberror: 1\n", "emulation failure\n"} {
		w.Write([]byte(chunk))
	}
	if fired != 1 {
		t.Errorf("onFatal called %d times, want 1", fired)
	}
	if !strings.Contains(w.String(), "emulation failure") {
		t.Errorf("stderr not kept in full: %q", w.String())
	}
	quiet := newStderrWatcher(func() { t.Error("onFatal called for harmless stderr") })
	quiet.Write([]byte("qemu-system-x86_64: warning: host doesn't support requested feature\n"))
}
