package cli

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// exitCodeTable is printed by every --help (docs/spec.md §2).
const exitCodeTable = `Exit codes:
  0      go test passed (skips, also contention skips, do not fail the run)
  N      go test failed: go's own exit code is passed through unchanged
         (with --kernel repeated: that of the first kernel that failed)
  3      ktest could not do its own job: bad flag or value, hard preflight
         error, cache error
  4      the skip policy fired (--max-skip-rate, or --skip-exit-code 4)
  125    --vm: a guest gave no verdict for a test binary (QEMU failed, the
         kernel panicked or hung); a "ktest: BOOT FAILURE" line says which
  128+N  interrupted by signal N (SIGINT 130, SIGTERM 143, SIGHUP 129)
`

const runUsage = `usage: ktest [ktest flags] [--] [go test arguments]
       ktest <command> [arguments]

ktest runs go test for suites that boot Linux kernels in virtual machines.
ktest's own flags are long flags (--name); every other argument is passed to
go test verbatim and in order. ktest's flags may also follow go test
arguments, up to -- or -args (after which everything is go's); the separate
value of a go flag (-run --kernel) stays go's.

Examples:
  ktest ./...
  ktest -run TestBoot -count=1 ./examples/...
  ktest ./pkg -v -run X
  ktest -count=1 --jsonfile out.json ./...
  ktest --format testname --junitfile report.xml ./...
  ktest -- -run X ./...
  ktest --dry-run ./...
  ktest --kernel 6.1 --kernel 6.12 ./...   # once per kernel, in this order
  ktest --vm --kernel 6.1 -count=1 ./...   # each test binary inside the kernel
`

func printRunHelp(w io.Writer) error {
	var b strings.Builder
	b.WriteString(runUsage)
	b.WriteString("\nktest flags:\n")
	writeFlags(&b, newRunFlags().set)
	b.WriteString("\nCommands:\n")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for name := range cmds {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(&b, "  %-9s %s\n", name, cmds[name].summary)
	}
	b.WriteString("\nRun 'ktest <command> --help' for a command's own help.\n\n")
	b.WriteString(exitCodeTable)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeFlags lists a flag set as `--name VALUE  usage (default x)`.
func writeFlags(b *strings.Builder, set *flag.FlagSet) {
	set.VisitAll(func(fl *flag.Flag) {
		if fl.Name == "help" {
			return
		}
		placeholder, usage := flag.UnquoteUsage(fl)
		head := "--" + fl.Name
		if placeholder != "" && !isBool(fl) {
			head += " " + placeholder
		}
		line := fmt.Sprintf("  %-24s %s", head, usage)
		if fl.DefValue != "" && fl.DefValue != "false" && fl.DefValue != "0" {
			line += fmt.Sprintf(" (default %s)", fl.DefValue)
		}
		b.WriteString(line + "\n")
	})
}
