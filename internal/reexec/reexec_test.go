package reexec

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	os.Exit(Main(m, map[string]func() int{
		"print": func() int {
			fmt.Printf("role=%s x=%q roletest=%q\n", Role(), os.Getenv("REEXEC_X"), os.Getenv(roleTestEnv))
			return 7
		},
		// nest starts "print" from a child, with an inherited role and X.
		"nest": func() int {
			out, err := Command(context.Background(), "print", "REEXEC_X=inner").Output()
			fmt.Print(string(out))
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return ee.ExitCode()
			}
			return 1
		},
	}))
}

func TestRoleFunction(t *testing.T) {
	out, err := Command(t.Context(), "print", "REEXEC_X=outer").Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("child: %v, want exit 7", err)
	}
	if got, want := string(out), "role=print x=\"outer\" roletest=\"\"\n"; got != want {
		t.Errorf("child printed %q, want %q", got, want)
	}
}

// TestNestedChildSeesItsOwnRole: a child's child gets the role and values
// it was started with, not the ones its parent inherited.
func TestNestedChildSeesItsOwnRole(t *testing.T) {
	out, err := Command(t.Context(), "nest", "REEXEC_X=outer").Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("child: %v, want exit 7 from the grandchild", err)
	}
	if got, want := string(out), "role=print x=\"inner\" roletest=\"\"\n"; got != want {
		t.Errorf("grandchild printed %q, want %q", got, want)
	}
	if env := childEnv("r", []string{"A=1"}); strings.Count(strings.Join(env, "\n"), roleEnv+"=") != 1 {
		t.Errorf("childEnv sets the role more than once: %q", env)
	}
}

func TestUnknownRoleFailsLoudly(t *testing.T) {
	out, err := Command(t.Context(), "no-such-role").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), `unknown role "no-such-role"`) {
		t.Fatalf("unknown role: %v, output %q; want exit 2 naming it", err, out)
	}
}

func TestRoleTest(t *testing.T) {
	if Role() == "as-test" {
		fmt.Println("in the child test")
		return
	}
	out, err := TestCommand(t.Context(), "TestRoleTest", "as-test").Output()
	if err != nil {
		t.Fatalf("child test: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "in the child test") {
		t.Errorf("child test output %q lacks its line", out)
	}
}
