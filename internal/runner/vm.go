package runner

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/ktest-dev/ktest/internal/hint"
	"github.com/ktest-dev/ktest/internal/preflight"
	"github.com/ktest-dev/ktest/internal/shellword"
	"github.com/ktest-dev/ktest/internal/skipreport"
	"github.com/ktest-dev/ktest/internal/termtext"
	"github.com/ktest-dev/ktest/internal/vmconfig"
	"github.com/ktest-dev/ktest/internal/vmenv"
)

// VMExecCommand is the hidden subcommand go test runs each test binary
// through under --vm: `ktest vm-exec BINARY ARGS...`.
const VMExecCommand = "vm-exec"

// vmPlan is what --vm decided before go test starts: the wrapper, the
// host's tools, and each pass's guest configuration.
type vmPlan struct {
	exe   string
	tools preflight.VMTools
	// jobs is the run's bound on guests at once (the record's), and
	// slots whether vm-exec enforces it (--vm-jobs below go's -p).
	jobs    int
	slots   bool
	jobsDir string
	// shape is the guests' of the main module: flags over its
	// .ktest.toml (shapeFile, "" without one) over the defaults.
	shape     vmconfig.VM
	shapeFile string
}

// checkUserExec refuses a -exec of the user's own under --vm: go test
// runs each test binary through one wrapper only, and --vm's is ktest.
// Both the command line (before -args) and GOFLAGS are looked at.
func checkUserExec(opts Options) error {
	var found []string
	args := goTestFlags(opts.GoArgs)
	for i := 0; i < len(args); i++ {
		if flagName(args[i]) != "exec" {
			continue
		}
		a := args[i]
		if !strings.Contains(a, "=") && i+1 < len(args) {
			i++
			a += " " + args[i]
		}
		found = append(found, a)
	}
	for _, f := range strings.Fields(opts.getenv("GOFLAGS")) {
		if flagName(f) == "exec" {
			found = append(found, "GOFLAGS="+f)
		}
	}
	if len(found) == 0 {
		return nil
	}
	for i, f := range found {
		found[i] = termtext.Quote(f)
	}
	what := "a -exec of its own"
	if len(found) > 1 {
		what += fmt.Sprintf(" (given %d times)", len(found))
	}
	return hint.Wrap(fmt.Errorf("--vm runs every test binary through ktest vm-exec, so it cannot take %s: %s", what, strings.Join(found, ", ")),
		"drop -exec (and any -exec in GOFLAGS): under --vm the test binaries already run inside the kernel, as root")
}

// goParallel is go test's -p from the command line or GOFLAGS (the last
// one wins, as in go), 0 when neither sets it.
func goParallel(opts Options) int {
	p := 0
	for _, f := range strings.Fields(opts.getenv("GOFLAGS")) {
		if flagName(f) == "p" {
			p, _ = strconv.Atoi(f[strings.IndexByte(f, '=')+1:])
		}
	}
	args := goTestFlags(opts.GoArgs)
	for i := 0; i < len(args); i++ {
		if flagName(args[i]) != "p" {
			continue
		}
		v := ""
		if eq := strings.IndexByte(args[i], '='); eq >= 0 {
			v = args[i][eq+1:]
		} else if i+1 < len(args) {
			i++
			v = args[i]
		}
		if n, err := strconv.Atoi(v); err == nil {
			p = n
		}
	}
	return p
}

// planVM runs --vm's preflight: the user's -exec, QEMU and virtiofsd, and
// each pass's kernel. It fills each pass's guest configuration. Notices
// (the initramfs fallback) go to stderr; problems are errors with hints,
// every one together.
func planVM(opts Options, passes []*kernelPass) (*vmPlan, error) {
	vm := opts.VM
	if err := checkUserExec(opts); err != nil {
		return nil, err
	}
	plan := &vmPlan{exe: vm.Exe}
	if plan.exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find ktest's own binary for go test -exec: %w", err)
		}
		plan.exe = exe
	}
	tools, err := preflight.FindVMTools(opts.getenv("PATH"), opts.Resolve.HostRoot)
	if err != nil {
		return nil, err
	}
	plan.tools = tools
	if tools.Virtiofsd == "" {
		fmt.Fprintf(opts.Stderr, "ktest: notice: no virtiofsd (looked for %s): the guests get the test binary and its module tree in the initramfs instead of the host's files over virtio-fs\n  hint: install virtiofsd (Debian: apt-get install virtiofsd, or qemu-system-common ships /usr/lib/qemu/virtiofsd)\n",
			strings.Join(tools.VirtiofsdLooked, ", "))
	}
	p := goParallel(opts)
	switch {
	case vm.Jobs > 0 && p == 0:
		// go runs at most -p test binaries at once: --vm-jobs is that.
		plan.jobs = vm.Jobs
	case vm.Jobs > 0 && vm.Jobs < p:
		plan.jobs, plan.slots = vm.Jobs, true
	case vm.Jobs > 0:
		plan.jobs = p
	case p > 0:
		plan.jobs = p
	default:
		plan.jobs = runtime.GOMAXPROCS(0)
	}

	// The shape the main module's packages get (each package's vm-exec
	// resolves its own module's file); a broken file fails the run now.
	dir := opts.Dir
	if dir == "" {
		dir, _ = os.Getwd()
	}
	plan.shape, plan.shapeFile, err = vmconfig.Resolve(dir, vmconfig.VM{CPUs: vm.CPUs, MemoryMB: int64(vm.MemoryMB), Modules: vm.Modules, Setup: vm.Setup})
	if err != nil {
		return nil, hint.Wrap(err, "fix the module's "+vmconfig.FileName+" (docs/spec.md §19)")
	}

	var errs []error
	for _, pass := range passes {
		// The flags only: vm-exec layers them over the package's file.
		pass.vm = &vmenv.Config{CPUs: vm.CPUs, MemoryMB: vm.MemoryMB, Accel: pass.pre.KVM.Accel, QEMU: tools.QEMU,
			Modules: vm.Modules, Setup: vm.Setup, ResultCache: true}
		k := pass.pre.Kernel()
		if k == nil {
			// The pass's tests get no kernel (a SKIP): vm-exec says so
			// for each test binary without booting.
			pass.vm.Transport = vmenv.TransportInitramfs
			if tools.Virtiofsd != "" {
				pass.vm.Transport, pass.vm.Virtiofsd = vmenv.TransportVirtiofs, tools.Virtiofsd
			}
			continue
		}
		sup := preflight.CheckVMKernel(k, opts.Resolve.HostRoot)
		if err := sup.Err(k.Path); err != nil {
			errs = append(errs, err)
			continue
		}
		switch {
		case tools.Virtiofsd != "" && sup.Virtiofs:
			pass.vm.Transport, pass.vm.Virtiofsd = vmenv.TransportVirtiofs, tools.Virtiofsd
		case tools.Virtiofsd != "":
			fmt.Fprintf(opts.Stderr, "ktest: notice: kernel %s has no virtio-fs (%s): its guests get the test binary and its module tree in the initramfs\n", termtext.Line(k.Path), sup.VirtiofsWhy)
			fallthrough
		default:
			if !sup.Initramfs {
				errs = append(errs, hint.Wrap(fmt.Errorf("--vm cannot use kernel %s without virtiofsd: it cannot unpack an initramfs (%s)", k.Path, sup.InitramfsWhy),
					"install virtiofsd, or use a kernel built with CONFIG_BLK_DEV_INITRD"))
			}
			pass.vm.Transport = vmenv.TransportInitramfs
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return plan, nil
}

// execArg is the -exec go test runs each test binary through. go splits
// its value into words as a shell would (quotes respected).
func (p *vmPlan) execArg() string {
	return "-exec=" + shellword.Quote(p.exe) + " " + VMExecCommand
}

// withVM puts the wrapper into go test's command line, right after
// `test -json`, and --vm-jobs as go's -p when the user set no -p.
func (p *vmPlan) withVM(cmd goCommand, opts Options) goCommand {
	args := append([]string{}, cmd.Args[:2]...)
	args = append(args, p.execArg())
	if opts.VM.Jobs > 0 && goParallel(opts) == 0 {
		args = append(args, "-p="+strconv.Itoa(opts.VM.Jobs))
	}
	cmd.Args = append(args, cmd.Args[2:]...)
	return cmd
}

// prepareSlots makes the run's slot directory when vm-exec must bound the
// guests itself; cleanup removes it.
func (p *vmPlan) prepareSlots(passes []*kernelPass) (cleanup func(), err error) {
	if !p.slots {
		return func() {}, nil
	}
	dir, err := os.MkdirTemp("", "ktest-vmjobs-")
	if err != nil {
		return nil, fmt.Errorf("create --vm-jobs slot directory: %w", err)
	}
	p.jobsDir = dir
	for _, pass := range passes {
		pass.vm.Jobs, pass.vm.JobsDir = p.jobs, dir
	}
	// Only this run's slot lockfiles are in it.
	return func() { os.RemoveAll(dir) }, nil
}

// vmEnv is the pass's KTEST_VM_CONFIG, nil without --vm.
func (pass *kernelPass) vmEnv() []string {
	if pass.vm == nil {
		return nil
	}
	return []string{pass.vm.EnvVar()}
}

// vmLine describes the pass's guests for --dry-run.
func (p *vmPlan) vmLine(pass *kernelPass) string {
	c := pass.vm
	s := fmt.Sprintf("vm: %d CPUs, %d MiB", p.shape.CPUs, p.shape.MemoryMB)
	if p.shapeFile != "" {
		s += " (flags over " + p.shapeFile + ")"
	}
	if len(p.shape.Modules) > 0 {
		s += ", modules " + strings.Join(p.shape.Modules, " ")
	}
	if len(p.shape.Setup) > 0 {
		s += fmt.Sprintf(", %d setup commands", len(p.shape.Setup))
	}
	s += fmt.Sprintf(", accel %s, transport %s, qemu %s", c.Accel, c.Transport, c.QEMU)
	if c.Virtiofsd != "" {
		s += ", virtiofsd " + c.Virtiofsd
	}
	return termtext.Line(s)
}

// vmRecord is run.json's vm (nil without --vm).
func vmRecord(plan *vmPlan, passes []*kernelPass) *skipreport.VMRecord {
	if plan == nil {
		return nil
	}
	rec := &skipreport.VMRecord{Jobs: plan.jobs, QEMU: plan.tools.QEMU, Virtiofsd: plan.tools.Virtiofsd,
		CPUs: plan.shape.CPUs, MemoryMB: int(plan.shape.MemoryMB)}
	for i, p := range passes {
		if p.vm == nil {
			continue
		}
		switch {
		case i == 0:
			rec.Transport = p.vm.Transport
		case rec.Transport != p.vm.Transport:
			rec.Transport = ""
		}
	}
	return rec
}
