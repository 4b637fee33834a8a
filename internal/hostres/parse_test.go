package hostres

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const meminfoSample = `MemTotal:       24684084 kB
MemFree:        21000000 kB
MemAvailable:   24201612 kB
Buffers:           10000 kB
`

func TestParseMeminfo(t *testing.T) {
	m, err := ParseMeminfo([]byte(meminfoSample))
	if err != nil {
		t.Fatal(err)
	}
	want := Meminfo{Total: 24684084 * 1024, Available: 24201612 * 1024, HasTotal: true, HasAvailable: true}
	if m != want {
		t.Errorf("ParseMeminfo = %+v, want %+v", m, want)
	}
	m, err = ParseMeminfo([]byte("MemFree: 1 kB\nMemAvailable: 0 kB\n"))
	if err != nil || m.HasTotal || !m.HasAvailable || m.Available != 0 {
		t.Errorf("ParseMeminfo without MemTotal = %+v, %v; want only a present zero MemAvailable", m, err)
	}
	for _, bad := range []string{
		"MemTotal: 12 MB\n",
		"MemTotal: x kB\n",
		"MemAvailable: 1 2 kB\n",
		"MemAvailable: -1 kB\n",
		"MemAvailable: 18446744073709551615 kB\n",
	} {
		if m, err := ParseMeminfo([]byte(bad)); err == nil {
			t.Errorf("ParseMeminfo(%q) = %+v, want an error", bad, m)
		}
	}
}

func TestParseCPUList(t *testing.T) {
	for in, want := range map[string]int{"0": 1, "0-3\n": 4, "0-3,5,7-8": 7, " \n": 0, "0-65535": 65536} {
		if got, err := ParseCPUList(in); err != nil || got != want {
			t.Errorf("ParseCPUList(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"x", "3-1", "0-", "-1", "0,,1", "0-65536", "0-65535,0"} {
		if got, err := ParseCPUList(bad); err == nil {
			t.Errorf("ParseCPUList(%q) = %d, want an error", bad, got)
		}
	}
}

func TestRead(t *testing.T) {
	r, err := Read()
	if err != nil {
		t.Fatal(err)
	}
	if r.CPUs < 1 || r.MemTotalMB < 1 || r.MemAvailableMB > r.MemTotalMB {
		t.Errorf("Read() = %+v: want at least one CPU and MemAvailable <= MemTotal", r)
	}
}

func TestReadFiles(t *testing.T) {
	dir := t.TempDir()
	cpus, mem := filepath.Join(dir, "online"), filepath.Join(dir, "meminfo")
	noCgroups(t)
	oldCPUs, oldMem := onlineCPUsPath, meminfoPath
	t.Cleanup(func() { onlineCPUsPath, meminfoPath = oldCPUs, oldMem })
	onlineCPUsPath, meminfoPath = cpus, mem

	write := func(path, s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(cpus, "0-5\n")
	write(mem, "MemTotal: 2097152 kB\nMemAvailable: 1048576 kB\n")
	r, err := Read()
	if want := (Resources{CPUs: 6, MemTotalMB: 2048, MemAvailableMB: 1024}); err != nil || r != want {
		t.Errorf("Read() = %+v, %v; want %+v", r, err, want)
	}

	write(mem, "MemTotal: 2097152 kB\n")
	if _, err := Read(); err == nil || !strings.Contains(err.Error(), "MemAvailable") {
		t.Errorf("Read without MemAvailable: err = %v, want one naming MemAvailable", err)
	}
	write(cpus, "garbage")
	if _, err := Read(); err == nil {
		t.Error("Read with a malformed CPU list: want an error")
	}
	os.Remove(cpus)
	write(mem, "MemTotal: 2097152 kB\nMemAvailable: 1048576 kB\n")
	if r, err := Read(); err != nil || r.CPUs < 1 {
		t.Errorf("Read without sysfs = %+v, %v; want the runtime.NumCPU fallback", r, err)
	}
}

func FuzzParseMeminfo(f *testing.F) {
	f.Add([]byte(meminfoSample))
	f.Add([]byte("MemAvailable: 99999999999999999999 kB\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMeminfo(data)
		if err == nil && (!m.HasTotal && m.Total != 0 || !m.HasAvailable && m.Available != 0) {
			t.Errorf("ParseMeminfo(%q) = %+v: a value without its line", data, m)
		}
	})
}

func FuzzParseCPUList(f *testing.F) {
	for _, s := range []string{"0", "0-3,5", "", "4-2", "0-65535"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseCPUList(s)
		if err == nil && (n < 0 || n > MaxCPUs) {
			t.Errorf("ParseCPUList(%q) = %d, outside [0, %d]", s, n, MaxCPUs)
		}
	})
}
