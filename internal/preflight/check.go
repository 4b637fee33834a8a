package preflight

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/go-multierror"

	"github.com/ktest-dev/ktest/internal/fdlimit"
	"github.com/ktest-dev/ktest/internal/hint"
	"github.com/ktest-dev/ktest/internal/skipreport"
)

// OnNoKVM policies for an absent or forbidden /dev/kvm.
const (
	// OnNoKVMFail makes it a hard error (exit 3).
	OnNoKVMFail = "fail"
	// OnNoKVMSkip runs the tests without a kernel: those that need one
	// skip as no-kvm.
	OnNoKVMSkip = "skip"
	// OnNoKVMTCG runs the tests with the kernel, whose guests then run
	// under QEMU's software emulation (KTEST_ACCEL=tcg): slower, but
	// nothing skips. The kernel is resolved and locked as with KVM.
	OnNoKVMTCG = "tcg"
)

// OnNoKVMPolicies lists the valid OnNoKVM values, for flags and messages.
var OnNoKVMPolicies = []string{OnNoKVMFail, OnNoKVMSkip, OnNoKVMTCG}

// ValidOnNoKVM reports whether v is one of OnNoKVMPolicies.
func ValidOnNoKVM(v string) bool {
	for _, p := range OnNoKVMPolicies {
		if v == p {
			return true
		}
	}
	return false
}

// Options configure Check.
type Options struct {
	// OnNoKVM is OnNoKVMFail (default), OnNoKVMSkip or OnNoKVMTCG.
	OnNoKVM string
	KVM     KVMOptions
	Resolve ResolveOptions
}

// Unavailable says why the tests cannot have a kernel or KVM; the run goes
// on without KTSTR_TEST_KERNEL and tests that need one skip (docs/spec.md §3).
type Unavailable struct {
	Category skipreport.Category `json:"category"`
	Reason   string              `json:"reason"`
	// Errno is the symbolic errno ("EBUSY") when a system call said why.
	Errno string   `json:"errno"`
	Hints []string `json:"hints"`
	// Holders are the other processes holding the cache lock, for a lock
	// timeout.
	Holders []skipreport.HolderRecord `json:"holders,omitempty"`
}

// Report is everything decided before the tests start.
type Report struct {
	KVM        KVMReport               `json:"kvm"`
	KVMError   string                  `json:"kvm_error,omitempty"`
	Resolution Resolution              `json:"resolution"`
	Host       skipreport.HostSnapshot `json:"host"`
	// Unavailable is set when the run must go on without a kernel.
	Unavailable *Unavailable `json:"unavailable"`
}

// Kernel is the resolved kernel, or nil.
func (r *Report) Kernel() *Kernel { return r.Resolution.Kernel }

// Check runs the KVM preflight (docs/spec.md §4) and kernel resolution (§5) and
// classifies the outcome. Transient trouble and a missing kernel become
// Report.Unavailable (a SKIP); misconfiguration is returned as an error that
// collects every failed check, not just the first. A cancelled ctx is
// returned as is.
func Check(ctx context.Context, opts Options) (*Report, error) {
	rep := &Report{}
	var hard *multierror.Error

	kvm, kvmErr := CheckKVM(ctx, opts.KVM)
	rep.KVM = kvm
	if kvmErr != nil {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		rep.KVMError = kvmErr.Error()
		if u, err := classifyKVMFailure(kvmErr, opts.OnNoKVM); err != nil {
			hard = multierror.Append(hard, err)
		} else if u != nil {
			rep.Unavailable = u
		} else {
			// --on-no-kvm tcg: the run goes on with the kernel; CheckKVM
			// already reports AccelTCG for a device that failed.
			rep.KVM.Accel = AccelTCG
		}
	}

	res, resErr := ResolveKernel(opts.Resolve)
	rep.Resolution = res
	var missing *KernelUnavailableError
	switch {
	case errors.As(resErr, &missing):
		if rep.Unavailable == nil {
			rep.Unavailable = &Unavailable{Category: skipreport.NoKernel, Reason: missing.Reason, Hints: missing.Hints}
		}
	case resErr != nil:
		hard = multierror.Append(hard, fmt.Errorf("resolve kernel: %w", resErr))
	}

	rep.Host = skipreport.TakeHostSnapshot()
	if rep.Unavailable != nil && rep.Unavailable.Category == skipreport.Contention {
		rep.Unavailable.Reason += "; host: " + rep.Host.Summary()
	}
	if hard != nil {
		hard.ErrorFormat = listErrors
	}
	return rep, hard.ErrorOrNil()
}

// classifyKVMFailure maps a KVM failure to a SKIP or a hard error (§4). It
// returns neither for an absent or forbidden KVM under OnNoKVMTCG: the run
// then needs no KVM at all.
func classifyKVMFailure(err error, onNoKVM string) (*Unavailable, error) {
	var ke *KVMError
	if !errors.As(err, &ke) {
		return nil, fmt.Errorf("check KVM: %w", err)
	}
	errno := ""
	if ke.Errno != 0 {
		errno = errnoName(ke.Errno)
	}
	switch {
	case ke.Class == ClassContention:
		hints := []string{"the host is short of memory or file descriptors, or KVM is busy; retry when it is less loaded"}
		if h := fdlimit.Hint(ke); h != "" {
			hints = append(hints, h) // EMFILE is ktest's own limit, not the host's load
		}
		return &Unavailable{Category: skipreport.Contention, Reason: ke.Error(), Errno: errno, Hints: hints}, nil
	case (ke.Class == ClassAbsent || ke.Class == ClassPermission) && onNoKVM == OnNoKVMSkip:
		return &Unavailable{Category: skipreport.NoKVM, Reason: ke.Error(), Errno: errno, Hints: ke.Hints()}, nil
	case (ke.Class == ClassAbsent || ke.Class == ClassPermission) && onNoKVM == OnNoKVMTCG:
		return nil, nil
	case ke.Class == ClassAbsent || ke.Class == ClassPermission:
		return nil, hint.Wrap(err, "or run with --on-no-kvm tcg to boot guests under QEMU's software emulation, or --on-no-kvm skip to skip the tests that need a kernel")
	}
	return nil, err
}

// listErrors formats several preflight failures one per line.
func listErrors(errs []error) string {
	if len(errs) == 1 {
		return errs[0].Error()
	}
	lines := make([]string, len(errs))
	for i, e := range errs {
		lines[i] = "  * " + e.Error()
	}
	return fmt.Sprintf("preflight found %d problems:\n%s", len(errs), strings.Join(lines, "\n"))
}
