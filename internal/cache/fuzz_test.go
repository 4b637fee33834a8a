package cache

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func FuzzValidateKey(f *testing.F) {
	for _, k := range []string{"6.14.2", "a", "", ".", "..", "a..b", ".tmp-x-1", "a/b", "a\x00", "é", "v6.1+kasan_x-y",
		strings.Repeat("x", 200), strings.Repeat("x", 201), "-", "+", "_", "a.", "a.b.c"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		checkKeyInvariants(t, key)
	})
}

func FuzzParseMetadata(f *testing.F) {
	paths, _ := filepath.Glob("testdata/ktstr/*/metadata.json")
	if golden, err := os.ReadFile("testdata/golden/store-metadata.json"); err == nil {
		f.Add(golden)
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	for _, s := range []string{"", "{}", "null", "[]", `{"source":{"type":"git","git_hash":1}}`, `{"a":"\u003c"}`,
		`{"version":"x","source":{"type":"local","extra":[1,{"b":null}]},"arch":"a","image_name":"i","built_at":"b","has_vmlinux":true,"vmlinux_stripped":false,"z":1e400}`,
		`{"source":{"type":"tarball"},"arch":"a","image_name":"..","built_at":"b","has_vmlinux":true,"vmlinux_stripped":false}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMetadata(data)
		if err != nil {
			var me *MetadataError
			if !errors.As(err, &me) {
				t.Fatalf("error %T %v is not a *MetadataError", err, err)
			}
			switch me.Kind {
			case ProblemSchemaDrift, ProblemMalformed, ProblemTruncated:
			default:
				t.Fatalf("kind %q", me.Kind)
			}
			if me.Reason == "" {
				t.Fatal("empty reason")
			}
			return
		}
		// The image stays inside its entry directory.
		if p := filepath.Join("/c/k", m.ImageName); filepath.Dir(p) != "/c/k" || m.ImageName == MetadataFile {
			t.Fatalf("image_name %q escapes the entry", m.ImageName)
		}
		// Whatever parses can be written back, and reads back the same.
		out, err := MarshalMetadata(m)
		if err != nil {
			t.Fatalf("parsed metadata does not marshal: %v", err)
		}
		m2, err := ParseMetadata(out)
		if err != nil {
			t.Fatalf("re-parse of our own output: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed the metadata:\n%+v\n%+v", m, m2)
		}
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(out, &keys); err != nil {
			t.Fatal(err)
		}
		for _, k := range knownKeys {
			if _, ok := keys[k]; !ok {
				t.Fatalf("output lacks key %q:\n%s", k, out)
			}
		}
		if out2, _ := MarshalMetadata(m2); !bytes.Equal(out, out2) {
			t.Fatalf("output is not stable:\n%s\n%s", out, out2)
		}
	})
}

// formatProcLock writes a ProcLock the way the kernel does.
func formatProcLock(l ProcLock) string {
	w := ""
	if l.Waiter {
		w = "-> "
	}
	return fmt.Sprintf("%d: %s%s  %s  %s %d %02x:%02x:%d 0 EOF", l.ID, w, l.Class, l.Kind, l.Access, l.PID, l.Major, l.Minor, l.Inode)
}

func FuzzParseProcLocks(f *testing.F) {
	f.Add([]byte(sampleProcLocks))
	if b, err := os.ReadFile("/proc/locks"); err == nil {
		f.Add(b)
	}
	for _, s := range []string{"", "\n", "1:", "1: ->", "1: FLOCK ADVISORY WRITE 1 0:0:0", "x: FLOCK A W 1 1:1:1",
		"1: FLOCK ADVISORY WRITE 1 fffffffff:0:1 0 EOF", "1: FLOCK ADVISORY WRITE 1 1:2 0 EOF", " 2: -> -> POSIX A R -1 a:b:99999999999999999999"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		locks, err := ParseProcLocks(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("in-memory read failed: %v", err)
		}
		for _, l := range locks {
			if l.Class == "" || l.Kind == "" || l.Access == "" {
				t.Fatalf("empty field in %+v", l)
			}
			line := formatProcLock(l)
			again, _ := ParseProcLocks(strings.NewReader(line))
			if len(again) != 1 || again[0] != l {
				t.Fatalf("round trip of %+v via %q gave %+v", l, line, again)
			}
		}
	})
}

func FuzzParseMountinfo(f *testing.F) {
	f.Add([]byte(sampleMountinfo), "/tmp/a b")
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		f.Add(b, "/")
	}
	for _, s := range []string{"", "-", " ", "\\", `\040`, "\\1", "a\nb", "tab\there", "\r", "/a\\134b", "é\xff"} {
		f.Add([]byte("1 2 3:4 / "+s+" rw - x y z\n"), s)
	}
	f.Fuzz(func(t *testing.T, data []byte, mountPoint string) {
		ms, err := ParseMountinfo(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("in-memory read failed: %v", err)
		}
		if lines := bytes.Count(data, []byte("\n")) + 1; len(ms) > lines {
			t.Fatalf("%d records from %d lines", len(ms), lines)
		}
		// Octal escaping round-trips for any path, alone and inside a line.
		esc := escapeMountPath(mountPoint)
		if got := unescapeOctal(esc); got != mountPoint {
			t.Fatalf("unescape(escape(%q)) = %q", mountPoint, got)
		}
		if strings.ContainsAny(esc, " \t\n") {
			t.Fatalf("escaped path %q still contains a separator", esc)
		}
		line := "36 35 98:7 /r\\040oot " + esc + " rw,noatime master:1 - ext4 /dev/my\\040disk rw\n"
		got, _ := ParseMountinfo(strings.NewReader(line))
		want := MountInfo{ID: 36, ParentID: 35, Major: 98, Minor: 7, Root: "/r oot", MountPoint: mountPoint, FSType: "ext4", Source: "/dev/my disk"}
		if len(got) != 1 || got[0] != want {
			t.Fatalf("line %q parsed as %+v, want %+v", line, got, want)
		}
	})
}

// FuzzParseDebrisName: the debris name parsers never panic, round-trip the
// names Store, Remove and Open make, and never call a name debris that has
// another shape.
func FuzzParseDebrisName(f *testing.F) {
	for _, n := range []string{".tmp-6.1-123", ".rm-a-b-c-42", ".probe-12-345", ".probe-987", ".tmp-x-", ".tmp--1",
		".tmp-k-0", ".probe-", ".probe-1-", ".probe-a-1", "k.lock", ".tmp-k-1234567890"} {
		f.Add(n, "key", 1)
	}
	f.Fuzz(func(t *testing.T, name, key string, pid int) {
		if k, p, ok := parseDebrisName(name); ok {
			if p <= 0 || !strings.HasSuffix(name, "-"+strconv.Itoa(p)) || k == "" {
				t.Fatalf("parseDebrisName(%q) = %q, %d", name, k, p)
			}
		}
		if p, ok := parseProbeName(name); ok && (!strings.HasPrefix(name, probePrefix) || p < 0) {
			t.Fatalf("parseProbeName(%q) = %d", name, p)
		}
		if ValidateKey(key) != nil || pid <= 0 || pid > 999999999 {
			return
		}
		for _, prefix := range []string{stagingPrefix, removingPrefix} {
			k, p, ok := parseDebrisName(prefix + key + "-" + strconv.Itoa(pid))
			if !ok || k != key || p != pid {
				t.Fatalf("%s%s-%d parsed as %q, %d, %v", prefix, key, pid, k, p, ok)
			}
		}
		if p, ok := parseProbeName(probePrefix + strconv.Itoa(pid) + "-123"); !ok || p != pid {
			t.Fatalf("probe of pid %d parsed as %d, %v", pid, p, ok)
		}
		if k, kind := classifyLockName(key + lockSuffix); k != key || kind != LockKindLockfile {
			t.Fatalf("lockfile of %q classified %q %q", key, k, kind)
		}
		if k, kind := classifyLockName(key + gateSuffix); k != key || kind != LockKindGate {
			t.Fatalf("gate of %q classified %q %q", key, k, kind)
		}
	})
}
