package runner

import (
	"reflect"
	"strings"
	"testing"
)

// TestBuildGoCommandVerbose: every spelling of -v is taken out of go's
// arguments, so that go keeps -test.v=test2json framing; a -test.v for
// the binary becomes -test.v=test2json; values go rejects stay for go.
func TestBuildGoCommandVerbose(t *testing.T) {
	for _, tc := range []struct {
		args    string
		want    string
		verbose bool
	}{
		{"./... -v", "./...", true},
		{"-v=true -count=1 ./...", "-count=1 ./...", true},
		{"-test.v ./...", "./...", true},
		{"-v -v=false ./...", "./...", false},
		{"--v=1 ./...", "./...", true},
		{"-run -v ./...", "-run -v ./...", false},
		{"-v=maybe ./...", "-v=maybe ./...", false},
		{"./... -args -test.v=true -x", "./... -args -test.v=test2json -x", true},
		{"-v ./... -args -test.v=false", "./... -args", false},
		{"./... -args -v", "./... -args -v", false},
	} {
		c := buildGoCommand("go", strings.Fields(tc.args))
		if got := strings.Join(c.Args[2:], " "); got != tc.want || c.Verbose != tc.verbose {
			t.Errorf("%q: args %q verbose %v, want %q %v", tc.args, got, c.Verbose, tc.want, tc.verbose)
		}
		if !reflect.DeepEqual(c.Args[:2], []string{"test", "-json"}) {
			t.Errorf("%q: command starts %q", tc.args, c.Args[:2])
		}
	}
}

// TestGoOutputMode: go streams every package's output with -bench, -fuzz
// or without package arguments, and prints a final FAIL only with package
// arguments (not under -fuzz).
func TestGoOutputMode(t *testing.T) {
	for _, tc := range []struct {
		args            string
		live, finalFail bool
	}{
		{"./...", false, true},
		{"", true, false},
		{"-count=1", true, false},
		{"-bench . ./...", true, true},
		{"-test.bench=X ./...", true, true},
		{"-bench= ./...", false, true},
		{"-fuzz FuzzX ./pkg", true, false},
		{"-run X ./a ./b", false, true},
	} {
		live, finalFail := goOutputMode(strings.Fields(tc.args), false)
		if live != tc.live || finalFail != tc.finalFail {
			t.Errorf("%q: live %v finalFail %v, want %v %v", tc.args, live, finalFail, tc.live, tc.finalFail)
		}
	}
	if live, _ := goOutputMode([]string{"./..."}, true); !live {
		t.Errorf("-v is not live")
	}
}
