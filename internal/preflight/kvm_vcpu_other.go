//go:build !amd64

package preflight

import (
	"context"
	"errors"
	"runtime"
	"time"
)

// probeVM is a placeholder on architectures whose guest probes are not
// written yet: the probes need architecture-specific guest code and
// register ioctls (kvm_vcpu_amd64.go has the x86_64 ones).
type probeVM struct{}

func newProbeVM(kvmFD int, device string) (*probeVM, error) {
	return nil, newKVMFault(device, "KVM probe",
		"the guest probes are implemented for x86_64 only, not "+runtime.GOARCH,
		"run on an x86_64 host")
}

func (vm *probeVM) close() {}

func (vm *probeVM) hltProbe(ctx context.Context) (uint16, uint8, error) {
	return 0, 0, errProbeUnsupported
}

func (vm *probeVM) throughputProbe(ctx context.Context, n uint32, budget time.Duration) (int64, time.Duration, bool, error) {
	return 0, 0, false, errProbeUnsupported
}

var errProbeUnsupported = errors.New("KVM guest probes are not implemented on " + runtime.GOARCH)
