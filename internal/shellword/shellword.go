// Package shellword quotes a string as one word that a POSIX shell reads
// back unchanged, for commands ktest prints for a user to paste (the
// --dry-run command line, "remove it with rm -r PATH" hints).
package shellword

import "strings"

// Quote returns s unchanged when it holds only characters no shell treats
// specially, else s in single quotes, each single quote inside written as
// quote, backslash, quote, quote. The empty string becomes a pair of
// single quotes.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./_-", r)) {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}
