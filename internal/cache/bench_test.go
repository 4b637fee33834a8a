package cache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pollAcquire is ktstr's waiting method, for comparison: LOCK_NB every 100 ms.
func pollAcquire(ctx context.Context, path string, mode LockMode) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return nil, err
	}
	how, _ := mode.flockHow()
	for {
		ok, err := tryFlock(f, how)
		if err != nil {
			f.Close()
			return nil, err
		}
		if ok {
			return func() { _ = flockFile(f, unix.LOCK_UN); f.Close() }, nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waiters are the two methods compared by the lock benchmarks.
var waiters = []struct {
	name    string
	acquire func(ctx context.Context, path string, mode LockMode) (func(), error)
}{
	{"inotify", func(ctx context.Context, path string, mode LockMode) (func(), error) {
		l, err := AcquireLock(ctx, path, mode, time.Hour, "bench")
		if err != nil {
			return nil, err
		}
		return func() { _ = l.Unlock() }, nil
	}},
	{"poll100ms", pollAcquire},
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(q*float64(len(sorted)-1)+0.5)]
}

// BenchmarkLockHandoff measures the latency from a holder process closing
// its lockfile descriptor (CLOCK_MONOTONIC just before close(2)) to a
// blocked waiter in this process returning with the lock, for ktest's
// inotify waiter and ktstr's 100 ms poll. The close comes 5-105 ms after
// the waiter started, a uniform phase against the poll period. ns/op
// includes that sleep and is meaningless; read p50-us and p99-us.
// Run with e.g. -benchtime=200x for stable percentiles.
func BenchmarkLockHandoff(b *testing.B) {
	for _, w := range waiters {
		b.Run(w.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "handoff.lock")
			holder := startHolder(b, path, Exclusive)
			r := rand.New(rand.NewPCG(1, 2))
			var lat []time.Duration
			type result struct {
				at      int64
				release func()
				err     error
			}
			for i := 0; i < b.N; i++ {
				done := make(chan result, 1)
				go func() {
					rel, err := w.acquire(context.Background(), path, Exclusive)
					done <- result{monotonicNow(), rel, err}
				}()
				time.Sleep(5*time.Millisecond + time.Duration(r.IntN(100_000))*time.Microsecond)
				holder.send(b, "close")
				line := holder.next(b, 30*time.Second)
				closedAt, err := strconv.ParseInt(strings.TrimPrefix(line, "closed "), 10, 64)
				if err != nil {
					b.Fatalf("holder printed %q", line)
				}
				res := <-done
				if res.err != nil {
					b.Fatal(res.err)
				}
				lat = append(lat, time.Duration(res.at-closedAt))
				res.release()
				holder.send(b, "lock")
				holder.expect(b, "locked")
			}
			slices.Sort(lat)
			us := func(d time.Duration) float64 { return float64(d) / 1e3 }
			b.ReportMetric(us(percentile(lat, 0.50)), "p50-us")
			b.ReportMetric(us(percentile(lat, 0.90)), "p90-us")
			b.ReportMetric(us(percentile(lat, 0.99)), "p99-us")
			b.ReportMetric(us(lat[len(lat)-1]), "max-us")
		})
	}
}

// cpuMeasureDuration is how long BenchmarkWaiterCPU blocks per method:
// 2 s, or KTEST_CACHE_CPU_SECONDS.
func cpuMeasureDuration(b *testing.B) time.Duration {
	if s := os.Getenv("KTEST_CACHE_CPU_SECONDS"); s != "" {
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			b.Fatalf("KTEST_CACHE_CPU_SECONDS=%q: %v", s, err)
		}
		return time.Duration(n * float64(time.Second))
	}
	return 2 * time.Second
}

func rusageSelf(b *testing.B) unix.Rusage {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru
}

// BenchmarkWaiterCPU measures this process's CPU time (getrusage
// RUSAGE_SELF, user+system) and voluntary context switches while one waiter
// is blocked on a lock another process holds, as % of one core and
// switches per second. "idle" is the same measurement with nothing waiting:
// the Go runtime's own background cost.
func BenchmarkWaiterCPU(b *testing.B) {
	d := cpuMeasureDuration(b)
	run := func(b *testing.B, wait func(ctx context.Context, path string)) {
		path := filepath.Join(b.TempDir(), "cpu.lock")
		startHolder(b, path, Exclusive)
		var cpu time.Duration
		var wall time.Duration
		var csw int64
		for i := 0; i < b.N; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), d)
			before, start := rusageSelf(b), time.Now()
			wait(ctx, path)
			after, elapsed := rusageSelf(b), time.Since(start)
			cancel()
			cpu += time.Duration(after.Utime.Nano()-before.Utime.Nano()) + time.Duration(after.Stime.Nano()-before.Stime.Nano())
			csw += after.Nvcsw - before.Nvcsw
			wall += elapsed
		}
		b.ReportMetric(100*float64(cpu)/float64(wall), "%core")
		b.ReportMetric(float64(csw)/wall.Seconds(), "ctxsw/s")
	}
	b.Run("idle", func(b *testing.B) {
		run(b, func(ctx context.Context, _ string) { <-ctx.Done() })
	})
	for _, w := range waiters {
		b.Run(w.name, func(b *testing.B) {
			run(b, func(ctx context.Context, path string) {
				if rel, err := w.acquire(ctx, path, Shared); err == nil {
					rel()
					b.Fatal("acquired a lock the holder still holds")
				}
			})
		})
	}
}

// BenchmarkStoreVsCpSync stores a 15 MiB image (copy, sha256, fsyncs,
// rename/exchange, delete of the old tree) and, in the same iteration,
// copies the same file with cp(1) followed by sync(1) on the copy, and
// reports both and their ratio: means (store-ms, cp+sync-ms, ratio) and,
// robust against a noisy shared machine, medians (store-p50-ms,
// cp+sync-p50-ms) and the median of the per-iteration ratios (ratio-p50).
func BenchmarkStoreVsCpSync(b *testing.B) {
	dir := b.TempDir()
	img, _ := makeImage(b, dir, "bzImage", 15<<20, 99)
	c, err := Open(filepath.Join(dir, "kernels"))
	if err != nil {
		b.Fatal(err)
	}
	dst := filepath.Join(dir, "copy")
	var store, cp time.Duration
	var stores, cps []time.Duration
	var ratios []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := c.Store(context.Background(), "bench", StoreSource{Image: img, Metadata: testMetadata()}); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if out, err := exec.Command("cp", img, dst).CombinedOutput(); err != nil {
			b.Fatalf("cp: %v %s", err, out)
		}
		if out, err := exec.Command("sync", dst).CombinedOutput(); err != nil {
			b.Fatalf("sync: %v %s", err, out)
		}
		t2 := time.Now()
		store += t1.Sub(t0)
		cp += t2.Sub(t1)
		stores, cps = append(stores, t1.Sub(t0)), append(cps, t2.Sub(t1))
		ratios = append(ratios, float64(t1.Sub(t0))/float64(t2.Sub(t1)))
		b.StopTimer()
		_ = os.Remove(dst)
		b.StartTimer()
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 / float64(b.N) }
	b.ReportMetric(ms(store), "store-ms")
	b.ReportMetric(ms(cp), "cp+sync-ms")
	b.ReportMetric(float64(store)/float64(cp), "ratio")
	slices.Sort(stores)
	slices.Sort(cps)
	slices.Sort(ratios)
	b.ReportMetric(float64(percentile(stores, 0.5))/1e6, "store-p50-ms")
	b.ReportMetric(float64(percentile(cps, 0.5))/1e6, "cp+sync-p50-ms")
	b.ReportMetric(ratios[len(ratios)/2], "ratio-p50")
}

// BenchmarkList1000 lists a cache of 1,000 valid entries. Besides ns/op
// (wall time) it reports cpu-ms: this process's user+system CPU time per
// List (getrusage), which a busy shared machine disturbs far less than wall
// time; with parallel reading, wall time on an idle machine approaches
// cpu-ms divided by the cores used.
func BenchmarkList1000(b *testing.B) {
	c, err := Open(filepath.Join(b.TempDir(), "kernels"))
	if err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		writeEntry(b, c.Root, fmt.Sprintf("6.%d.%d", i/100, i%100),
			metaJSON(time.Date(2025, 1, 1, 0, 0, i, 0, time.UTC).Format(BuiltAtLayout)), true)
	}
	b.ResetTimer()
	before := rusageSelf(b)
	n := 0
	for b.Loop() {
		es, err := c.List()
		if err != nil || len(es) != 1000 || !es[0].Valid() {
			b.Fatalf("List: %d entries, %v", len(es), err)
		}
		n++
	}
	after := rusageSelf(b)
	cpu := time.Duration(after.Utime.Nano()-before.Utime.Nano()) + time.Duration(after.Stime.Nano()-before.Stime.Nano())
	b.ReportMetric(float64(cpu)/1e6/float64(n), "cpu-ms")
}

// BenchmarkAcquireUncontended is the cost of AcquireLock+Unlock on a free lock.
func BenchmarkAcquireUncontended(b *testing.B) {
	path := filepath.Join(b.TempDir(), "free.lock")
	for b.Loop() {
		l, err := AcquireLock(context.Background(), path, Shared, time.Second, "bench")
		if err != nil {
			b.Fatal(err)
		}
		_ = l.Unlock()
	}
}
