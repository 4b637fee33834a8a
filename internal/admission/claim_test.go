package admission

import "testing"

func TestParseClaim(t *testing.T) {
	need, pid, err := parseClaim([]byte(formatClaim(Need{CPUs: 3, MemoryMB: 1152}, 42)))
	if err != nil || need != (Need{CPUs: 3, MemoryMB: 1152}) || pid != 42 {
		t.Errorf("round trip = %s, %d, %v", need, pid, err)
	}
	for _, bad := range []string{
		"",
		"ktest.admission/1 cpus=1 memory_mb=1 pid=1",
		"ktest.admission/1 cpus=1 memory_mb=1 pid=1\n\n",
		"ktest.admission/2 cpus=1 memory_mb=1 pid=1\n",
		"ktest.admission/1 cpus=0 memory_mb=1 pid=1\n",
		"ktest.admission/1 cpus=1 memory_mb=-1 pid=1\n",
		"ktest.admission/1 cpus=01 memory_mb=1 pid=1\n",
		"ktest.admission/1 memory_mb=1 cpus=1 pid=1\n",
		"ktest.admission/1 cpus=1  memory_mb=1 pid=1\n",
		"ktest.admission/1 cpus=1 memory_mb=99999999999999 pid=1\n",
	} {
		if need, _, err := parseClaim([]byte(bad)); err == nil {
			t.Errorf("parseClaim(%q) = %s, want an error", bad, need)
		}
	}
}

func TestParseSlotName(t *testing.T) {
	for name, want := range map[string]int{"slot.0": 0, "slot.17": 17, "slot.4095": 4095} {
		if n, ok := parseSlotName(name); !ok || n != want {
			t.Errorf("parseSlotName(%q) = %d, %v", name, n, ok)
		}
	}
	for _, bad := range []string{"slot.", "slot.01", "slot.-1", "slot.4096", "slot.1x", "ledger", "slot.+1"} {
		if n, ok := parseSlotName(bad); ok {
			t.Errorf("parseSlotName(%q) = %d, want no", bad, n)
		}
	}
}

func FuzzParseClaim(f *testing.F) {
	f.Add([]byte(formatClaim(Need{CPUs: 1, MemoryMB: 1152}, 1234)))
	f.Add([]byte("ktest.admission/1 cpus=1 memory_mb=0 pid=0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		need, pid, err := parseClaim(data)
		if err != nil {
			return
		}
		if need.CPUs < 1 || need.MemoryMB < 0 || pid < 0 {
			t.Fatalf("parseClaim(%q) = %s, %d: out of range", data, need, pid)
		}
		if got := formatClaim(need, pid); got != string(data) {
			t.Fatalf("parseClaim(%q) is not canonical: formats back as %q", data, got)
		}
	})
}
