package vmm

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/ktest-dev/ktest/internal/testkernel"
)

func TestSmoke(t *testing.T) {
	k := testkernel.Path(t)
	var out, errb, con bytes.Buffer
	res, err := Run(context.Background(), Spec{
		Kernel: k, CacheDir: testCacheDir,
		Argv:   []string{"/bin/sh", "-c", "echo hello; echo oops >&2; uname -r; pwd; cat /proc/mounts; exit 3"},
		Env:    []string{"PATH=/usr/bin:/bin:/usr/sbin:/sbin"},
		Stdout: &out, Stderr: &errb, Console: &con,
		Timeout: 25 * time.Second,
	})
	t.Logf("err=%v", err)
	if err != nil && res != nil {
		t.Logf("qemu err")
	}
	if res != nil {
		t.Logf("exit=%d boot=%v total=%v\ncmd=%q", res.ExitCode, res.Boot, res.Total, res.Command)
		t.Logf("console:\n%s", res.Console)
	}
	t.Logf("stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
}
