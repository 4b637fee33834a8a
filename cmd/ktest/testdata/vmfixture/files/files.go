// Package files reads its testdata, which a guest finds only when it sees
// the host's module tree at the same path, and is the fixture's package
// for -cover: the profile is written in the guest and must reach the host.
package files

import (
	"fmt"
	"os"
	"strings"
)

// Lines returns the lines of the file at path.
func Lines(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read lines: %w", err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"), nil
}

// Longest returns the longest of lines, the first one on a tie.
func Longest(lines []string) string {
	var best string
	for _, l := range lines {
		if len(l) > len(best) {
			best = l
		}
	}
	return best
}

// Unused is never called by the tests, so that the cover profile has a
// block with count 0 next to the covered ones.
func Unused() string { return "not covered" }
