package preflight

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Cost of the KVM preflight and of each of its steps. Timing lives here,
// never in pass/fail tests. Results: /work/notes/preflight-results.md.
//
//	go test -run '^$' -bench 'CheckKVM|KVMStep' -benchtime 2s ./preflight

func BenchmarkCheckKVM(b *testing.B) {
	dev := requireKVMBench(b)
	ctx := context.Background()

	b.Run("cached", func(b *testing.B) {
		opts := KVMOptions{Device: dev, CacheDir: b.TempDir()}
		if _, err := CheckKVM(ctx, opts); err != nil { // warm the cache
			b.Fatal(err)
		}
		b.ResetTimer()
		for b.Loop() {
			rep, err := CheckKVM(ctx, opts)
			if err != nil || !rep.Cached {
				b.Fatalf("cached=%v err=%v", rep.Cached, err)
			}
		}
	})
	b.Run("uncached", func(b *testing.B) {
		opts := KVMOptions{Device: dev, NoCache: true}
		var hlt, tp time.Duration
		var nsIter float64
		n := 0
		for b.Loop() {
			rep, err := CheckKVM(ctx, opts)
			if err != nil {
				b.Fatal(err)
			}
			hlt += rep.Steps.HLTProbe
			tp += rep.Steps.ThroughputProbe
			nsIter += rep.NsPerIteration
			n++
		}
		b.ReportMetric(float64(hlt.Nanoseconds())/float64(n), "hlt-probe-ns/op")
		b.ReportMetric(float64(tp.Nanoseconds())/float64(n), "throughput-probe-ns/op")
		b.ReportMetric(nsIter/float64(n), "guest-ns/iteration")
	})
}

// The steps one by one.
func BenchmarkKVMStep(b *testing.B) {
	dev := requireKVMBench(b)
	ctx := context.Background()

	b.Run("open+close", func(b *testing.B) {
		for b.Loop() {
			fd, err := openKVMDevice(dev)
			if err != nil {
				b.Fatal(err)
			}
			unix.Close(fd)
		}
	})

	fd, err := openKVMDevice(dev)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fd)

	b.Run("api_version", func(b *testing.B) {
		for b.Loop() {
			if v, errno := kvmIoctl(fd, kvmGetAPIVersion, 0); errno != 0 || v != 12 {
				b.Fatalf("version %d errno %v", v, errno)
			}
		}
	})
	b.Run("create_vm+vcpu", func(b *testing.B) {
		for b.Loop() {
			vm, err := newProbeVM(fd, dev)
			if err != nil {
				b.Fatal(err)
			}
			vm.close()
		}
	})
	b.Run("hlt_probe_run", func(b *testing.B) {
		vm, err := newProbeVM(fd, dev)
		if err != nil {
			b.Fatal(err)
		}
		defer vm.close()
		for b.Loop() {
			if _, _, err := vm.hltProbe(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("throughput_probe_run", func(b *testing.B) {
		vm, err := newProbeVM(fd, dev)
		if err != nil {
			b.Fatal(err)
		}
		defer vm.close()
		for b.Loop() {
			if _, _, _, err := vm.throughputProbe(ctx, DefaultProbeIterations, DefaultProbeBudget); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cache_lookup", func(b *testing.B) {
		opts := KVMOptions{Device: dev, CacheDir: b.TempDir()}
		c, note := openProbeCache(opts, fd, dev)
		if c == nil {
			b.Fatal(note)
		}
		if err := c.store(testVerdict()); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, ok, note := c.load(); !ok {
				b.Fatal(note)
			}
		}
	})
}

func requireKVMBench(b *testing.B) string {
	dev := KVMOptions{}.device()
	fd, err := unix.Open(dev, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Skipf("no usable KVM device: open %s: %v", dev, err)
	}
	unix.Close(fd)
	return dev
}
