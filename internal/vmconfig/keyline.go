package vmconfig

import (
	"strings"

	"github.com/BurntSushi/toml"
)

// keyLine returns the line (from 1) where key is defined in a TOML file,
// or 0 when it cannot tell. BurntSushi/toml keeps key positions private,
// so this reads the lines itself: table headers ([a.b], [[a]]) and
// key = value lines, with bare, quoted and dotted keys. Lines inside
// multi-line strings and arrays may be misread; they hold no key
// definition that matters here, and a wrong guess only costs the line
// number.
func keyLine(data []byte, key toml.Key) int {
	var table []string
	prefix := 0 // a line defining a table or key that key is under
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		var path []string
		switch {
		case strings.HasPrefix(line, "[["):
			end := strings.Index(line, "]]")
			if end < 0 {
				continue
			}
			table = splitKey(line[2:end])
			path = table
		case strings.HasPrefix(line, "["):
			end := strings.Index(line, "]")
			if end < 0 {
				continue
			}
			table = splitKey(line[1:end])
			path = table
		default:
			k, _, ok := strings.Cut(line, "=")
			if !ok || strings.HasPrefix(line, "#") {
				continue
			}
			path = append(append([]string(nil), table...), splitKey(k)...)
		}
		if equal(path, key) {
			return i + 1
		}
		if prefix == 0 && len(path) < len(key) && equal(path, key[:len(path)]) && len(path) > 0 {
			prefix = i + 1
		}
	}
	return prefix
}

// splitKey splits a dotted TOML key, unquoting its parts.
func splitKey(s string) []string {
	var parts []string
	for _, p := range strings.Split(s, ".") {
		p = strings.TrimSpace(p)
		if len(p) >= 2 && (p[0] == '"' && p[len(p)-1] == '"' || p[0] == '\'' && p[len(p)-1] == '\'') {
			p = p[1 : len(p)-1]
		}
		parts = append(parts, p)
	}
	return parts
}

func equal(a []string, b toml.Key) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
