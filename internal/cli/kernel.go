package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/ktest-dev/ktest/internal/termtext"
)

// kernelCommand is one `ktest kernel <name>` subcommand.
type kernelCommand struct {
	summary string
	run     func(ctx context.Context, args []string, stdio IO) error
}

func kernelCommands() map[string]kernelCommand {
	return map[string]kernelCommand{
		"list":  {"list cached kernels (key, version, source, arch, built, size, held-by)", runKernelList},
		"add":   {"validate a kernel image and store it in the cache; prints its key", runKernelAdd},
		"rm":    {"remove cache entries by key (entries in use are skipped)", runKernelRm},
		"clean": {"remove all but the newest N entries, or only corrupt ones", runKernelClean},
		"path":  {"print the image path of a cached kernel (by key or version)", runKernelPath},
		"fetch": {"download Debian kernels (with modules and vmlinux) into the cache; prints their keys", runKernelFetch},
	}
}

const kernelUsage = `usage: ktest kernel <command> [arguments]

Manages the kernel cache that ktest shares with ktstr. The cache root is
KTSTR_CACHE_DIR, else $XDG_CACHE_HOME/ktstr/kernels, else
$HOME/.cache/ktstr/kernels. Entries are directories named by a key, holding
the boot image, an optional vmlinux and metadata.json; runs that use an entry
hold a shared lock on {root}/.locks/{key}.lock, and removal skips entries in
use.

Examples:
  ktest kernel add /boot/vmlinuz-$(uname -r)
  ktest kernel fetch 6.1 6.12
  ktest kernel list
  ktest kernel path 6.1
  ktest kernel rm 6.9.0-image-x86_64-0123abcd
  ktest kernel clean --keep 2 --force
  ktest locks
`

// runKernel is `ktest kernel <command>`.
func runKernel(ctx context.Context, args []string, stdio IO) error {
	cmds := kernelCommands()
	if len(args) == 0 {
		return fmt.Errorf("kernel: no command given; use %s (see ktest kernel --help)", kernelCommandList(cmds))
	}
	if isHelp(args[0]) || args[0] == "help" {
		return printKernelHelp(stdio.Stdout, cmds)
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		names := kernelCommandNames(cmds)
		msg := fmt.Sprintf("kernel: unknown command %s", termtext.Quote(args[0]))
		if s := closest(args[0], names); s != "" {
			msg += fmt.Sprintf("; did you mean ktest kernel %s?", s)
		} else {
			msg += fmt.Sprintf("; the commands are %s; see ktest kernel --help", kernelCommandList(cmds))
		}
		return fmt.Errorf("%s", msg)
	}
	return cmd.run(ctx, args[1:], stdio)
}

func kernelCommandNames(cmds map[string]kernelCommand) []string {
	names := make([]string, 0, len(cmds))
	for name := range cmds {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// kernelCommandList is "list, add, rm, clean or path" in a fixed order.
func kernelCommandList(cmds map[string]kernelCommand) string {
	order := []string{"list", "add", "fetch", "rm", "clean", "path"}
	var have []string
	for _, n := range order {
		if _, ok := cmds[n]; ok {
			have = append(have, n)
		}
	}
	if len(have) < 2 {
		return strings.Join(have, "")
	}
	return strings.Join(have[:len(have)-1], ", ") + " or " + have[len(have)-1]
}

func printKernelHelp(w io.Writer, cmds map[string]kernelCommand) error {
	var b strings.Builder
	b.WriteString(kernelUsage)
	b.WriteString("\nCommands:\n")
	for _, name := range []string{"list", "add", "fetch", "rm", "clean", "path"} {
		fmt.Fprintf(&b, "  %-6s %s\n", name, cmds[name].summary)
	}
	b.WriteString("\nRun 'ktest kernel <command> --help' for a command's own help.\n\n")
	b.WriteString(exitCodeTable)
	_, err := io.WriteString(w, b.String())
	return err
}
