package vmm

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// A dynamic executable brings its interpreter and libraries, libc among
// them, each once.
func TestELFRuntimeDynamic(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip(err)
	}
	sh, _ = filepath.EvalSymlinks(sh)
	files, err := elfRuntime(sh)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 || !strings.Contains(files[0], "ld-linux") {
		t.Fatalf("elfRuntime(%s) = %q, want the interpreter first and libraries", sh, files)
	}
	if !slices.ContainsFunc(files, func(f string) bool { return strings.HasPrefix(filepath.Base(f), "libc.so") }) {
		t.Errorf("no libc in %q", files)
	}
	seen := map[string]bool{}
	for _, f := range files {
		if seen[f] {
			t.Errorf("%s twice in %q", f, files)
		}
		seen[f] = true
	}
}

// A static Go executable needs nothing.
func TestELFRuntimeStatic(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip(err)
	}
	out := filepath.Join(t.TempDir(), "static")
	src := filepath.Join(t.TempDir(), "main.go")
	if err := writeFile(src, "package main\nfunc main() {}\n"); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), goTool, "build", "-o", out, src)
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	files, err := elfRuntime(out)
	if err != nil || files != nil {
		t.Errorf("elfRuntime(static) = %q, %v", files, err)
	}
	if _, err := elfRuntime(src); err == nil {
		t.Error("a Go source file read as an ELF executable")
	}
}

func writeFile(path, data string) error { return os.WriteFile(path, []byte(data), 0o644) }
