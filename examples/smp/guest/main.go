// Command guest is the /init of the smp example's VM. It reports the CPUs
// online and the memory the kernel sees, one "<key>: <value>" line each.
package main

import (
	"fmt"
	"os"

	"github.com/ktest-dev/ktest/vm/guest"
)

func main() {
	os.Exit(guest.Main(func(env *guest.Env) error {
		cpus, err := guest.OnlineCPUs()
		if err != nil {
			return err
		}
		mem, err := guest.MemTotal()
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "cpus: %d\n", cpus)
		fmt.Fprintf(env.Stdout, "memtotal_bytes: %d\n", mem)
		return nil
	}))
}
