package kerneltest

import (
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The public boundary (docs/spec.md §15): a kernel test binary links the
// test-side library and what it needs, never ktest's own side. These tests
// pin the import graph with go list, so that a new import that drags in
// the runner, the cache, the KVM code or the stats fails here rather than
// growing every user's test binary.

const module = "github.com/ktest-dev/ktest/"

// boundaryAllowed is every package of this module that kerneltest and vm
// may link. Adding one is a decision: it becomes part of every kernel test
// binary.
var boundaryAllowed = []string{
	"kerneltest",
	"vm",
	"vm/internal/protocol",
	"internal/testproto",   // the protocol with ktest: environment, banner, sidecar, host snapshot
	"internal/kernelimage", // the image header: validating KTSTR_TEST_KERNEL, its release
	"internal/initramfs",   // the guest's newc archive
	"internal/atomicfile",
	"internal/filekind",
	"internal/regularfile",
	"internal/termtext",
	"internal/hostres",    // /proc/meminfo and CPU-list parsers shared with host admission (stdlib only)
	"internal/vmm",        // the guest engine kerneltest.Run boots (shared with ktest --vm)
	"internal/vminit",     // its guest init: the test binary is the guest's init
	"internal/vmproto",    // their control channel
	"internal/guestevent", // kerneltest.Run's events from the guest body
	"internal/modload",    // the init's module loader (as vm/guest's)
}

// runnerSide is what no test-side package may link, whatever else changes:
// ktest's own packages, and the standard and third-party packages only
// they need (templates for stats --html, networking, the test2json
// machinery, compressors for kernel fetch).
var runnerSide = []string{
	module + "internal/runner",
	module + "internal/cli",
	module + "internal/preflight",
	module + "internal/cache",
	module + "internal/skipreport",
	module + "internal/kernelfetch",
	module + "internal/reaper",
	module + "internal/outfile",
	module + "internal/bzimage",
	module + "internal/kmod",
	"html/template",
	"text/template",
	"net",
	"net/http",
	"crypto/tls",
	"os/user",
	"gotest.tools/gotestsum/testjson",
	"github.com/jstemmer/go-junit-report/v2/junit",
	"github.com/pierrec/lz4/v4",
}

// goListDeps returns the packages pkgs link (go list -deps), for the
// build of this host.
func goListDeps(t *testing.T, pkgs ...string) []string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go list needs the go command: %v", err)
	}
	args := append([]string{"list", "-deps"}, pkgs...)
	out, err := exec.CommandContext(t.Context(), goTool, args...).Output()
	if err != nil {
		var stderr string
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list -deps %v: %v\n%s", pkgs, err, stderr)
	}
	return strings.Fields(string(out))
}

func TestBoundaryDependencies(t *testing.T) {
	t.Parallel()
	deps := goListDeps(t, module+"kerneltest", module+"vm")
	if !slices.Contains(deps, module+"internal/testproto") {
		t.Fatalf("go list -deps lists no internal/testproto: %v", deps)
	}
	for _, p := range deps {
		rel, ours := strings.CutPrefix(p, module)
		if ours && !slices.Contains(boundaryAllowed, rel) {
			t.Errorf("kerneltest or vm links %s, which is not on the list of packages a kernel test binary may carry (boundaryAllowed)", p)
		}
		if slices.Contains(runnerSide, p) || strings.HasPrefix(p, "net/") || strings.HasPrefix(p, "html/") || strings.HasPrefix(p, "gotest.tools/") {
			t.Errorf("kerneltest or vm links %s, which belongs to ktest's own side", p)
		}
	}
	// vm links no decompressor; kerneltest does, for its guests' init
	// (a kernel test binary is the init, and loads compressed modules as
	// vm/guest does).
	for _, p := range goListDeps(t, module+"vm") {
		if strings.HasPrefix(p, "github.com/klauspost/") || strings.HasPrefix(p, "github.com/ulikunitz/") {
			t.Errorf("vm links %s, a module decompressor", p)
		}
	}
}

// vm/guest is linked into guest programs. It may decompress kernel
// modules (klauspost/compress, xz), but links nothing of ktest's side.
func TestGuestDependencies(t *testing.T) {
	t.Parallel()
	for _, p := range goListDeps(t, module+"vm/guest") {
		if slices.Contains(runnerSide, p) || strings.HasPrefix(p, "net/") || strings.HasPrefix(p, "html/") || strings.HasPrefix(p, "gotest.tools/") {
			t.Errorf("vm/guest links %s, which belongs to ktest's own side", p)
		}
	}
}

// publicAPI is what examples, and so test authors, may import of this
// module (docs/spec.md §15).
var publicAPI = []string{module + "kerneltest", module + "vm", module + "vm/guest"}

// Every example can be copied into a user's project as it is: its files
// (tagged ones too) import nothing of this module but the public API.
func TestExamplesImportOnlyThePublicAPI(t *testing.T) {
	t.Parallel()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("go list needs the go command: %v", err)
	}
	out, err := exec.CommandContext(t.Context(), goTool, "list", "-tags", "ktest_guestfail,ktest_contention",
		"-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}{{range .TestImports}} {{.}}{{end}}{{range .XTestImports}} {{.}}{{end}}`,
		module+"examples/...").Output()
	if err != nil {
		t.Fatalf("go list ./examples/...: %v", err)
	}
	n := 0
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		n++
		pkg := fields[0]
		for _, imp := range fields[1:] {
			if strings.HasPrefix(imp, module) && !strings.HasPrefix(imp, pkg+"/") && !slices.Contains(publicAPI, imp) {
				t.Errorf("%s imports %s: examples may import only %v of this module", pkg, imp, publicAPI)
			}
		}
	}
	if n < 4 {
		t.Fatalf("go list found %d example packages:\n%s", n, out)
	}
}
