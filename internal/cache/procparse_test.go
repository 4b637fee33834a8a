package cache

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const sampleProcLocks = `1: FLOCK  ADVISORY  READ 20072 fe:00:9986104 0 EOF
1: -> FLOCK  ADVISORY  WRITE 20099 fe:00:9986104 0 EOF
2: POSIX  ADVISORY  WRITE 811 00:1a:1234 0 EOF
3: OFDLCK ADVISORY  READ -1 00:05:42 0 EOF
4: FLOCK  ADVISORY  WRITE 0 fe:00:77 0 EOF
5: LEASE  ACTIVE    READ 12 00:05:1 0 EOF
6: FLOCK  ADVISORY  WRITE 13 <none>:0 0 EOF
garbage line
7: FLOCK  ADVISORY  READ 20073 fe:00:9986104 0 EOF
7: FLOCK  ADVISORY  READ 20073 fe:00:9986104 0 EOF
`

func TestParseProcLocks(t *testing.T) {
	locks, err := ParseProcLocks(strings.NewReader(sampleProcLocks))
	if err != nil {
		t.Fatal(err)
	}
	want := []ProcLock{
		{ID: 1, Class: "FLOCK", Kind: "ADVISORY", Access: "READ", PID: 20072, Major: 0xfe, Minor: 0, Inode: 9986104},
		{ID: 1, Waiter: true, Class: "FLOCK", Kind: "ADVISORY", Access: "WRITE", PID: 20099, Major: 0xfe, Inode: 9986104},
		{ID: 2, Class: "POSIX", Kind: "ADVISORY", Access: "WRITE", PID: 811, Major: 0, Minor: 0x1a, Inode: 1234},
		{ID: 3, Class: "OFDLCK", Kind: "ADVISORY", Access: "READ", PID: -1, Minor: 5, Inode: 42},
		{ID: 4, Class: "FLOCK", Kind: "ADVISORY", Access: "WRITE", PID: 0, Major: 0xfe, Inode: 77},
		{ID: 5, Class: "LEASE", Kind: "ACTIVE", Access: "READ", PID: 12, Minor: 5, Inode: 1},
		{ID: 7, Class: "FLOCK", Kind: "ADVISORY", Access: "READ", PID: 20073, Major: 0xfe, Inode: 9986104},
		{ID: 7, Class: "FLOCK", Kind: "ADVISORY", Access: "READ", PID: 20073, Major: 0xfe, Inode: 9986104},
	}
	if !reflect.DeepEqual(locks, want) {
		t.Errorf("got\n%+v\nwant\n%+v", locks, want)
	}
	// The real file parses.
	f, err := os.Open("/proc/locks")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	if _, err := ParseProcLocks(f); err != nil {
		t.Fatal(err)
	}
}

func TestHoldersOf(t *testing.T) {
	locks, _ := ParseProcLocks(strings.NewReader(sampleProcLocks))
	got := holdersOf(locks, lockTarget{major: 0xfe, minor: 0, inode: 9986104}, func(pid int) string { return "cmd" + itoa(pid) })
	want := []Holder{{PID: 20072, Mode: "READ", Cmdline: "cmd20072"}, {PID: 20073, Mode: "READ", Cmdline: "cmd20073"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v (FLOCK holders only, no waiter, no POSIX, deduplicated)", got, want)
	}
	if got := holdersOf(locks, lockTarget{major: 0xfe, inode: 1}, readCmdline); got != nil {
		t.Errorf("no match: got %+v", got)
	}
}

const sampleMountinfo = `22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
36 27 0:40 / /tmp rw shared:5 - tmpfs tmpfs rw
37 36 0:41 / /tmp/a\040b rw - tmpfs none rw
38 36 0:42 /sub /tmp/tab\011nl\012bs\134x rw master:1 propagate_from:2 - ext4 /dev/my\040disk rw
39 36 0:43 / /tmp/a\040b rw - tmpfs over rw
bad line
`

func TestParseMountinfo(t *testing.T) {
	ms, err := ParseMountinfo(strings.NewReader(sampleMountinfo))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 6 {
		t.Fatalf("parsed %d mounts, want 6: %+v", len(ms), ms)
	}
	m := ms[4]
	want := MountInfo{ID: 38, ParentID: 36, Major: 0, Minor: 42, Root: "/sub", MountPoint: "/tmp/tab\tnl\nbs\\x", FSType: "ext4", Source: "/dev/my disk"}
	if m != want {
		t.Errorf("got %+v\nwant %+v", m, want)
	}
	if ms[1].Major != 254 || ms[1].MountPoint != "/" {
		t.Errorf("root mount: %+v", ms[1])
	}
	for _, tc := range []struct {
		path string
		dev  uint32 // minor
	}{
		{"/", 0},
		{"/etc/passwd", 0},
		{"/tmp", 40},
		{"/tmpfoo/x", 0}, // a string prefix is not a path-component prefix
		{"/tmp/x", 40},
		{"/tmp/a b/c", 43}, // the later of two mounts on one point is on top
		{"/tmp/a b", 43},
		{"/tmp/a bc", 40},
		{"/tmp/tab\tnl\nbs\\x/y", 42},
		{"/proc/self", 21},
	} {
		got, ok := mountFor(tc.path, ms)
		if !ok || got.Minor != tc.dev {
			t.Errorf("mountFor(%q) = %+v, %v; want minor %d", tc.path, got, ok, tc.dev)
		}
	}
	if _, ok := mountFor("/x", ms[2:3]); ok {
		t.Error("mountFor found a mount for a path no mount covers")
	}
	if got := unescapeOctal(`a\777b\12c\\d\`); got != `a\777b\12c\\d\` {
		t.Errorf("invalid escapes must stay literal, got %q", got)
	}
}

// Holders are matched on the mountinfo device, not st_dev: with fixture
// files, a /proc/locks line carrying the mount's device matches and one
// carrying st_dev does not.
func TestLockHoldersUsesMountinfoDevice(t *testing.T) {
	dir := t.TempDir()
	lockfile := filepath.Join(dir, "x.lock")
	if err := os.WriteFile(lockfile, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	resolved, _ := filepath.EvalSymlinks(lockfile)
	var st unix.Stat_t
	if err := unix.Stat(resolved, &st); err != nil {
		t.Fatal(err)
	}
	fakeMinor := uint32(0xab)
	if unix.Major(st.Dev) == 0 && unix.Minor(st.Dev) == fakeMinor {
		fakeMinor++
	}
	mi := filepath.Join(dir, "mountinfo")
	pl := filepath.Join(dir, "locks")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(mi, "1 0 0:"+itoa(int(fakeMinor))+" / / rw - fakefs none rw\n")
	write(pl, "1: FLOCK  ADVISORY  WRITE 4242 00:"+hex2(fakeMinor)+":"+itoa(int(st.Ino))+" 0 EOF\n"+
		"2: FLOCK  ADVISORY  READ 4343 "+hex2(unix.Major(st.Dev))+":"+hex2(unix.Minor(st.Dev))+":"+itoa(int(st.Ino))+" 0 EOF\n")
	oldMI, oldPL := mountinfoPath, procLocksPath
	mountinfoPath, procLocksPath = mi, pl
	defer func() { mountinfoPath, procLocksPath = oldMI, oldPL }()

	hs, err := LockHolders(lockfile)
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 1 || hs[0].PID != 4242 || hs[0].Mode != "WRITE" {
		t.Errorf("holders %+v, want only pid 4242 (matched through mountinfo)", hs)
	}
	// A symlinked directory on the way resolves to the same holders.
	linkDir := filepath.Join(t.TempDir(), "linkdir")
	if err := os.Symlink(dir, linkDir); err != nil {
		t.Fatal(err)
	}
	if hs2, err := LockHolders(filepath.Join(linkDir, "x.lock")); err != nil || !reflect.DeepEqual(hs, hs2) {
		t.Errorf("through a symlinked directory: %+v, %v; want %+v", hs2, err, hs)
	}
	// A symlink as the lockfile itself is not followed: ktest never locks
	// through one, so its target's holders are not its holders.
	link := filepath.Join(dir, "link.lock")
	if err := os.Symlink(lockfile, link); err != nil {
		t.Fatal(err)
	}
	if hs2, err := LockHolders(link); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("symlink as the lockfile: %+v, %v; want an error naming the symbolic link", hs2, err)
	}
}

func hex2(v uint32) string {
	const digits = "0123456789abcdef"
	s := ""
	for ; v > 0; v /= 16 {
		s = string(digits[v%16]) + s
	}
	for len(s) < 2 {
		s = "0" + s
	}
	return s
}

func TestLockHoldersMissingFile(t *testing.T) {
	if _, err := LockHolders(filepath.Join(t.TempDir(), "nope.lock")); err == nil {
		t.Fatal("LockHolders of a missing file returned no error")
	}
}

func TestFormatCmdline(t *testing.T) {
	long := strings.Repeat("é", 150)
	for _, tc := range []struct{ in, want string }{
		{"go\x00test\x00./...\x00", "go test ./..."},
		{"", "(no cmdline)"},
		{"\x00\x00", "(no cmdline)"},
		{long, strings.Repeat("é", 100)},
		{"a\xffb", "a\uFFFDb"},
	} {
		if got := formatCmdline([]byte(tc.in)); got != tc.want {
			t.Errorf("formatCmdline(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := readCmdline(os.Getpid()); !strings.HasPrefix(os.Args[0]+" ", got[:min(len(got), len(os.Args[0]))]) {
		t.Errorf("own cmdline %q does not start with %q", got, os.Args[0])
	}
	if got := readCmdline(0); !strings.Contains(got, "namespace") {
		t.Errorf("pid 0: %q", got)
	}
}
