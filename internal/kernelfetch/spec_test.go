package kernelfetch

import (
	"strings"
	"testing"
)

func TestParseSpec(t *testing.T) {
	for in, want := range map[string]SpecKind{
		"6.1": SpecLine, "6.12": SpecLine, "7.2": SpecLine, "7.3-rc": SpecLine, "7.3-rc7": SpecLine, "6.12.117": SpecLine,
		"bookworm": SpecSuite, "bookworm-backports": SpecSuite, "trixie": SpecSuite, "sid": SpecSuite, "experimental": SpecSuite,
		"6.1.172-1": SpecPackageVersion, "6.12.95-1~bpo12+1": SpecPackageVersion, "7.3~rc7-1~exp1": SpecPackageVersion, "1:6.1-1": SpecPackageVersion,
		"6.1.0-50-cloud-amd64": SpecRelease, "6.12.117+deb13-cloud-amd64": SpecRelease, "7.3-cloud-amd64": SpecRelease,
	} {
		got, err := ParseSpec(in)
		if err != nil || got.Kind != want {
			t.Errorf("ParseSpec(%q) = %v, %v; want %v", in, got.Kind, err, want)
		}
	}
	for _, bad := range []string{"", "Bookworm", "6", "../x", "6.1 extra", "-rf"} {
		if _, err := ParseSpec(bad); err == nil {
			t.Errorf("ParseSpec(%q) succeeded", bad)
		}
	}
}

func TestMatchesUpstream(t *testing.T) {
	for _, c := range []struct {
		spec, v string
		want    bool
	}{
		{"6.1", "6.1.176", true}, {"6.1", "6.12.3", false}, {"6.12", "6.12.117", true},
		{"7.3", "7.3-rc7", true}, {"7.3-rc", "7.3-rc7", true}, {"7.3-rc", "7.3", false}, {"7.3-rc", "7.3-rc", true},
		{"7.3-rc7", "7.3-rc7", true}, {"7.3-rc1", "7.3-rc12", false}, {"6.12.95", "6.12.95", true},
	} {
		s, _ := ParseSpec(c.spec)
		if got := s.MatchesUpstream(c.v); got != c.want {
			t.Errorf("%q matches %q = %v, want %v", c.spec, c.v, got, c.want)
		}
	}
}

func TestDebianKeyKeepsTheScriptsForm(t *testing.T) {
	if k := DebianKey("6.1.0-48-cloud-amd64", "6.1.172-1"); k != "6.1.0-48-cloud-amd64-deb-6.1.172-1" {
		t.Errorf("key %q", k)
	}
	if k := DebianKey("7.3-cloud-amd64", "1:7.3~rc7-1~exp1"); k != "7.3-cloud-amd64-deb-1_7.3_rc7-1_exp1" {
		t.Errorf("key %q", k)
	}
}

func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"6.1", "7.3-rc", "bookworm", "6.12.95-1~bpo12+1", "6.1.0-50-cloud-amd64", "../x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := ParseSpec(s)
		if err != nil {
			return
		}
		if spec.Raw != s || spec.Kind < SpecLine || spec.Kind > SpecRelease {
			t.Fatalf("ParseSpec(%q) = %+v", s, spec)
		}
		if strings.ContainsAny(s, "/ \x00\n") || strings.HasPrefix(s, "-") {
			t.Fatalf("accepted %q", s)
		}
		if k := DebianKey("6.1.0-50-cloud-amd64", s); strings.ContainsAny(k, "/:~ ") {
			t.Fatalf("key %q", k)
		}
	})
}
