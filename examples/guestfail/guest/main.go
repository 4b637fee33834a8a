// Command guest is the /init of the guestfail example's VM. It prints what
// it checks, then fails the check: guest.Main turns the returned error into
// a non-zero exit status and the host test fails.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/ktest-dev/ktest/vm/guest"
)

func main() {
	os.Exit(guest.Main(func(env *guest.Env) error {
		fmt.Fprintln(env.Stdout, "guestfail: counting widgets in /proc/widgets")
		if _, err := os.Stat("/proc/widgets"); err == nil {
			return nil
		}
		return errors.New("guestfail: found 0 widgets, want 4")
	}))
}
