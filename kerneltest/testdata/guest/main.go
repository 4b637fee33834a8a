// Command guest is the /init kerneltest's own tests boot. Its first
// argument picks what it does: "ok" reports the kernel release and its
// arguments; "fail" prints a line and returns an error; "hang" never
// returns.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/ktest-dev/ktest/vm/guest"
)

func main() {
	os.Exit(guest.Main(func(env *guest.Env) error {
		mode := ""
		if len(env.Args) > 0 {
			mode = env.Args[0]
		}
		switch mode {
		case "ok":
			release, err := guest.KernelRelease()
			if err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "release: %s\nargs: %q\n", release, env.Args)
			return nil
		case "hang":
			select {}
		case "fail":
			fmt.Fprintln(env.Stdout, "kerneltest guest: about to fail")
			return errors.New("kerneltest guest: failing as asked")
		}
		return fmt.Errorf("kerneltest guest: unknown mode %q (want ok, fail or hang)", mode)
	}))
}
