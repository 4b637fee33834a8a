package resultcache

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// record runs a fake test binary's writes through a Recorder.
func record(t *testing.T, writes []Chunk, exitCode int) (*Entry, bool, string) {
	t.Helper()
	var merged bytes.Buffer // what go test sees: both streams on one pipe
	rec := NewRecorder(&merged, &merged, MaxEntryBytes)
	for _, c := range writes {
		w := rec.Stdout()
		if c.Stream == Stderr {
			w = rec.Stderr()
		}
		if _, err := w.Write(c.Data); err != nil {
			t.Fatal(err)
		}
	}
	e, ok := rec.Entry(exitCode, 1500*time.Millisecond)
	return e, ok, merged.String()
}

var sampleWrites = []Chunk{
	{Stdout, []byte("=== RUN   TestA\n")},
	{Stderr, []byte("warning: \x00binary\xff\n")},
	{Stdout, []byte("--- PASS: TestA (0.00s)\n")},
	{Stdout, []byte("PASS\n")},
	{Stderr, []byte("no newline at the end")},
}

// A passing run is stored and replayed byte for byte, each stream its own
// bytes and both in the original interleaving.
func TestPutGetReplay(t *testing.T) {
	c, err := Open(filepath.Join(t.TempDir(), "results"), DefaultMaxBytes)
	if err != nil {
		t.Fatal(err)
	}
	e, ok, merged := record(t, sampleWrites, 0)
	if !ok {
		t.Fatal("Recorder refused a passing run")
	}
	key := mustKey(t, baseInputs(t))
	if _, ok := c.Get(key); ok {
		t.Fatal("hit in an empty cache")
	}
	if err := c.Put(key, e); err != nil {
		t.Fatal(err)
	}
	got, ok := c.Get(key)
	if !ok {
		t.Fatal("miss after Put")
	}
	if got.Duration != 1500*time.Millisecond {
		t.Errorf("Duration = %s", got.Duration)
	}
	var replayed bytes.Buffer
	if err := got.Replay(&replayed, &replayed); err != nil {
		t.Fatal(err)
	}
	if replayed.String() != merged {
		t.Errorf("replay on one pipe = %q, want %q", replayed.String(), merged)
	}
	var out, errOut bytes.Buffer
	got.Replay(&out, &errOut)
	var wantOut, wantErr []byte
	for _, w := range sampleWrites {
		if w.Stream == Stdout {
			wantOut = append(wantOut, w.Data...)
		} else {
			wantErr = append(wantErr, w.Data...)
		}
	}
	if !bytes.Equal(out.Bytes(), wantOut) || !bytes.Equal(errOut.Bytes(), wantErr) {
		t.Errorf("replayed stdout %q stderr %q, want %q and %q", out.Bytes(), errOut.Bytes(), wantOut, wantErr)
	}
	if fi, _ := os.Stat(c.path(key)); fi.Mode().Perm() != 0o600 {
		t.Errorf("entry mode %v, want 0600", fi.Mode())
	}
}

func TestRecorderRefuses(t *testing.T) {
	if _, ok, _ := record(t, sampleWrites, 1); ok {
		t.Error("Recorder kept a failing run")
	}
	var sink bytes.Buffer
	rec := NewRecorder(&sink, &sink, 10)
	rec.Stdout().Write([]byte("12345"))
	rec.Stderr().Write([]byte("678901"))
	if _, ok := rec.Entry(0, 0); ok {
		t.Error("Recorder kept a run over its limit")
	}
	if sink.String() != "12345678901" {
		t.Errorf("over the limit the output still passes through; got %q", sink.String())
	}
}

type failWriter struct{}

func (failWriter) Write(p []byte) (int, error) { return 0, errors.New("closed") }

func TestRecorderWriteError(t *testing.T) {
	rec := NewRecorder(failWriter{}, failWriter{}, 100)
	if _, err := rec.Stdout().Write([]byte("x")); err == nil {
		t.Error("a failing writer's error was lost")
	}
	if e, ok := rec.Entry(0, 0); !ok || len(e.Chunks) != 0 {
		t.Errorf("recorded %v of a write that failed", e)
	}
}

// Damaged and planted entries are misses, never errors or hangs.
func TestCorruptIsMiss(t *testing.T) {
	c, err := Open(t.TempDir(), DefaultMaxBytes)
	if err != nil {
		t.Fatal(err)
	}
	e, _, _ := record(t, sampleWrites, 0)
	in := baseInputs(t)
	key := mustKey(t, in)
	good := encode(key, e)

	in.Dir = "/elsewhere"
	other := mustKey(t, in)
	damage := map[string]func(path string){
		"empty":     func(p string) { os.WriteFile(p, nil, 0o600) },
		"truncated": func(p string) { os.WriteFile(p, good[:len(good)-1], 0o600) },
		"flipped": func(p string) {
			b := bytes.Clone(good)
			b[len(magic)+40] ^= 1
			os.WriteFile(p, b, 0o600)
		},
		"other key's entry": func(p string) { os.WriteFile(p, encode(other, e), 0o600) },
		"directory":         func(p string) { os.Mkdir(p, 0o700) },
		"fifo":              func(p string) { unix.Mkfifo(p, 0o600) },
		"symlink": func(p string) {
			target := filepath.Join(t.TempDir(), "target")
			os.WriteFile(target, good, 0o600)
			os.Symlink(target, p)
		},
	}
	for name, fn := range damage {
		path := c.path(key)
		os.RemoveAll(path)
		fn(path)
		if _, ok := c.Get(key); ok {
			t.Errorf("%s: Get hit", name)
		}
	}
	os.RemoveAll(c.path(key))
	if err := c.Put(key, e); err != nil {
		t.Fatalf("Put over damage: %v", err)
	}
	if _, ok := c.Get(key); !ok {
		t.Error("miss after a Put that replaced a damaged entry")
	}
}

// Pruning removes the least recently used entries first, and temp files
// of crashed writers, and nothing else.
func TestPrune(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir, 1) // the bound is checked below with real sizes
	if err != nil {
		t.Fatal(err)
	}
	e := &Entry{Chunks: []Chunk{{Stdout, bytes.Repeat([]byte("x"), 1000)}}}
	in := baseInputs(t)
	var keys []Key
	for i := range 4 {
		in.Dir = "/d" + strings.Repeat("x", i)
		keys = append(keys, mustKey(t, in))
	}
	size := int64(len(encode(keys[0], e)))
	c.maxBytes = 3 * size
	old := time.Now().Add(-time.Hour)
	for i, k := range keys[:3] {
		if err := c.Put(k, e); err != nil {
			t.Fatal(err)
		}
		mt := old.Add(time.Duration(i) * time.Minute)
		os.Chtimes(c.path(k), mt, mt)
	}
	c.Get(keys[0]) // keys[0] is now the most recently used
	stale := filepath.Join(dir, "."+keys[3].String()+entrySuffix+".tmp-123")
	fresh := filepath.Join(dir, "."+keys[2].String()+entrySuffix+".tmp-456")
	foreign := filepath.Join(dir, "notes.txt")
	for _, p := range []string{stale, fresh, foreign} {
		os.WriteFile(p, []byte("x"), 0o600)
	}
	twoHours := time.Now().Add(-2 * time.Hour)
	os.Chtimes(stale, twoHours, twoHours)
	os.Chtimes(foreign, twoHours, twoHours)

	if err := c.Put(keys[3], e); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{true, false, true, true} {
		if _, err := os.Stat(c.path(keys[i])); (err == nil) != want {
			t.Errorf("entry %d present = %v, want %v", i, err == nil, want)
		}
	}
	for p, want := range map[string]bool{stale: false, fresh: true, foreign: true} {
		if _, err := os.Stat(p); (err == nil) != want {
			t.Errorf("%s present = %v, want %v", filepath.Base(p), err == nil, want)
		}
	}

	c.maxBytes = size - 1 // an entry larger than the whole cache is not stored
	in.Dir = "/big"
	big := mustKey(t, in)
	if err := c.Put(big, e); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Get(big); ok {
		t.Error("an entry larger than the bound was stored")
	}
}

func TestDefaultDir(t *testing.T) {
	env := map[string]string{"HOME": "/home/u"}
	got, err := DefaultDir(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil || got != "/home/u/.cache/ktest/results" {
		t.Errorf("DefaultDir = %q, %v", got, err)
	}
	env = map[string]string{"XDG_CACHE_HOME": "/xdg", "HOME": "/home/u"}
	if got, _ := DefaultDir(func(k string) (string, bool) { v, ok := env[k]; return v, ok }); got != "/xdg/ktest/results" {
		t.Errorf("DefaultDir with XDG_CACHE_HOME = %q", got)
	}
	if _, err := DefaultDir(func(string) (string, bool) { return "", false }); err == nil {
		t.Error("DefaultDir without HOME: want an error")
	}
}

func FuzzDecode(f *testing.F) {
	var key Key
	key[0] = 1
	f.Add(encode(key, &Entry{Chunks: sampleWrites, Duration: time.Second, Created: time.Unix(1, 0)}))
	f.Add(encode(key, &Entry{}))
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decode(data, key)
		if err != nil {
			return
		}
		if again := encode(key, e); !bytes.Equal(again, data) {
			t.Fatalf("decode(%q) re-encodes as %q", data, again)
		}
	})
}

// FuzzDecodeBody fuzzes the parser behind the checksum, which random
// input to decode would rarely reach.
func FuzzDecodeBody(f *testing.F) {
	var key Key
	key[0] = 1
	for _, e := range []*Entry{{Chunks: sampleWrites, Duration: time.Second, Created: time.Unix(1, 0)}, {}} {
		data := encode(key, e)
		f.Add(data[:len(data)-32])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := decodeBody(body, key)
		if err != nil {
			return
		}
		if again := encode(key, e); !bytes.Equal(again[:len(again)-32], body) {
			t.Fatalf("decodeBody(%q) re-encodes as %q", body, again)
		}
	})
}
