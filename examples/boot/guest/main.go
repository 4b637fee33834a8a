// Command guest is the /init of the boot example's VM. It reports the
// running kernel's release on a line of its own, for the host test to
// check.
package main

import (
	"fmt"
	"os"

	"github.com/ktest-dev/ktest/vm/guest"
)

func main() {
	os.Exit(guest.Main(func(env *guest.Env) error {
		release, err := guest.KernelRelease()
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "uname -r: %s\n", release)
		return nil
	}))
}
