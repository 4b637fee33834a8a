package vm

import (
	"context"
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestCheckGuestBinary(t *testing.T) {
	dir := t.TempDir()
	notELF := filepath.Join(dir, "script")
	if err := os.WriteFile(notELF, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := checkGuestBinary(notELF); err == nil || !strings.Contains(err.Error(), "not an ELF executable") {
		t.Errorf("script: %v, want a not-ELF error", err)
	}

	// A minimal ELF64 header for AArch64 (e_machine 183).
	hdr := make([]byte, 64)
	copy(hdr, "\x7fELF\x02\x01\x01")
	binary.LittleEndian.PutUint16(hdr[16:], uint16(elf.ET_EXEC))
	binary.LittleEndian.PutUint16(hdr[18:], uint16(elf.EM_AARCH64))
	binary.LittleEndian.PutUint32(hdr[20:], 1)
	binary.LittleEndian.PutUint16(hdr[52:], 64) // e_ehsize
	arm := filepath.Join(dir, "arm")
	if err := os.WriteFile(arm, hdr, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := checkGuestBinary(arm); err == nil || !strings.Contains(err.Error(), "GOARCH=amd64") {
		t.Errorf("arm64 binary: %v, want a GOARCH hint", err)
	}

	// A dynamically linked host program, if this host has one.
	for _, p := range []string{"/bin/true", "/usr/bin/true"} {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		dynamic := false
		for _, prog := range f.Progs {
			dynamic = dynamic || prog.Type == elf.PT_INTERP
		}
		f.Close()
		if !dynamic || f.Machine != elf.EM_X86_64 {
			continue
		}
		if err := checkGuestBinary(p); err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
			t.Errorf("%s: %v, want a dynamically-linked error with the CGO_ENABLED=0 hint", p, err)
		}
		break
	}
}

func TestResolveGuestBuildsOncePerProcess(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not in PATH")
	}
	ctx := context.Background()
	const n = 3
	paths := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paths[i], errs[i] = resolveGuest(ctx, testGuestPkg)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("resolveGuest #%d: %v", i, errs[i])
		}
		if paths[i] != paths[0] {
			t.Errorf("concurrent resolveGuest calls built twice: %s vs %s", paths[i], paths[0])
		}
	}
	if err := checkGuestBinary(paths[0]); err != nil {
		t.Errorf("built guest is not a usable static binary: %v", err)
	}
	// A prebuilt binary is used as is.
	if p, err := resolveGuest(ctx, paths[0]); err != nil || p != paths[0] {
		t.Errorf("resolveGuest(binary) = %q, %v; want the binary itself", p, err)
	}
}

func TestResolveGuestErrors(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go command not in PATH")
	}
	if _, err := resolveGuest(context.Background(), "./does-not-exist"); err == nil || !strings.Contains(err.Error(), "does-not-exist") {
		t.Errorf("missing directory: %v", err)
	}
	// A package that does not compile: the error carries the compiler output.
	dir := t.TempDir()
	for name, content := range map[string]string{
		"go.mod":  "module example.com/broken\n\ngo 1.22\n",
		"main.go": "package main\n\nfunc main() { var x int = \"not an int\" }\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := resolveGuest(context.Background(), dir)
	if err == nil || !strings.Contains(err.Error(), "build guest package") || !strings.Contains(err.Error(), "main.go:3") {
		t.Errorf("broken package: %v, want a build error quoting the compiler", err)
	}
}
