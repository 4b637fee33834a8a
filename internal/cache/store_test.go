package cache

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// makeImage writes size pseudo-random bytes (from seed) and returns the path
// and its sha256.
func makeImage(tb testing.TB, dir, name string, size int, seed uint64) (string, string) {
	tb.Helper()
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	if size >= 1024 {
		stampBzImage(b) // List and Lookup check the header
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	sum, err := fileSHA256(p)
	if err != nil {
		tb.Fatal(err)
	}
	return p, sum
}

func openCache(tb testing.TB) *Cache {
	tb.Helper()
	c, err := Open(filepath.Join(tb.TempDir(), "kernels"))
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// checkEntry verifies a listed entry is whole: valid, image hash equal to
// the metadata's sha256 and one of known, schema acceptable to ktstr, and
// vmlinux presence matching has_vmlinux. It returns the image hash.
func checkEntry(tb testing.TB, e Entry, known ...string) string {
	tb.Helper()
	if e.Problem != nil {
		tb.Fatalf("entry %s is corrupt: %+v", e.Key, e.Problem)
	}
	sum, err := fileSHA256(e.ImagePath())
	if err != nil {
		tb.Fatal(err)
	}
	if want, _ := e.Metadata.ExtraString(ExtraSHA256); want != sum {
		tb.Fatalf("entry %s: image sha256 %s, metadata says %s (mixed entry)", e.Key, sum, want)
	}
	found := false
	for _, k := range known {
		found = found || k == sum
	}
	if !found {
		tb.Fatalf("entry %s: image sha256 %s is none of %v (torn image)", e.Key, sum, known)
	}
	data, err := os.ReadFile(filepath.Join(e.Dir, MetadataFile))
	if err != nil {
		tb.Fatal(err)
	}
	checkKtstrSchema(tb, data)
	_, verr := os.Stat(filepath.Join(e.Dir, VmlinuxFile))
	if e.Metadata.HasVmlinux != (verr == nil) {
		tb.Fatalf("entry %s: has_vmlinux=%v but vmlinux stat: %v", e.Key, e.Metadata.HasVmlinux, verr)
	}
	return sum
}

// debrisNames lists the staging/removal leftovers in root.
func debrisNames(tb testing.TB, root string) []string {
	tb.Helper()
	des, err := os.ReadDir(root)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, de := range des {
		if strings.HasPrefix(de.Name(), stagingPrefix) || strings.HasPrefix(de.Name(), removingPrefix) || strings.HasPrefix(de.Name(), ".probe-") {
			out = append(out, de.Name())
		}
	}
	return out
}

func TestStoreNewAndReplace(t *testing.T) {
	c := openCache(t)
	dir := t.TempDir()
	a, sumA := makeImage(t, dir, "a", 64<<10, 1)
	b, sumB := makeImage(t, dir, "b", 80<<10, 2)
	vml, _ := makeImage(t, dir, "vmlinux", 10<<10, 3)

	m := testMetadata()
	m.VmlinuxStripped = true // cleared: no vmlinux given
	e, err := c.Store(t.Context(), "6.1.0", StoreSource{Image: a, Metadata: m})
	if err != nil {
		t.Fatal(err)
	}
	if got := checkEntry(t, e, sumA); got != sumA {
		t.Fatal("stored image is not A")
	}
	if e.Metadata.HasVmlinux || e.Metadata.VmlinuxStripped {
		t.Errorf("vmlinux flags without vmlinux: %+v", e.Metadata)
	}
	if _, err := time.Parse(BuiltAtLayout, e.Metadata.BuiltAt); err != nil {
		t.Errorf("default built_at %q: %v", e.Metadata.BuiltAt, err)
	}
	if m.Extra != nil {
		t.Error("Store modified the caller's Metadata.Extra")
	}

	m.VmlinuxStripped = true
	e2, err := c.Store(t.Context(), "6.1.0", StoreSource{Image: b, Vmlinux: vml, Metadata: m})
	if err != nil {
		t.Fatal(err)
	}
	looked, err := c.Lookup("6.1.0")
	if err != nil {
		t.Fatal(err)
	}
	if checkEntry(t, looked, sumA, sumB) != sumB || !looked.Metadata.HasVmlinux || !looked.Metadata.VmlinuxStripped {
		t.Fatalf("replacement not in place: %+v", looked.Metadata)
	}
	if e2.Dir != looked.Dir {
		t.Errorf("Store returned dir %s, Lookup %s", e2.Dir, looked.Dir)
	}
	if d := debrisNames(t, c.Root); len(d) != 0 {
		t.Errorf("debris after Store: %v", d)
	}
	if _, err := os.Stat(c.LockPath("6.1.0")); err != nil {
		t.Errorf("lockfile missing: %v", err)
	}
}

func TestStoreRejectsBadInput(t *testing.T) {
	c := openCache(t)
	dir := t.TempDir()
	img, sum := makeImage(t, dir, "img", 1024, 4)
	good := testMetadata()
	for _, tc := range []struct {
		name string
		key  string
		src  StoreSource
		want string
	}{
		{"bad key", "../x", StoreSource{Image: img, Metadata: good}, "invalid cache key"},
		{"no image", "k", StoreSource{Metadata: good}, "no image path"},
		{"missing image", "k", StoreSource{Image: filepath.Join(dir, "nope"), Metadata: good}, "open kernel image"},
		{"image is a dir", "k", StoreSource{Image: dir, Metadata: good}, "not a regular file"},
		{"missing vmlinux", "k", StoreSource{Image: img, Vmlinux: filepath.Join(dir, "nope"), Metadata: good}, "open vmlinux"},
		{"no source type", "k", StoreSource{Image: img, Metadata: Metadata{}}, "source type"},
		{"bad built_at", "k", StoreSource{Image: img, Metadata: func() Metadata { m := good; m.BuiltAt = "2025-01-01 00:00:00"; return m }()}, "built_at"},
		{"image name path", "k", StoreSource{Image: img, Metadata: func() Metadata { m := good; m.ImageName = "a/b"; return m }()}, "plain file name"},
		{"image name vmlinux", "k", StoreSource{Image: img, Metadata: func() Metadata { m := good; m.ImageName = "vmlinux"; return m }()}, "collides"},
		{"unknown arch", "k", StoreSource{Image: img, Metadata: func() Metadata { m := good; m.Arch, m.ImageName = "riscv64", ""; return m }()}, "no default"},
		{"wrong sha256", "k", StoreSource{Image: img, Metadata: func() Metadata {
			m := good
			m.Extra = nil
			_ = m.SetExtraString(ExtraSHA256, strings.Repeat("0", 64))
			return m
		}()}, "sha256 " + sum},
	} {
		_, err := c.Store(t.Context(), tc.key, tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
	if es, _ := c.List(); len(es) != 0 {
		t.Errorf("failed Stores left entries: %+v", es)
	}
	if d := debrisNames(t, c.Root); len(d) != 0 {
		t.Errorf("failed Stores left debris: %v", d)
	}
	// A matching caller-provided sha256 is fine; aarch64 defaults to Image.
	m := good
	m.Arch, m.ImageName = "aarch64", ""
	_ = m.SetExtraString(ExtraSHA256, sum)
	e, err := c.Store(t.Context(), "arm", StoreSource{Image: img, Metadata: m})
	if err != nil || filepath.Base(e.ImagePath()) != "Image" {
		t.Errorf("aarch64 store: %v %s", err, e.ImagePath())
	}
}

func TestStoreEntryPathIsAFile(t *testing.T) {
	c := openCache(t)
	img, _ := makeImage(t, t.TempDir(), "img", 1024, 5)
	if err := os.WriteFile(c.EntryDir("k"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := c.Store(t.Context(), "k", StoreSource{Image: img, Metadata: testMetadata()})
	if err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("got %v", err)
	}
	if d := debrisNames(t, c.Root); len(d) != 0 {
		t.Errorf("debris: %v", d)
	}
}

// Store times out with a LockTimeoutError (naming the holder) when another
// process holds the entry.
func TestStoreLockTimeout(t *testing.T) {
	c := openCache(t)
	c.StoreLockTimeout = 200 * time.Millisecond
	img, _ := makeImage(t, t.TempDir(), "img", 1024, 6)
	holder := startHolder(t, c.LockPath("k"), Shared)
	_, err := c.Store(t.Context(), "k", StoreSource{Image: img, Metadata: testMetadata()})
	var lte *LockTimeoutError
	if !errors.As(err, &lte) || len(lte.Holders) != 1 || lte.Holders[0].PID != holder.pid() {
		t.Fatalf("got %v, want a LockTimeoutError naming pid %d", err, holder.pid())
	}
	if !strings.Contains(err.Error(), `flock LOCK_EX on cache entry "k" timed out after 200ms`) {
		t.Errorf("message: %v", err)
	}
}

func TestParseDebrisName(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  string
		pid  int
		ok   bool
	}{
		{".tmp-6.1-123", "6.1", 123, true},
		{".tmp-a-b-c-45", "a-b-c", 45, true},
		{".rm-k-7", "k", 7, true},
		{".tmp-k-", "", 0, false},
		{".tmp--5", "", 0, false},
		{".tmp-k-x1", "", 0, false},
		{".tmp-k-0", "", 0, false},
		{".tmp-nokey", "", 0, false},
		{".locks", "", 0, false},
		{"k-12", "", 0, false},
	} {
		key, pid, ok := parseDebrisName(tc.name)
		if key != tc.key || pid != tc.pid || ok != tc.ok {
			t.Errorf("parseDebrisName(%q) = %q, %d, %v", tc.name, key, pid, ok)
		}
	}
}

// deadPID returns the pid of a process that has exited.
func deadPID(t *testing.T) int {
	c := startChild(t, "no-such-role") // exits at once with status 1
	<-c.done
	return c.pid()
}

func TestSweepDebris(t *testing.T) {
	c := openCache(t)
	dead := deadPID(t)
	mk := func(name string) string {
		p := filepath.Join(c.Root, name)
		if err := os.MkdirAll(filepath.Join(p, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		return name
	}
	deadOther := mk(fmt.Sprintf(".tmp-other-%d", dead))
	deadRm := mk(fmt.Sprintf(".rm-gone-%d", dead))
	deadOwn := mk(fmt.Sprintf(".tmp-mine-%d", dead))
	selfOwn := mk(fmt.Sprintf(".tmp-mine-%d", os.Getpid()))
	selfOther := mk(fmt.Sprintf(".tmp-other2-%d", os.Getpid()))
	deadLocked := mk(fmt.Sprintf(".tmp-busy-%d", dead)) // its key is locked: maybe a writer we cannot see
	unrelated := mk(".tmp-unparseable")
	startHolder(t, c.LockPath("busy"), Exclusive)

	removed := c.sweepDebris("mine")
	var got []string
	for _, p := range removed {
		got = append(got, filepath.Base(p))
	}
	want := map[string]bool{deadOther: true, deadRm: true, deadOwn: true, selfOwn: true}
	for _, n := range []string{deadOther, deadRm, deadOwn, selfOwn, selfOther, deadLocked, unrelated} {
		_, err := os.Stat(filepath.Join(c.Root, n))
		if gone := err != nil; gone != want[n] {
			t.Errorf("%s: removed=%v, want %v", n, gone, want[n])
		}
	}
	if len(got) != len(want) {
		t.Errorf("reported %v", got)
	}
}

// stepIndex returns the position of step in storeSteps.
func stepIndex(step string) int {
	for i, s := range storeSteps {
		if s == step {
			return i
		}
	}
	panic("unknown step " + step)
}

// SIGKILL a Store at every step, with and without an existing entry, and
// check that the key holds the old entry or the new one, never a torn one,
// and that the next Store cleans up the debris.
func TestStoreCrashAtEachStep(t *testing.T) {
	dir := t.TempDir()
	imgOld, sumOld := makeImage(t, dir, "old", 512<<10, 10)
	imgNew, sumNew := makeImage(t, dir, "new", 700<<10, 11)
	imgNext, sumNext := makeImage(t, dir, "next", 300<<10, 12)
	vml, _ := makeImage(t, dir, "vmlinux", 100<<10, 13)
	for _, existing := range []bool{false, true} {
		for _, step := range storeSteps {
			name := fmt.Sprintf("existing=%v/%s", existing, step)
			t.Run(name, func(t *testing.T) {
				c := openCache(t)
				const key = "crash-6.1"
				if existing {
					if _, err := c.Store(t.Context(), key, StoreSource{Image: imgOld, Metadata: testMetadata()}); err != nil {
						t.Fatal(err)
					}
				}
				ch := startChild(t, "store", envRoot+"="+c.Root, envKey+"="+key, envImage+"="+imgNew,
					envVmlinux+"="+vml, envPause+"="+step)
				ch.expect(t, step)
				ch.kill(t)

				e, err := c.Lookup(key)
				newVisible := stepIndex(step) >= stepIndex(stepPublished)
				switch {
				case newVisible:
					if err != nil || checkEntry(t, e, sumNew) != sumNew {
						t.Fatalf("killed after publishing: want the new entry, got %+v %v", e, err)
					}
				case existing:
					if err != nil || checkEntry(t, e, sumOld) != sumOld {
						t.Fatalf("killed before publishing: want the old entry, got %+v %v", e, err)
					}
				default:
					if !errors.Is(err, ErrNotFound) {
						t.Fatalf("killed before publishing a new key: want no entry, got %+v %v", e, err)
					}
				}
				if es, _ := c.List(); len(es) > 1 {
					t.Fatalf("List shows %d entries: %+v", len(es), es)
				}

				if _, err := c.Store(t.Context(), key, StoreSource{Image: imgNext, Metadata: testMetadata()}); err != nil {
					t.Fatalf("Store after the crash: %v", err)
				}
				if d := debrisNames(t, c.Root); len(d) != 0 {
					t.Errorf("debris left after the next Store: %v", d)
				}
				e, err = c.Lookup(key)
				if err != nil || checkEntry(t, e, sumNext) != sumNext {
					t.Fatalf("after the next Store: %+v %v", e, err)
				}
			})
		}
	}
}

// crashTrials is the number of random-time kills; KTEST_CACHE_CRASH_TRIALS
// raises it for a soak run.
func crashTrials(t *testing.T) int {
	if s := os.Getenv("KTEST_CACHE_CRASH_TRIALS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("KTEST_CACHE_CRASH_TRIALS=%q: %v", s, err)
		}
		return n
	}
	if testing.Short() {
		return 6
	}
	return 20
}

// SIGKILL a child that replaces one entry in a loop at random times.
func TestStoreCrashAtRandomTimes(t *testing.T) {
	dir := t.TempDir()
	var imgs, sums []string
	for i := range 3 {
		p, s := makeImage(t, dir, "img"+itoa(i), (1+i)<<20, uint64(20+i))
		imgs, sums = append(imgs, p), append(sums, s)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	c := openCache(t)
	const key = "random-crash"
	if _, err := c.Store(t.Context(), key, StoreSource{Image: imgs[0], Metadata: testMetadata()}); err != nil {
		t.Fatal(err)
	}
	for trial := range crashTrials(t) {
		ch := startChild(t, "store-loop", envRoot+"="+c.Root, envKey+"="+key, envImages+"="+strings.Join(imgs[1:], ","))
		ch.expect(t, "started")
		time.Sleep(time.Duration(r.IntN(80_000)) * time.Microsecond)
		ch.kill(t)
		e, err := c.Lookup(key)
		if err != nil {
			t.Fatalf("trial %d: %v", trial, err)
		}
		checkEntry(t, e, sums...)
		if es, _ := c.List(); len(es) != 1 {
			t.Fatalf("trial %d: List shows %d entries", trial, len(es))
		}
	}
	if _, err := c.Store(t.Context(), key, StoreSource{Image: imgs[0], Metadata: testMetadata()}); err != nil {
		t.Fatal(err)
	}
	if d := debrisNames(t, c.Root); len(d) != 0 {
		t.Errorf("debris left after the next Store: %v", d)
	}
}
