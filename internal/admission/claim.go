package admission

import (
	"fmt"
	"strconv"
	"strings"
)

// A claim is the content of a held slot file, one line:
//
//	ktest.admission/1 cpus=1 memory_mb=1152 pid=1234
//
// It is written by the holder while it holds the ledger. Anyone who may
// write the slot could write anything there, so parseClaim is strict and
// callers treat an unparseable claim of a held slot as unknownClaim.

const claimVersion = "ktest.admission/1"

// maxClaimBytes bounds how much of a slot file is read.
const maxClaimBytes = 256

// unknownClaim is what a held slot with an unreadable claim counts for:
// one CPU (someone runs something) and no memory (MemAvailable already
// shows what it uses).
var unknownClaim = Need{CPUs: 1}

// formatClaim returns the claim line of need held by pid.
func formatClaim(need Need, pid int) string {
	return fmt.Sprintf("%s cpus=%d memory_mb=%d pid=%d\n", claimVersion, need.CPUs, need.MemoryMB, pid)
}

// parseClaim parses a claim line, returning the need and the holder's pid.
func parseClaim(data []byte) (Need, int, error) {
	line, ok := strings.CutSuffix(string(data), "\n")
	if !ok || strings.Contains(line, "\n") {
		return Need{}, 0, fmt.Errorf("parse claim: want one line ending in a newline")
	}
	fields := strings.Split(line, " ")
	if len(fields) != 4 || fields[0] != claimVersion {
		return Need{}, 0, fmt.Errorf("parse claim %q: want %q and three fields", line, claimVersion)
	}
	var vals [3]int64
	for i, name := range []string{"cpus", "memory_mb", "pid"} {
		v, ok := strings.CutPrefix(fields[i+1], name+"=")
		if !ok {
			return Need{}, 0, fmt.Errorf("parse claim %q: field %d is not %s=", line, i+2, name)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || !canonicalDecimal(v) || n > 1<<40 {
			return Need{}, 0, fmt.Errorf("parse claim %q: %s=%q is not a number", line, name, v)
		}
		vals[i] = n
	}
	if vals[0] < 1 || vals[0] > 1<<16 || vals[2] > 1<<31 {
		return Need{}, 0, fmt.Errorf("parse claim %q: out of range", line)
	}
	return Need{CPUs: int(vals[0]), MemoryMB: vals[1]}, int(vals[2]), nil
}

// canonicalDecimal reports whether s is a decimal number as formatting
// writes it: digits only, no sign, no leading zero.
func canonicalDecimal(s string) bool {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
