package preflight

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/go-multierror"
)

// CheckKernels is Check for a run over several kernels (--kernel repeated,
// docs/spec.md §14): the KVM preflight runs once, then each of ids is
// resolved. It returns one Report per ID, in order; they share the KVM
// outcome and the host snapshot, and a KVM SKIP (contention, no-kvm by
// policy) is every report's. Every hard failure of every ID is collected
// in one error, as Check collects its own.
//
// Each ID must be explicit (a path, a version or a cache key): one that
// does not resolve is an error, never a fallback to another kernel. Two IDs
// that name the same image are an error too: their passes would be one
// kernel's results under two names (-count repeats tests). With a single
// ID (or none, ""), CheckKernels is Check.
func CheckKernels(ctx context.Context, opts Options, ids []string) ([]*Report, error) {
	if len(ids) == 0 {
		ids = []string{""}
	}
	first := opts
	first.Resolve.ID = ids[0]
	rep, err := Check(ctx, first)
	if len(ids) == 1 || ctx.Err() != nil {
		return []*Report{rep}, err
	}
	var hard *multierror.Error
	if err != nil && !errors.As(err, &hard) {
		hard = multierror.Append(hard, err)
	}
	reps := []*Report{rep}
	seen := map[string]string{}
	note := func(id string, k *Kernel) {
		if k == nil {
			return
		}
		if other, dup := seen[k.Path]; dup {
			hard = multierror.Append(hard, fmt.Errorf("--kernel %q and --kernel %q are the same kernel (%s): give each kernel once (-count=N repeats the tests)", other, id, k.Path))
			return
		}
		seen[k.Path] = id
	}
	note(ids[0], rep.Kernel())
	for _, id := range ids[1:] {
		ro := opts.Resolve
		ro.ID = id
		res, rerr := ResolveKernel(ro)
		r := &Report{KVM: rep.KVM, KVMError: rep.KVMError, Host: rep.Host, Resolution: res}
		if u := rep.Unavailable; u != nil {
			// An explicit ID never gives a no-kernel SKIP (it resolves
			// or fails), so this one is KVM's, and every pass's.
			copied := *u
			copied.Hints = append([]string(nil), u.Hints...)
			copied.Holders = append(copied.Holders[:0:0], u.Holders...)
			r.Unavailable = &copied
		}
		if rerr != nil {
			hard = multierror.Append(hard, fmt.Errorf("resolve kernel: %w", rerr))
		}
		note(id, res.Kernel)
		reps = append(reps, r)
	}
	if hard != nil {
		hard.ErrorFormat = listErrors
	}
	return reps, hard.ErrorOrNil()
}
