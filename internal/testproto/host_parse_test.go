package testproto

import (
	"math"
	"strings"
	"testing"
)

const meminfoSample = `MemTotal:       24684084 kB
MemFree:        23636300 kB
MemAvailable:   23960252 kB
Buffers:            7992 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
`

func TestParseMeminfo(t *testing.T) {
	m, err := parseMeminfo([]byte(meminfoSample))
	if err != nil {
		t.Fatal(err)
	}
	if m.MemAvailable != 23960252*1024 || m.MemTotal != 24684084*1024 {
		t.Errorf("got %+v", m)
	}
	for name, bad := range map[string]string{
		"no MemAvailable": "MemTotal: 1 kB\n",
		"no unit":         "MemAvailable: 12\n",
		"wrong unit":      "MemAvailable: 12 MB\n",
		"not a number":    "MemAvailable: x kB\n",
		"negative":        "MemAvailable: -1 kB\n",
		"overflow":        "MemAvailable: 18446744073709551615 kB\n",
		"empty":           "",
	} {
		if _, err := parseMeminfo([]byte(bad)); err == nil {
			t.Errorf("%s: %q parsed", name, bad)
		}
	}
}

func TestParseLoadavg(t *testing.T) {
	l, err := parseLoadavg([]byte("4.22 1.50 0.65 4/147 19010\n"))
	if err != nil {
		t.Fatal(err)
	}
	if l != (loadavg{4.22, 1.50, 0.65, 4, 147}) {
		t.Errorf("got %+v", l)
	}
	for _, bad := range []string{"", "1 2 3", "1 2 3 4", "a 2 3 1/2 5", "1 2 3 x/2 5", "1 2 3 1/ 5",
		"-1 2 3 1/2 5", "NaN 2 3 1/2 5", "Inf 2 3 1/2 5", "1 2 3 1/99999999999 5"} {
		if _, err := parseLoadavg([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParseFileNr(t *testing.T) {
	a, m, err := parseFileNr([]byte("965\t0\t9223372036854775807\n"))
	if err != nil || a != 965 || m != math.MaxInt64 {
		t.Errorf("got %d %d %v", a, m, err)
	}
	for _, bad := range []string{"", "1 0", "1 0 2 3", "x 0 2", "1 0 -2"} {
		if _, _, err := parseFileNr([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestParseCPUList(t *testing.T) {
	for in, want := range map[string]int{"0-1\n": 2, "0": 1, "0-3,5,8-9": 7, "3": 1, "0-65535": 65536} {
		if got, err := parseCPUList([]byte(in)); err != nil || got != want {
			t.Errorf("parseCPUList(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "\n", "a", "3-1", "0-", "-1", "0,,1", "0-65536", "0-4294967295",
		strings.Repeat("0-65535,", 2)[:15]} {
		if n, err := parseCPUList([]byte(bad)); err == nil {
			t.Errorf("%q parsed as %d", bad, n)
		}
	}
}

// Fuzz targets: the parsers never panic and what they accept is sane.

func FuzzParseMeminfo(f *testing.F) {
	f.Add([]byte(meminfoSample))
	f.Add([]byte("MemAvailable: 1 kB"))
	f.Add([]byte("MemAvailable:\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseMeminfo(data)
		if err == nil && m.MemAvailable%1024 != 0 {
			t.Fatalf("MemAvailable %d is not whole kB", m.MemAvailable)
		}
	})
}

func FuzzParseLoadavg(f *testing.F) {
	f.Add([]byte("4.22 1.50 0.65 4/147 19010\n"))
	f.Add([]byte("0 0 0 0/0"))
	f.Add([]byte("1e308 1 1 1/1 1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := parseLoadavg(data)
		if err != nil {
			return
		}
		for _, v := range []float64{l.Load1, l.Load5, l.Load15} {
			if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("load %v", v)
			}
		}
		if l.ProcsRunning < 0 || l.ProcsTotal < 0 {
			t.Fatalf("procs %d/%d", l.ProcsRunning, l.ProcsTotal)
		}
	})
}

func FuzzParseFileNr(f *testing.F) {
	f.Add([]byte("965\t0\t9223372036854775807\n"))
	f.Add([]byte("1 2 3"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _, _ = parseFileNr(data)
	})
}

func FuzzParseCPUList(f *testing.F) {
	f.Add([]byte("0-1\n"))
	f.Add([]byte("0-3,5,8-9"))
	f.Add([]byte("0-65535"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := parseCPUList(data)
		if err == nil && (n < 1 || n > maxCPUs) {
			t.Fatalf("%q: %d CPUs", data, n)
		}
	})
}
