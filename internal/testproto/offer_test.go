package testproto

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// environ is a process environment after ktest's Env: base, minus unset,
// plus set (as runner.mergeEnv builds it).
func environ(base map[string]string, set, unset []string) func(string) string {
	env := map[string]string{}
	for k, v := range base {
		env[k] = v
	}
	for _, k := range unset {
		delete(env, k)
	}
	for _, kv := range set {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

// stale is an environment ktest inherited: a kernel and a sidecar
// directory of someone else's, which no test may see.
var stale = map[string]string{
	EnvTestKernel: "/stale/bzImage", EnvKernel: "/stale", EnvKernelRelease: "0.0-stale", EnvKernelCacheKey: "stale",
	EnvUnavailable: "no-kvm: stale", EnvUnavailableJSON: `{"category":"no-kvm","reason":"stale"}`,
	EnvSidecarDir: "/stale/runs", EnvRunID: "stale-run", "HOME": "/root",
}

func TestOfferRoundTripKernel(t *testing.T) {
	offer := Offer{
		Kernel:     &Kernel{Path: "/c/k1/bzImage", Dir: "/c/k1", Release: "6.1.0-50-cloud-amd64", CacheKey: "k1"},
		Accel:      "tcg",
		SidecarDir: "/runs/r1", RunID: "r1",
	}
	set, unset := offer.Env()
	got, err := Receive(environ(stale, set, unset))
	if err != nil {
		t.Fatal(err)
	}
	want := Received{Protocol: Current, UnderKtest: true, Kernel: offer.Kernel, Accel: "tcg", SidecarDir: "/runs/r1", RunID: "r1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Receive(Env(%+v)) =\n%+v\nwant\n%+v", offer, got, want)
	}

	// A kernel outside the cache, of unknown release: the inherited key and
	// release are removed, not passed on.
	offer = Offer{Kernel: &Kernel{Path: "/own/bzImage", Dir: "/own"}, Accel: "kvm"}
	set, unset = offer.Env()
	got, err = Receive(environ(stale, set, unset))
	if err != nil {
		t.Fatal(err)
	}
	want = Received{Protocol: Current, UnderKtest: true, Kernel: offer.Kernel, Accel: "kvm"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Receive(Env(%+v)) =\n%+v\nwant\n%+v", offer, got, want)
	}
}

func TestOfferRoundTripUnavailable(t *testing.T) {
	u := &Unavailable{Category: Contention, Reason: "open /dev/kvm: EBUSY (device or resource busy); host: load=9",
		Errno: "EBUSY", Hints: []string{"retry the run", "ktest doctor shows what it needs"}}
	// A kernel that was resolved but not locked is not exported.
	offer := Offer{Kernel: &Kernel{Path: "/c/k1/bzImage", Dir: "/c/k1"}, Unavailable: u, Accel: "tcg", SidecarDir: "/runs/r2", RunID: "r2"}
	set, unset := offer.Env()
	env := environ(stale, set, unset)
	if got := env(EnvUnavailable); got != "contention: "+u.Reason {
		t.Errorf("%s = %q: the text form must stay \"<category>: <reason>\" for older readers", EnvUnavailable, got)
	}
	got, err := Receive(env)
	if err != nil {
		t.Fatal(err)
	}
	want := Received{Protocol: Current, UnderKtest: true, Unavailable: u, Accel: "tcg", SidecarDir: "/runs/r2", RunID: "r2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Receive =\n%+v\nwant\n%+v", got, want)
	}
}

// Receive as an older kerneltest would see ktest's environment: an older
// reader knows KTEST_UNAVAILABLE's text form, which stays as it was.
func TestOfferTextFormUnchanged(t *testing.T) {
	u := Unavailable{Category: NoKernel, Reason: "no kernel image found in the kernel cache", Hints: []string{"ktest kernel fetch 6.12"}}
	set, _ := Offer{Unavailable: &u, Accel: "tcg"}.Env()
	env := environ(nil, set, nil)
	if got := ParseUnavailableText(env(EnvUnavailable)); got.Category != NoKernel || got.Reason != u.Reason {
		t.Errorf("text form reads back as %+v", got)
	}
}

// A ktest of the unversioned protocol exports only the text form and
// KTSTR_KERNEL: category and reason are read, no errno is guessed from the
// text, and no release or cache key is made up.
func TestReceiveUnversionedKtest(t *testing.T) {
	env := environ(map[string]string{
		EnvUnavailable: "contention: open /dev/kvm: EBUSY (device or resource busy)",
		EnvRunID:       "old-run", EnvSidecarDir: "/runs/old", EnvAccel: "kvm",
	}, nil, nil)
	got, err := Receive(env)
	if err != nil {
		t.Fatal(err)
	}
	want := Received{UnderKtest: true, Unavailable: &Unavailable{Category: Contention, Reason: "open /dev/kvm: EBUSY (device or resource busy)"},
		Accel: "kvm", SidecarDir: "/runs/old", RunID: "old-run"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Receive =\n%+v\nwant\n%+v", got, want)
	}

	env = environ(map[string]string{EnvTestKernel: "/c/k1/bzImage", EnvKernel: "/c/k1", EnvRunID: "old-run",
		EnvKernelCacheKey: "inherited"}, nil, nil)
	got, err = Receive(env)
	if err != nil {
		t.Fatal(err)
	}
	if want := (&Kernel{Path: "/c/k1/bzImage", Dir: "/c/k1"}); !reflect.DeepEqual(got.Kernel, want) {
		t.Errorf("Kernel = %+v, want %+v", got.Kernel, want)
	}
}

// Outside ktest, KTSTR_TEST_KERNEL alone names the kernel; KTSTR_KERNEL is
// then a kernel ID of the user's, not a directory.
func TestReceiveOutsideKtest(t *testing.T) {
	got, err := Receive(environ(map[string]string{EnvTestKernel: "/boot/vmlinuz", EnvKernel: "6.1"}, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Received{Kernel: &Kernel{Path: "/boot/vmlinuz"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("Receive = %+v, want %+v", got, want)
	}
	if got, err := Receive(environ(nil, nil, nil)); err != nil || !reflect.DeepEqual(got, Received{}) {
		t.Errorf("empty environment: %+v, %v", got, err)
	}
}

// A newer minor version only adds: unknown JSON fields are ignored.
func TestReceiveNewerMinor(t *testing.T) {
	env := environ(map[string]string{
		EnvProtocol:        "1.7",
		EnvUnavailable:     "no-kvm: /dev/kvm is absent",
		EnvUnavailableJSON: `{"category":"no-kvm","reason":"/dev/kvm is absent","errno":"ENOENT","hints":["load kvm"],"since":"1.7","holders":[{"pid":1}]}`,
	}, nil, nil)
	got, err := Receive(env)
	if err != nil {
		t.Fatal(err)
	}
	want := &Unavailable{Category: NoKVM, Reason: "/dev/kvm is absent", Errno: "ENOENT", Hints: []string{"load kvm"}}
	if got.Protocol != (Version{1, 7}) || !reflect.DeepEqual(got.Unavailable, want) {
		t.Errorf("Receive = %+v (unavailable %+v)", got, got.Unavailable)
	}
}

// A newer major is said to be one, with both versions and what to do; the
// text form, which every version keeps, is still read.
func TestReceiveNewerMajor(t *testing.T) {
	env := environ(map[string]string{
		EnvProtocol:        "2.3",
		EnvUnavailable:     "no-kernel: none found",
		EnvUnavailableJSON: `{"v2":"whatever a version 2 means"}`,
		EnvTestKernel:      "/k/bzImage",
	}, nil, nil)
	got, err := Receive(env)
	var pe *ProtocolError
	if !errors.As(err, &pe) || !pe.Newer {
		t.Fatalf("Receive error = %v, want a *ProtocolError for a newer major", err)
	}
	for _, want := range []string{"ktest speaks test protocol 2.3 (KTEST_PROTOCOL)", "this kerneltest speaks " + Current.String(), "go get github.com/ktest-dev/ktest@latest"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if got.Unavailable == nil || got.Unavailable.Category != NoKernel || got.Unavailable.Reason != "none found" || got.Kernel != nil {
		t.Errorf("with the error, Receive = %+v; want the text form only", got)
	}
}

func TestReceiveMalformed(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{EnvProtocol: "one"}, []string{`KTEST_PROTOCOL="one": protocol version "one": want MAJOR.MINOR`, "it is ktest's to set"}},
		{map[string]string{EnvProtocol: "1.x"}, []string{`minor "x" is not a decimal number`}},
		{map[string]string{EnvProtocol: "0.9"}, []string{"majors start at 1"}},
		{map[string]string{EnvProtocol: "1.0", EnvUnavailableJSON: "contention: busy"}, []string{`KTEST_UNAVAILABLE_JSON="contention: busy": not the JSON object of docs/spec.md §9`}},
		{map[string]string{EnvProtocol: "1.0", EnvUnavailableJSON: `{"reason":"x"}`}, []string{`category "" is not a SKIP category`}},
		{map[string]string{EnvProtocol: "1.0", EnvUnavailableJSON: `{"category":"two words","reason":"x"}`}, []string{`category "two words"`}},
		{map[string]string{EnvProtocol: "1.0", EnvUnavailableJSON: `{"category":"contention","errno":"busy"}`}, []string{`errno "busy" is not an errno name`}},
		{map[string]string{EnvProtocol: "1.0", EnvUnavailableJSON: `{"category":"contention"} trailing`}, []string{"invalid character"}},
	}
	for _, c := range cases {
		_, err := Receive(environ(c.env, nil, nil))
		var pe *ProtocolError
		if !errors.As(err, &pe) || pe.Newer {
			t.Errorf("%v: error %v, want a *ProtocolError for a malformed value", c.env, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q lacks %q", c.env, err, w)
			}
		}
	}
	// The text form still gets through a malformed JSON form.
	got, err := Receive(environ(map[string]string{EnvProtocol: "1.0", EnvUnavailable: "contention: busy", EnvUnavailableJSON: "{"}, nil, nil))
	if err == nil || got.Unavailable == nil || got.Unavailable.Category != Contention {
		t.Errorf("malformed JSON beside the text: %+v, %v", got, err)
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]Version{"1.0": {1, 0}, " 2.15\n": {2, 15}, "1.000007": {1, 7}} {
		if got, err := ParseVersion(in); err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "1", "1.", ".1", "1.0.0", "+1.0", "-1.0", "1.-0", "1 .0", "0.0", "1234567.0", "1.0x", "١.٠"} {
		if v, err := ParseVersion(in); err == nil {
			t.Errorf("ParseVersion(%q) = %v, want an error", in, v)
		}
	}
	if Current.Major < 1 || Current.String() != "1.0" {
		t.Errorf("Current = %v", Current)
	}
}

func TestParseUnavailableText(t *testing.T) {
	cases := []struct {
		in, reason string
		cat        Category
	}{
		{"no-kernel: no kernel found", "no kernel found", NoKernel},
		{"contention: open /dev/kvm: EBUSY: busy; host: x=1", "open /dev/kvm: EBUSY: busy; host: x=1", Contention},
		{"  no-kvm: /dev/kvm absent \n", "/dev/kvm absent", NoKVM},
		{"something odd", "something odd", NoKernel},         // no category: no-kernel
		{"two words: reason", "two words: reason", NoKernel}, // not a category
		{"contention: ", noReason, Contention},
		{": reason", ": reason", NoKernel},
		{" \n", noReason, NoKernel},
		{"http://example.com", "http://example.com", NoKernel}, // no space after the colon
	}
	for _, c := range cases {
		u := ParseUnavailableText(c.in)
		if u.Category != c.cat || u.Reason != c.reason || u.Errno != "" || u.Hints != nil {
			t.Errorf("ParseUnavailableText(%q) = %+v; want %q, %q", c.in, u, c.cat, c.reason)
		}
	}
}

// FuzzReceive feeds arbitrary values to every variable Receive reads. It
// must never panic; what it accepts must be usable (a category that makes
// a banner that parses back); and an Unavailable ktest could send must
// survive Env and Receive unchanged.
func FuzzReceive(f *testing.F) {
	f.Add("1.0", "contention: busy", `{"category":"contention","reason":"busy","errno":"EBUSY","hints":["h"]}`, "/k/bzImage", "contention", "busy", "EBUSY", "retry")
	f.Add("", "no-kernel: none", "", "", "no-kernel", "", "", "")
	f.Add("2.0", "x", "{", "/k", "a b", "r\nr", "E", "")
	f.Add("1.9", "", `{"category":"no-qemu","hints":[""," h "]}`, "", "no-qemu", " ", "ENOENT", "\n")
	f.Fuzz(func(t *testing.T, protocol, text, jsonText, kernel, cat, reason, errno, hint string) {
		if v, err := ParseVersion(protocol); err == nil {
			if back, err := ParseVersion(v.String()); err != nil || back != v {
				t.Fatalf("version %q parses as %v, whose String parses back as %v, %v", protocol, v, back, err)
			}
		}
		env := environ(map[string]string{EnvProtocol: protocol, EnvUnavailable: text, EnvUnavailableJSON: jsonText, EnvTestKernel: kernel}, nil, nil)
		got, err := Receive(env)
		var pe *ProtocolError
		if err != nil && (!errors.As(err, &pe) || pe.Error() == "") {
			t.Fatalf("Receive error %v is not a *ProtocolError", err)
		}
		if u := got.Unavailable; u != nil {
			if !isCategory(string(u.Category)) || u.Reason == "" {
				t.Fatalf("Receive accepted %+v", u)
			}
			if got.Kernel != nil {
				t.Fatalf("Receive gave a kernel and an unavailability: %+v", got)
			}
			if utf8.ValidString(u.Reason) {
				if c, _, ok := ParseBannerLine(BannerLine(u.Category, u.Reason)); !ok || c != u.Category {
					t.Fatalf("banner of %+v parses back as %q, %v", u, c, ok)
				}
			}
		}

		// What ktest would send, from fields it could hold.
		sent := Unavailable{Category: Category(cat), Reason: strings.TrimSpace(reason), Errno: errno}
		if h := strings.TrimSpace(hint); h != "" {
			sent.Hints = []string{h}
		}
		if !isCategory(cat) || sent.Reason == "" || (errno != "" && !isErrnoName(errno)) || !utf8.ValidString(cat) || !utf8.ValidString(reason) || !utf8.ValidString(hint) {
			// JSON carries text as UTF-8: invalid bytes become U+FFFD.
			return
		}
		set, unset := Offer{Unavailable: &sent, Accel: "tcg"}.Env()
		back, err := Receive(environ(nil, set, unset))
		if err != nil || back.Unavailable == nil || !reflect.DeepEqual(*back.Unavailable, sent) {
			t.Fatalf("sent %+v, received %+v (%v)", sent, back.Unavailable, err)
		}
	})
}
