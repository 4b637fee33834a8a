package runner

import (
	"strings"
	"testing"
)

func TestCheckUserExec(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		goflags string
		want    string // "" = accepted
	}{
		{args: []string{"./..."}},
		{args: []string{"./...", "-args", "-exec", "x"}},
		{args: []string{"-exec", "sudo", "./..."}, want: `"-exec sudo"`},
		{args: []string{"--exec=sudo"}, want: `"--exec=sudo"`},
		{args: []string{"-run", "X"}, goflags: "-mod=mod -exec=prlimit", want: `"GOFLAGS=-exec=prlimit"`},
		{args: []string{"-exec=a", "-exec=b"}, want: `(given 2 times): "-exec=a", "-exec=b"`},
	} {
		opts := Options{GoArgs: tc.args, Env: []string{"GOFLAGS=" + tc.goflags}}
		err := checkUserExec(opts)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q GOFLAGS=%q: %v, want %q", tc.args, tc.goflags, err, tc.want)
		}
	}
}

func TestGoParallel(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		goflags string
		want    int
	}{
		{[]string{"./..."}, "", 0},
		{[]string{"-p", "4", "./..."}, "", 4},
		{[]string{"-p=3"}, "-p=8", 3},
		{[]string{"./..."}, "-mod=mod -p=8", 8},
		{[]string{"./...", "-args", "-p", "9"}, "", 0},
	} {
		if got := goParallel(Options{GoArgs: tc.args, Env: []string{"GOFLAGS=" + tc.goflags}}); got != tc.want {
			t.Errorf("%q GOFLAGS=%q: %d, want %d", tc.args, tc.goflags, got, tc.want)
		}
	}
}
