package vm

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ktest-dev/ktest/vm/internal/protocol"
)

// BenchmarkBootOverhead measures what vm.Run costs on top of QEMU itself.
// Each iteration boots the same kernel and guest three ways, in rotating
// order so that drift on a shared machine hits all three alike:
//
//	run:     vm.Run (builds the initramfs, starts QEMU, parses the console)
//	bare:    the plain command line from LINUX-FACTS.md (-nographic) on an
//	         initramfs built once up front
//	bareargs: the same prebuilt initramfs with exactly vm.Run's QEMU flags
//
// It reports medians in ms and the medians of the per-iteration ratios
// run/bare (the helper versus a hand-written command line) and
// run/bareargs (the helper's own overhead: initramfs build, process and
// console handling). Run it with:
//
//	go test ./vm -run '^$' -bench BootOverhead -benchtime 15x
func BenchmarkBootOverhead(b *testing.B) {
	kernel := testKernel(b)
	qemu, err := exec.LookPath(DefaultQEMU)
	if err != nil {
		b.Skipf("ktest: SKIP: no-qemu: %v", err)
	}
	ctx := context.Background()
	guestBin, err := resolveGuest(ctx, testGuestPkg)
	if err != nil {
		b.Fatal(err)
	}
	cfg := Config{Kernel: kernel, Guest: guestBin, Args: []string{"info"}, CPUs: 1, MemoryMB: 256, Accel: AccelTCG, Timeout: 2 * time.Minute}
	full, err := cfg.withDefaults()
	if err != nil {
		b.Fatal(err)
	}
	initrd := filepath.Join(b.TempDir(), "initramfs.cpio")
	const nonce = "bench"
	if err := writeInitramfs(initrd, guestBin, nil, protocol.Config{Nonce: nonce, Args: cfg.Args, TimeoutMS: cfg.Timeout.Milliseconds()}); err != nil {
		b.Fatal(err)
	}
	bareArgs := []string{"-accel", "tcg,thread=single", "-m", "256", "-kernel", kernel, "-initrd", initrd,
		"-append", baseCmdline, "-nographic", "-no-reboot"}
	sameArgs := qemuArgs(full, initrd)

	var run, bare, same, btv, ratioBare, ratioSame []float64
	bareBoot := func(args []string) float64 {
		start := time.Now()
		var out bytes.Buffer
		cmd := exec.Command(qemu, args...)
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Run(); err != nil {
			b.Fatalf("bare qemu: %v\n%s", err, out.String())
		}
		d := ms(time.Since(start))
		if !strings.Contains(out.String(), protocol.ResultPrefix(nonce)+`{"exit":0`) {
			b.Fatalf("bare qemu boot did not reach a passing verdict:\n%s", out.String())
		}
		return d
	}
	helperBoot := func() float64 {
		start := time.Now()
		res, err := Run(ctx, cfg)
		if err != nil {
			b.Fatalf("vm.Run: %v", err)
		}
		d := ms(time.Since(start))
		btv = append(btv, ms(res.BootToVerdict))
		return d
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var r, ba, sa float64
		steps := []func(){
			func() { r = helperBoot() },
			func() { ba = bareBoot(bareArgs) },
			func() { sa = bareBoot(sameArgs) },
		}
		for k := range steps {
			steps[(i+k)%len(steps)]()
		}
		run, bare, same = append(run, r), append(bare, ba), append(same, sa)
		ratioBare, ratioSame = append(ratioBare, r/ba), append(ratioSame, r/sa)
	}
	b.StopTimer()
	b.ReportMetric(median(run), "run-ms")
	b.ReportMetric(median(bare), "bare-ms")
	b.ReportMetric(median(same), "bareargs-ms")
	b.ReportMetric(median(btv), "boot-to-verdict-ms")
	b.ReportMetric(median(ratioBare), "run/bare")
	b.ReportMetric(median(ratioSame), "run/bareargs")
	b.Logf("n=%d run=%v bare=%v bareargs=%v", b.N, run, bare, same)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// BenchmarkWriteInitramfs measures building one boot's initramfs (the
// test guest, about 2 MB, plus the run configuration): the part of
// vm.Run's overhead that grows with the guest.
func BenchmarkWriteInitramfs(b *testing.B) {
	guestBin, err := resolveGuest(context.Background(), testGuestPkg)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		path := filepath.Join(dir, "initramfs-"+strconv.Itoa(i)+".cpio")
		if err := writeInitramfs(path, guestBin, nil, protocol.Config{Nonce: "bench", Args: []string{"info"}}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.Remove(path)
		b.StartTimer()
	}
}
