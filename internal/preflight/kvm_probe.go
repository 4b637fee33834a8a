package preflight

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/go-multierror"
)

// probeVerdict is what the probes found; it is what the per-boot cache
// stores, so its JSON form is part of the cache file format.
type probeVerdict struct {
	HLTPassed      bool      `json:"hlt_passed"`
	IOPort         uint16    `json:"io_port"`
	IOValue        uint8     `json:"io_value"`
	Iterations     int64     `json:"iterations"`
	ElapsedNs      int64     `json:"elapsed_ns"`
	NsPerIteration float64   `json:"ns_per_iteration"`
	BudgetHit      bool      `json:"budget_hit"`
	Accel          string    `json:"accel"`
	ProbedAt       time.Time `json:"probed_at"`
}

// probeCosts are the wall times of the probe steps.
type probeCosts struct {
	hlt        time.Duration // VM and vCPU creation plus the HLT probe
	throughput time.Duration
}

// runProbes creates a VM on the open /dev/kvm fd kvmFD (owned by the caller)
// and runs the HLT probe and the throughput probe on it. The two probes are
// independent: a failed HLT probe does not stop the throughput probe, and
// every failure is collected. A failure to create the VM stops both.
func runProbes(ctx context.Context, kvmFD int, device string, iterations uint32, budget time.Duration, afterHLT func()) (probeVerdict, probeCosts, error) {
	var v probeVerdict
	var costs probeCosts
	start := time.Now()
	vm, err := newProbeVM(kvmFD, device)
	if err != nil {
		costs.hlt = time.Since(start)
		return v, costs, err
	}
	defer vm.close()

	var errs *multierror.Error
	port, value, err := vm.hltProbe(ctx)
	v.IOPort, v.IOValue = port, value
	v.HLTPassed = err == nil
	errs = multierror.Append(errs, err)
	costs.hlt = time.Since(start)
	if afterHLT != nil {
		afterHLT()
	}

	// A cancellation during the HLT probe (which need not notice it) ends
	// the check with the context's error: no verdict without a throughput
	// figure may be reported, or cached, as a result.
	if err := ctx.Err(); err != nil {
		errs = multierror.Append(errs, fmt.Errorf("probe %s: %w", device, err))
	} else {
		start = time.Now()
		n, elapsed, budgetHit, err := vm.throughputProbe(ctx, iterations, budget)
		costs.throughput = time.Since(start)
		errs = multierror.Append(errs, err)
		if err == nil {
			v.Iterations = n
			v.ElapsedNs = elapsed.Nanoseconds()
			v.BudgetHit = budgetHit
			v.NsPerIteration = nsPerIteration(elapsed, n)
			v.Accel = ClassifyAccel(v.NsPerIteration)
		}
	}
	v.ProbedAt = time.Now().UTC()
	return v, costs, errs.ErrorOrNil()
}
