package guest

import (
	"os"
	"strings"
	"testing"

	"github.com/ktest-dev/ktest/internal/hostres"
)

func TestParseCPUList(t *testing.T) {
	good := map[string]int{"0": 1, "0-3\n": 4, "0-1,4,6-7": 5, "": 0, " \n": 0, "8191": 1}
	for in, want := range good {
		if got, err := ParseCPUList(in); err != nil || got != want {
			t.Errorf("ParseCPUList(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"a", "3-1", "0-", "-1", "0,,1", "0-99999999", "1 2"} {
		if got, err := ParseCPUList(bad); err == nil {
			t.Errorf("ParseCPUList(%q) = %d, want an error", bad, got)
		}
	}
}

func TestParseMemTotal(t *testing.T) {
	got, err := ParseMemTotal(strings.NewReader("MemTotal:         223388 kB\nMemFree:  1 kB\n"))
	if err != nil || got != 223388*1024 {
		t.Errorf("ParseMemTotal = %d, %v; want %d", got, err, 223388*1024)
	}
	for _, bad := range []string{"", "MemFree: 1 kB\n", "MemTotal: lots kB\n", "MemTotal: 5 MB\n", "MemTotal:\n"} {
		if got, err := ParseMemTotal(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseMemTotal(%q) = %d, want an error", bad, got)
		}
	}
}

// The host running the tests is Linux too, so the helpers can be checked
// against it.
func TestSysinfoOnThisHost(t *testing.T) {
	rel, err := KernelRelease()
	if err != nil || rel == "" {
		t.Errorf("KernelRelease = %q, %v", rel, err)
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil && strings.TrimSpace(string(data)) != rel {
		t.Errorf("KernelRelease %q differs from /proc/sys/kernel/osrelease %q", rel, data)
	}
	if cl, err := KernelCmdline(); err != nil || strings.Contains(cl, "\n") {
		t.Errorf("KernelCmdline = %q, %v", cl, err)
	}
	if n, err := OnlineCPUs(); err != nil || n < 1 {
		t.Errorf("OnlineCPUs = %d, %v", n, err)
	}
	if m, err := MemTotal(); err != nil || m < 16<<20 {
		t.Errorf("MemTotal = %d, %v", m, err)
	}
}

func FuzzParseCPUList(f *testing.F) {
	for _, s := range []string{"0-3,5", "0", "", "1-0", "0-65535"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseCPUList(s)
		if err == nil && (n < 0 || n > hostres.MaxCPUs) {
			t.Fatalf("ParseCPUList(%q) = %d outside [0, %d]", s, n, hostres.MaxCPUs)
		}
	})
}

func FuzzParseMemTotal(f *testing.F) {
	f.Add("MemTotal:  1024 kB\n")
	f.Add("MemTotal: 18446744073709551615 kB\n")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseMemTotal(strings.NewReader(s))
		if err == nil && n%1024 != 0 {
			t.Fatalf("ParseMemTotal(%q) = %d, not a whole number of kB", s, n)
		}
	})
}
