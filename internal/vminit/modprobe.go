package vminit

import (
	"fmt"
	"os"
	"strings"

	"github.com/ktest-dev/ktest/internal/modload"
)

// modprobeMain answers the kernel's request_module ("modprobe -q --
// NAME"): it loads NAME from the kernel's module tree, which the init
// wrote to moddirFile.
func modprobeMain(args []string) int {
	dir, err := os.ReadFile(moddirFile)
	if err != nil {
		return 1
	}
	quiet, status := false, 0
	names := []string{}
	for i, a := range args {
		if a == "--" {
			names = append(names, args[i+1:]...)
			break
		}
		if a == "-q" || a == "--quiet" {
			quiet = true
			continue
		}
		if !strings.HasPrefix(a, "-") {
			names = append(names, a)
		}
	}
	for _, n := range names {
		if err := modload.Load(string(dir), n, ""); err != nil {
			if !quiet {
				fmt.Fprintf(os.Stderr, "modprobe: %v\n", err)
			}
			status = 1
		}
	}
	return status
}
