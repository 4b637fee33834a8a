package cache

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/ktest-dev/ktest/internal/hint"
)

func envFrom(m map[string]string) (func(string) string, func(string) (string, bool)) {
	return func(k string) string { return m[k] },
		func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestRootFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"cache dir verbatim", map[string]string{"KTSTR_CACHE_DIR": "/x/../y/", "HOME": "/h"}, "/x/../y/"},
		{"cache dir relative verbatim", map[string]string{"KTSTR_CACHE_DIR": "rel/c"}, "rel/c"},
		{"empty cache dir falls through", map[string]string{"KTSTR_CACHE_DIR": "", "XDG_CACHE_HOME": "/xdg"}, "/xdg/ktstr/kernels"},
		{"xdg", map[string]string{"XDG_CACHE_HOME": "/xdg", "HOME": "/h"}, "/xdg/ktstr/kernels"},
		{"relative xdg ignored", map[string]string{"XDG_CACHE_HOME": "rel", "HOME": "/h"}, "/h/.cache/ktstr/kernels"},
		{"non-utf8 xdg ignored", map[string]string{"XDG_CACHE_HOME": "/x\xff", "HOME": "/h"}, "/h/.cache/ktstr/kernels"},
		{"home", map[string]string{"HOME": "/home/u"}, "/home/u/.cache/ktstr/kernels"},
		{"home trailing slash", map[string]string{"HOME": "/home/u/"}, "/home/u/.cache/ktstr/kernels"},
	} {
		getenv, lookup := envFrom(tc.env)
		for form, f := range map[string]func() (string, error){
			"RootFromEnv":       func() (string, error) { return RootFromEnv(getenv) },
			"RootFromLookupEnv": func() (string, error) { return RootFromLookupEnv(lookup) },
		} {
			got, err := f()
			if err != nil || got != tc.want {
				t.Errorf("%s %s: got %q, %v; want %q", form, tc.name, got, err, tc.want)
			}
		}
	}
}

func TestRootFromEnvErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    map[string]string
		lookup bool // use RootFromLookupEnv
		want   []string
	}{
		{"non-utf8 cache dir", map[string]string{"KTSTR_CACHE_DIR": "/c\xff\xfe", "HOME": "/h"}, false, []string{"KTSTR_CACHE_DIR", "non-UTF-8", `\xff`}},
		{"home unset", map[string]string{}, true, []string{"HOME is unset", "KTSTR_CACHE_DIR", "XDG_CACHE_HOME"}},
		{"home empty", map[string]string{"HOME": ""}, true, []string{"HOME is set to the empty string", "KTSTR_CACHE_DIR"}},
		{"home unset or empty via getenv", map[string]string{}, false, []string{"HOME is unset or empty", "KTSTR_CACHE_DIR"}},
		{"home slash", map[string]string{"HOME": "/"}, false, []string{`HOME is "/"`, "/.cache/ktstr/kernels", "KTSTR_CACHE_DIR"}},
		{"home double slash", map[string]string{"HOME": "//"}, true, []string{`HOME is "//"`}},
		{"home relative", map[string]string{"HOME": "rel/dir"}, false, []string{`HOME="rel/dir"`, "not an absolute path", "KTSTR_CACHE_DIR"}},
		{"home relative and xdg relative", map[string]string{"HOME": "tmp", "XDG_CACHE_HOME": "x"}, true, []string{"not an absolute path"}},
		{"home non-utf8", map[string]string{"HOME": "/h\xff"}, true, []string{"non-UTF-8"}},
	} {
		getenv, lookup := envFrom(tc.env)
		var err error
		if tc.lookup {
			_, err = RootFromLookupEnv(lookup)
		} else {
			_, err = RootFromEnv(getenv)
		}
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", tc.name, err, w)
			}
		}
	}
	// The three HOME failures read differently.
	_, l1 := envFrom(map[string]string{})
	_, l2 := envFrom(map[string]string{"HOME": ""})
	_, l3 := envFrom(map[string]string{"HOME": "/"})
	_, e1 := RootFromLookupEnv(l1)
	_, e2 := RootFromLookupEnv(l2)
	_, e3 := RootFromLookupEnv(l3)
	if e1.Error() == e2.Error() || e2.Error() == e3.Error() || e1.Error() == e3.Error() {
		t.Errorf("HOME errors are not distinct:\n%v\n%v\n%v", e1, e2, e3)
	}
}

func TestOpenCreatesRoot(t *testing.T) {
	root := filepath.Join(t.TempDir(), "a", "b", "kernels")
	c, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(root)
	if err != nil || !st.IsDir() {
		t.Fatalf("root not created: %v", err)
	}
	if c.Root != root {
		t.Errorf("Root = %q, want %q", c.Root, root)
	}
	des, _ := os.ReadDir(root)
	if len(des) != 0 {
		t.Errorf("Open left files behind: %v", des)
	}
}

func TestOpenRelativeRootMadeAbsolute(t *testing.T) {
	t.Chdir(t.TempDir())
	c, err := Open("rel")
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(c.Root) || filepath.Base(c.Root) != "rel" {
		t.Errorf("Root = %q", c.Root)
	}
}

func TestOpenRootIsAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(file)
	if err == nil || !strings.Contains(err.Error(), "not a directory") || !strings.Contains(err.Error(), file) {
		t.Errorf("Open(file) = %v, want a 'not a directory' error naming %s", err, file)
	}
	_, err = OpenReadOnly(file)
	if err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("OpenReadOnly(file) = %v", err)
	}
	below := filepath.Join(file, "kernels")
	_, err = Open(below)
	if err == nil || !strings.Contains(err.Error(), below) || !strings.Contains(err.Error(), "KTSTR_CACHE_DIR") {
		t.Errorf("Open(file/kernels) = %v, want an error naming the path and the fix", err)
	}
}

func TestOpenRootNotWritable(t *testing.T) {
	t.Run("read-only mount", func(t *testing.T) {
		root := t.TempDir()
		roBindMount(t, root)
		_, err := Open(root)
		if err == nil {
			t.Fatal("Open of a read-only root succeeded")
		}
		for _, w := range []string{root, "not writable"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q lacks %q", err, w)
			}
		}
		if hs := hint.Of(err); len(hs) == 0 || !strings.Contains(hs[0], "KTSTR_CACHE_DIR") {
			t.Errorf("hints %q do not name KTSTR_CACHE_DIR", hs)
		}
		// Read-only use still works.
		c, err := OpenReadOnly(root)
		if err != nil {
			t.Fatalf("OpenReadOnly of a read-only root: %v", err)
		}
		if es, err := c.List(); err != nil || len(es) != 0 {
			t.Errorf("List = %v, %v", es, err)
		}
	})
	t.Run("immutable dir", func(t *testing.T) {
		root := t.TempDir()
		if err := setImmutable(root, true); err != nil {
			t.Skipf("cannot set the immutable attribute here: %v", err)
		}
		t.Cleanup(func() { _ = setImmutable(root, false) })
		_, err := Open(root)
		if err == nil || !strings.Contains(err.Error(), "not writable") || !strings.Contains(err.Error(), root) {
			t.Errorf("Open of an immutable root = %v", err)
		}
	})
}

// fsImmutableFL is FS_IMMUTABLE_FL from <linux/fs.h> (not in x/sys/unix).
const fsImmutableFL = 0x00000010

// setImmutable sets or clears FS_IMMUTABLE_FL (chattr +i) on dir.
func setImmutable(dir string, on bool) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return controlFd(f, func(fd int) error {
		flags, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
		if err != nil {
			return err
		}
		if on {
			flags |= fsImmutableFL
		} else {
			flags &^= fsImmutableFL
		}
		return unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(flags))
	})
}

func TestOpenReadOnlyMissingRoot(t *testing.T) {
	root := filepath.Join(t.TempDir(), "missing")
	c, err := OpenReadOnly(root)
	if err != nil {
		t.Fatal(err)
	}
	if es, err := c.List(); err != nil || len(es) != 0 {
		t.Errorf("List of a missing root = %v, %v", es, err)
	}
	if _, err := os.Stat(root); err == nil {
		t.Error("OpenReadOnly/List created the root")
	}
	if _, err := Open(""); err == nil {
		t.Error("Open(\"\") accepted")
	}
}
