package testproto

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The live snapshot of this machine: every source is readable here, the
// figures are consistent with each other and with what this test does.
func TestTakeHostSnapshotLive(t *testing.T) {
	h := TakeHostSnapshot()
	t.Logf("%s", h.Summary())
	if len(h.Unreadable) > 0 {
		t.Fatalf("unreadable on a normal Linux host: %v", h.Unreadable)
	}
	if h.MemAvailable == 0 || h.MemTotal < h.MemAvailable {
		t.Errorf("mem available %d total %d", h.MemAvailable, h.MemTotal)
	}
	if h.ProcsTotal < 1 || h.ProcsRunning < 1 || h.ProcsRunning > h.ProcsTotal {
		t.Errorf("procs running %d total %d (this test itself is running)", h.ProcsRunning, h.ProcsTotal)
	}
	if h.OnlineCPUs < 1 || h.OnlineCPUs < runtime.NumCPU() {
		t.Errorf("online cpus %d, runtime.NumCPU %d", h.OnlineCPUs, runtime.NumCPU())
	}
	if h.FileNrAllocated == 0 || h.FileNrMax < h.FileNrAllocated {
		t.Errorf("file-nr %d/%d", h.FileNrAllocated, h.FileNrMax)
	}
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if h.NoFileSoft != lim.Cur || h.NoFileHard != lim.Max {
		t.Errorf("rlimit %d/%d, want %d/%d", h.NoFileSoft, h.NoFileHard, lim.Cur, lim.Max)
	}
	if host, _ := os.Hostname(); h.Hostname != host || h.KernelRelease == "" || h.TakenAt.IsZero() {
		t.Errorf("hostname %q (want %q) release %q taken %v", h.Hostname, host, h.KernelRelease, h.TakenAt)
	}

	// OpenFDs matches a count made without opening anything: every fd
	// number that fcntl(F_GETFD) accepts.
	if want := countFDsByFcntl(t); h.OpenFDs != want {
		t.Errorf("open fds %d, fcntl finds %d", h.OpenFDs, want)
	}

	// Opening files shows in OpenFDs, one for one.
	const extra = 5
	for range extra {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
	}
	if after := TakeHostSnapshot(); after.OpenFDs != h.OpenFDs+extra {
		t.Errorf("open fds %d after opening %d more, was %d", after.OpenFDs, extra, h.OpenFDs)
	}
}

// Missing and garbled sources leave their fields zero and are named in
// Unreadable and shown as "?" by Summary; the snapshot still succeeds.
func TestTakeHostSnapshotUnreadable(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("not a proc file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h := takeHostSnapshot(hostSources{
		meminfo:   filepath.Join(dir, "missing-meminfo"),
		loadavg:   garbage,
		fileNr:    garbage,
		cpuOnline: garbage, // falls back to runtime.NumCPU
		fdDir:     filepath.Join(dir, "missing-fd"),
	})
	want := []string{"meminfo", "loadavg", "file_nr", "open_fds"}
	if !slices.Equal(h.Unreadable, want) {
		t.Errorf("unreadable %v, want %v", h.Unreadable, want)
	}
	if h.MemAvailable != 0 || h.Load1 != 0 || h.ProcsTotal != 0 || h.FileNrMax != 0 || h.OpenFDs != 0 {
		t.Errorf("unreadable fields not zero: %+v", h)
	}
	if h.OnlineCPUs != runtime.NumCPU() {
		t.Errorf("cpus %d, want the runtime.NumCPU fallback %d", h.OnlineCPUs, runtime.NumCPU())
	}
	s := h.Summary()
	for _, part := range []string{"mem_available=? ", "load=? ", "procs_running=? ", "fds=?/", "file_nr=? ", "unreadable=meminfo,loadavg,file_nr,open_fds"} {
		if !strings.Contains(s, part) {
			t.Errorf("summary %q lacks %q", s, part)
		}
	}
}

func TestHostSnapshotSummary(t *testing.T) {
	h := HostSnapshot{
		MemAvailable: 22870574285, // 21.3 GiB
		Load1:        0.52, Load5: 0.40, Load15: 0.31,
		ProcsRunning: 2, ProcsTotal: 147,
		OnlineCPUs: 2, OpenFDs: 12, NoFileSoft: 1048576, NoFileHard: 1048576,
		FileNrAllocated: 1234, FileNrMax: 9223372036854775807,
	}
	want := "mem_available=21.3GiB load=0.52/0.40/0.31 procs_running=2 cpus=2 fds=12/1048576 file_nr=1234/9223372036854775807"
	if got := h.Summary(); got != want {
		t.Errorf("Summary() =\n%s\nwant\n%s", got, want)
	}
	h.NoFileSoft = unix.RLIM_INFINITY
	if got := h.Summary(); !strings.Contains(got, " fds=12/unlimited ") {
		t.Errorf("infinite rlimit: %s", got)
	}
}

func TestHostSnapshotJSON(t *testing.T) {
	data, err := json.Marshal(HostSnapshot{MemAvailable: 1, Unreadable: []string{"loadavg"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"mem_available_bytes":1`, `"load1":0`, `"procs_running":0`, `"online_cpus":0`,
		`"open_fds":0`, `"rlimit_nofile_soft":0`, `"rlimit_nofile_hard":0`, `"file_nr_allocated":0`, `"file_nr_max":0`,
		`"hostname":""`, `"kernel_release":""`, `"taken_at":`, `"unreadable":["loadavg"]`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("JSON %s lacks %s", data, key)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	cases := map[uint64]string{
		0: "0B", 1023: "1023B", 1024: "1.0KiB", 1536: "1.5KiB", 1 << 20: "1.0MiB",
		22870574285: "21.3GiB", 1 << 40: "1.0TiB", ^uint64(0): "16.0EiB",
	}
	for n, want := range cases {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func countFDsByFcntl(t *testing.T) int {
	t.Helper()
	n := 0
	for fd := range 1 << 16 {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			n++
		}
	}
	return n
}
