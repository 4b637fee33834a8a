package resultcache

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func baseInputs(t *testing.T) Inputs {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pkg.test")
	if err := os.WriteFile(bin, []byte("\x7fELF binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	return Inputs{
		Binary: bin, KernelKey: "6.1.0-50-amd64-abc", KernelHash: "sha256:1234",
		Args: []string{"-test.paniconexit0", "-test.timeout=10m0s"}, Dir: "/src/pkg",
		Env:   []string{"PATH=/bin", "HOME=/root", "KTEST_SIDECAR_DIR=/tmp/run1", "KTEST_RUN_ID=1"},
		Shape: Shape{CPUs: 2, MemoryMB: 1024, Accel: "tcg"},
	}
}

func mustKey(t *testing.T, in Inputs) Key {
	t.Helper()
	k, err := in.Key()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Every input changes the key; the environment's order and its volatile
// variables do not.
func TestKey(t *testing.T) {
	base := baseInputs(t)
	k0 := mustKey(t, base)
	if len(k0.String()) != 64 {
		t.Errorf("key %q is not 64 hex digits", k0)
	}

	same := base
	same.Env = []string{"KTEST_RUN_ID=2", "HOME=/root", "KTEST_VM_CONFIG={}", "PATH=/bin", "KTEST_SIDECAR_DIR=/tmp/run2"}
	if mustKey(t, same) != k0 {
		t.Error("the environment's order or its volatile variables changed the key")
	}
	nilVsEmpty := base
	nilVsEmpty.Shape.Modules = []string{}
	if mustKey(t, nilVsEmpty) != k0 {
		t.Error("an empty module list keys differently from none")
	}

	changes := map[string]func(*Inputs){
		"kernel key":  func(in *Inputs) { in.KernelKey = "6.12" },
		"kernel hash": func(in *Inputs) { in.KernelHash = "sha256:5678" },
		"args":        func(in *Inputs) { in.Args = append(in.Args, "-test.run=X") },
		"arg order":   func(in *Inputs) { in.Args = []string{in.Args[1], in.Args[0]} },
		"dir":         func(in *Inputs) { in.Dir = "/src/other" },
		"env":         func(in *Inputs) { in.Env = append(in.Env, "GOFLAGS=-tags=x") },
		"cpus":        func(in *Inputs) { in.Shape.CPUs = 4 },
		"memory":      func(in *Inputs) { in.Shape.MemoryMB = 2048 },
		"modules":     func(in *Inputs) { in.Shape.Modules = []string{"dummy"} },
		"setup":       func(in *Inputs) { in.Shape.Setup = []string{"ip link set lo up"} },
		"accel":       func(in *Inputs) { in.Shape.Accel = "kvm" },
		"extra":       func(in *Inputs) { in.Shape.Extra = []string{"transport=initramfs"} },
		// The split between fields is unambiguous (an argument cannot
		// move into the directory unnoticed).
		"split": func(in *Inputs) { in.Args = append(in.Args, in.Dir); in.Dir = "" },
	}
	for name, change := range changes {
		in := base
		in.Args = append([]string(nil), base.Args...)
		in.Env = append([]string(nil), base.Env...)
		change(&in)
		if mustKey(t, in) == k0 {
			t.Errorf("changing the %s kept the key", name)
		}
	}
	if err := os.WriteFile(base.Binary, []byte("\x7fELF binary 2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if mustKey(t, base) == k0 {
		t.Error("a changed test binary kept the key")
	}
	base.Binary = filepath.Dir(base.Binary)
	if _, err := base.Key(); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Key of a directory: err = %v, want a not-a-regular-file error", err)
	}
}

func TestBypass(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"-test.paniconexit0", "-test.timeout=10m0s", "-test.v=test2json", "-test.run=^TestX$", "-test.short=true"},
		{"-test.failfast=true", "-test.parallel=4", "-test.cpu=1,2", "-test.skip=Y", "-test.fullpath=true", "-test.list=.", "-test.benchtime=1x"},
	} {
		if reason, ok := Bypass(args, []string{"HOME=/root", "GOCOVERDIR="}); !ok {
			t.Errorf("Bypass(%q) = %q, want cacheable", args, reason)
		}
	}
	for _, c := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"-test.count=1"}, nil, "-test.count=1 asks for fresh runs"},
		{[]string{"-test.v=true", "-test.count=3"}, nil, "fresh runs"},
		{[]string{"-test.coverprofile=/tmp/c.out"}, nil, "would not replay"},
		{[]string{"-test.gocoverdir=/tmp/cov"}, nil, "would not replay"},
		{[]string{"-test.cpuprofile=cpu.out"}, nil, "would not replay"},
		{[]string{"-test.bench=."}, nil, "would not replay"},
		{[]string{"-test.fuzz=FuzzX"}, nil, "would not replay"},
		{[]string{"-test.shuffle=on"}, nil, "would not replay"},
		{[]string{"-test.testlogfile=/tmp/log"}, nil, "would not replay"},
		{[]string{"-test.newflag=1"}, nil, "not a cacheable flag"},
		{[]string{"-update"}, nil, "not a go test flag"},
		{[]string{"-test.run=X", "positional"}, nil, "not a go test flag"},
		{nil, []string{"GOCOVERDIR=/tmp/cov"}, "GOCOVERDIR"},
	} {
		reason, ok := Bypass(c.args, c.env)
		if ok || !strings.Contains(reason, c.want) {
			t.Errorf("Bypass(%q, %q) = %q, %v; want a bypass saying %q", c.args, c.env, reason, ok, c.want)
		}
	}
}
