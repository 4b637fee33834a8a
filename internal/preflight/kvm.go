// Package preflight holds the checks ktest runs before `go test`: the KVM
// preflight (open /dev/kvm, API version, guest probes, acceleration verdict;
// docs/spec.md §4), kernel image validation (§5) and kernel resolution.
package preflight

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultKVMDevice is the device CheckKVM opens when neither
// KVMOptions.Device nor KTEST_KVM_DEVICE names another.
const DefaultKVMDevice = "/dev/kvm"

// KVMDeviceEnv overrides the device path (docs/spec.md §4; used by tests).
const KVMDeviceEnv = "KTEST_KVM_DEVICE"

// Throughput-probe defaults (docs/spec.md §4: about 100k iterations, bounded to
// about 100 ms).
const (
	DefaultProbeIterations = 100_000
	DefaultProbeBudget     = 100 * time.Millisecond
)

// KVMOptions configures CheckKVM. The zero value is the production setting.
type KVMOptions struct {
	// Device is the KVM device path; "" means $KTEST_KVM_DEVICE, else
	// /dev/kvm.
	Device string
	// NoCache disables the per-boot probe cache: the probes always run and
	// nothing is read or written.
	NoCache bool
	// CacheDir is the directory of the probe cache file; "" means
	// os.UserCacheDir()/ktest ($XDG_CACHE_HOME/ktest or ~/.cache/ktest).
	CacheDir string
	// BootID keys the cache; "" means /proc/sys/kernel/random/boot_id.
	// Tests set it to simulate a reboot.
	BootID string
	// ProbeIterations is the loop count of the throughput probe; 0 means
	// DefaultProbeIterations.
	ProbeIterations uint32
	// ProbeBudget bounds the throughput probe's guest run; 0 means
	// DefaultProbeBudget.
	ProbeBudget time.Duration

	// onProbe, when set, is called each time the probes actually run (not
	// when the verdict comes from the cache). Tests count with it.
	onProbe func()
	// afterHLT, when set, is called between the HLT and the throughput
	// probe. Tests cancel there.
	afterHLT func()
}

// KVMReport is what CheckKVM found. It is written into sidecars and
// `ktest doctor --json`, so its JSON names are part of that schema.
// Durations are in nanoseconds.
type KVMReport struct {
	// Device is the device path that was checked.
	Device string `json:"device"`
	// APIVersion is KVM_GET_API_VERSION's answer (12 on every sane host);
	// 0 when the device could not be opened.
	APIVersion int `json:"api_version"`
	// HLTProbePassed reports that a vCPU ran `out 0x10,0x42; hlt` and
	// exited with IO and then HLT.
	HLTProbePassed bool `json:"hlt_probe_passed"`
	// ProbeIOPort and ProbeIOValue are the port and byte of the HLT probe's
	// IO exit (0x10 and 0x42 when it passed).
	ProbeIOPort  uint16 `json:"probe_io_port"`
	ProbeIOValue uint8  `json:"probe_io_value"`
	// ThroughputIterations is how many loop iterations the throughput
	// probe completed, in ThroughputElapsed.
	ThroughputIterations int64         `json:"throughput_iterations"`
	ThroughputElapsed    time.Duration `json:"throughput_elapsed_ns"`
	// NsPerIteration is ThroughputElapsed / ThroughputIterations: about 1
	// under hardware virtualisation, about 1000 on an emulated /dev/kvm.
	NsPerIteration float64 `json:"ns_per_iteration"`
	// ThroughputBudgetHit reports that the time budget, not the loop's
	// end, stopped the throughput probe.
	ThroughputBudgetHit bool `json:"throughput_budget_hit"`
	// Accel is AccelKVM when the probe measured hardware speed, else
	// AccelTCG (also when the device failed): the value for KTEST_ACCEL.
	Accel string `json:"accel"`
	// Status is the human line: "KVM accelerated", "KVM present but not
	// accelerated (N ns/iteration; hardware ≈1 ns)", or why KVM is unusable.
	Status string `json:"status"`
	// Cached reports that the probe verdict came from the per-boot cache
	// (the open and API version check ran anyway).
	Cached bool `json:"cached"`
	// ProbedAt is when the probes ran (earlier than now when Cached).
	ProbedAt time.Time `json:"probed_at,omitzero"`
	// BootID is the boot the verdict belongs to; "" when the cache is off.
	BootID string `json:"boot_id,omitempty"`
	// ProbeCost is what the probes cost this call: 0 when Cached.
	ProbeCost time.Duration `json:"probe_cost_ns"`
	// Cost is the whole CheckKVM call.
	Cost time.Duration `json:"cost_ns"`
	// Steps breaks Cost down.
	Steps KVMStepCosts `json:"steps"`
	// CacheNote says why the cache was not used or not updated, if it
	// could not be (an unreadable boot_id, an unwritable directory). Cache
	// trouble never fails the check; it only costs a probe.
	CacheNote string `json:"cache_note,omitempty"`
}

// KVMStepCosts are the wall times of CheckKVM's steps, in nanoseconds.
type KVMStepCosts struct {
	Open            time.Duration `json:"open_ns"`
	APIVersion      time.Duration `json:"api_version_ns"`
	CacheLookup     time.Duration `json:"cache_lookup_ns"`
	HLTProbe        time.Duration `json:"hlt_probe_ns"` // includes VM and vCPU creation
	ThroughputProbe time.Duration `json:"throughput_probe_ns"`
	CacheStore      time.Duration `json:"cache_store_ns"`
}

// CheckKVM runs the §4 KVM preflight: open the device read-write, check
// KVM_GET_API_VERSION is 12, then take the probe verdict from the per-boot
// cache or run the probes (HLT probe and throughput probe) and cache their
// verdict. The open and the version check run every time, so a permission
// change is seen at once.
//
// Errors are *KVMError (find them with errors.As and branch on Class); when
// both probes fail, both errors are returned in a *multierror.Error. A
// cancelled ctx stops a running probe and is returned wrapped. The report
// is returned with whatever was learnt, also on error; its Accel is AccelTCG
// unless the probes measured hardware speed. CheckKVM leaves no fd, mapping,
// goroutine or locked thread behind.
func CheckKVM(ctx context.Context, opts KVMOptions) (rep KVMReport, err error) {
	start := time.Now()
	device := opts.device()
	rep = KVMReport{Device: device, Accel: AccelTCG}
	defer func() {
		rep.Cost = time.Since(start)
		if err != nil && rep.Status == "" {
			rep.Status = unavailableStatus(err)
		}
	}()
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("check KVM %s: %w", device, err)
	}

	t := time.Now()
	fd, err := openKVMDevice(device)
	rep.Steps.Open = time.Since(t)
	if err != nil {
		return rep, err
	}
	defer unix.Close(fd)

	t = time.Now()
	version, errno := kvmIoctl(fd, kvmGetAPIVersion, 0)
	rep.Steps.APIVersion = time.Since(t)
	if errno != 0 {
		return rep, newKVMError(device, "ioctl KVM_GET_API_VERSION", errno)
	}
	rep.APIVersion = version
	if version != kvmWantAPIVersion {
		return rep, newKVMFault(device, "ioctl KVM_GET_API_VERSION",
			fmt.Sprintf("API version %d, want %d", version, kvmWantAPIVersion),
			"this KVM implementation is incompatible with Linux's KVM API; use a Linux host with a standard KVM module")
	}

	var cache *probeCache
	if !opts.NoCache {
		t = time.Now()
		cache, rep.CacheNote = openProbeCache(opts, fd, device)
		if cache != nil {
			rep.BootID = cache.bootID
			v, ok, note := cache.load()
			if note != "" {
				rep.CacheNote = note
			}
			rep.Steps.CacheLookup = time.Since(t)
			if ok {
				rep.Cached = true
				rep.fill(v)
				return rep, nil
			}
		}
		rep.Steps.CacheLookup = time.Since(t)
	}

	if opts.onProbe != nil {
		opts.onProbe()
	}
	v, costs, err := runProbes(ctx, fd, device, opts.probeIterations(), opts.probeBudget(), opts.afterHLT)
	rep.Steps.HLTProbe, rep.Steps.ThroughputProbe = costs.hlt, costs.throughput
	rep.ProbeCost = costs.hlt + costs.throughput
	rep.fill(v)
	if err != nil {
		return rep, err
	}
	if cache != nil {
		t = time.Now()
		if err := cache.store(v); err != nil {
			rep.CacheNote = err.Error()
		}
		rep.Steps.CacheStore = time.Since(t)
	}
	return rep, nil
}

// fill copies a probe verdict into the report. Accel is re-derived from the
// figure, so a verdict cached by an older threshold follows the current one.
func (rep *KVMReport) fill(v probeVerdict) {
	rep.HLTProbePassed = v.HLTPassed
	rep.ProbeIOPort, rep.ProbeIOValue = v.IOPort, v.IOValue
	rep.ThroughputIterations = v.Iterations
	rep.ThroughputElapsed = time.Duration(v.ElapsedNs)
	rep.NsPerIteration = v.NsPerIteration
	rep.ThroughputBudgetHit = v.BudgetHit
	rep.ProbedAt = v.ProbedAt
	if v.Accel != "" { // the throughput probe measured something
		rep.Accel = ClassifyAccel(v.NsPerIteration)
		rep.Status = AccelStatus(rep.Accel, v.NsPerIteration)
	}
}

// unavailableStatus is the report's Status when the check failed.
func unavailableStatus(err error) string {
	var kerr *KVMError
	if errors.As(err, &kerr) {
		switch kerr.Class {
		case ClassAbsent:
			return "KVM absent"
		case ClassPermission:
			return "KVM not permitted"
		case ClassContention:
			return "KVM unavailable (host under pressure)"
		}
	}
	return "KVM faulty"
}

// openKVMDevice opens the device O_RDWR|O_CLOEXEC and classifies a failure.
func openKVMDevice(device string) (int, error) {
	for {
		fd, err := unix.Open(device, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err == nil {
			return fd, nil
		}
		errno := errnoOf(err)
		if errno == unix.EINTR {
			continue
		}
		return -1, newKVMError(device, "open", errno)
	}
}

func (o KVMOptions) device() string {
	if o.Device != "" {
		return o.Device
	}
	if env := os.Getenv(KVMDeviceEnv); env != "" {
		return env
	}
	return DefaultKVMDevice
}

func (o KVMOptions) probeIterations() uint32 {
	if o.ProbeIterations == 0 {
		return DefaultProbeIterations
	}
	return o.ProbeIterations
}

func (o KVMOptions) probeBudget() time.Duration {
	if o.ProbeBudget <= 0 {
		return DefaultProbeBudget
	}
	return o.ProbeBudget
}

// errnoOf extracts the errno from an error returned by x/sys/unix (always a
// bare Errno there), or EIO when there is none.
func errnoOf(err error) syscall.Errno {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return unix.EIO
}
