// Command modguest is the guest of the real-archive fetch test: it checks
// that the running kernel is the one the host fetched (uname -r equals the
// release passed as the first argument) and loads modules that are not
// built in, by name and by alias with their dependencies, through
// guest.LoadModule.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/ktest-dev/ktest/vm/guest"
)

func main() {
	os.Exit(guest.Main(func(env *guest.Env) error {
		rel, err := guest.KernelRelease()
		if err != nil {
			return err
		}
		fmt.Printf("MODGUEST release=%s\n", rel)
		if len(env.Args) == 0 || rel != env.Args[0] {
			return fmt.Errorf("uname -r is %q, the host fetched %q", rel, env.Args)
		}
		for _, m := range []string{"dummy", "rtnl-link-vxlan", "dummy"} {
			if err := guest.LoadModule(m); err != nil {
				return err
			}
		}
		for _, m := range []string{"dummy", "vxlan", "udp_tunnel", "ip6_udp_tunnel"} {
			st, err := os.ReadFile("/sys/module/" + m + "/initstate")
			if err != nil {
				return fmt.Errorf("module %s is not loaded: %w", m, err)
			}
			fmt.Printf("MODGUEST %s=%s\n", m, strings.TrimSpace(string(st)))
		}
		return nil
	}))
}
