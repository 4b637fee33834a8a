// Command guest is the /init of the contention example's VM: it stands for
// work that uses the exclusive resource, and reports the token the host
// passed in its arguments.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/ktest-dev/ktest/vm/guest"
)

func main() {
	os.Exit(guest.Main(func(env *guest.Env) error {
		fmt.Fprintf(env.Stdout, "using exclusive resource: %s\n", strings.Join(env.Args, " "))
		return nil
	}))
}
