package debian

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// Stanza is one paragraph of a deb822 file (a Packages index, the output of
// apt-get indextargets): field names as written, values with continuation
// lines joined by "\n".
type Stanza map[string]string

// maxLine bounds one line of a deb822 file; real Packages lines stay far
// below (long Description lines are a few KiB).
const maxLine = 1 << 20

// ParseStanzas reads deb822 paragraphs from r and calls fn for each, in
// order, until fn returns false or an error. keep, when not nil, is asked
// with the first field of each paragraph (name and value) whether to parse
// the rest of it: the Packages index of a suite has some 60,000
// paragraphs, of which a fetch needs a few hundred. Comment lines (#) are
// skipped. A line that is neither a field, a continuation nor blank is an
// error naming its line number.
func ParseStanzas(r io.Reader, keep func(name, value string) bool, fn func(Stanza) (bool, error)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	var cur Stanza
	var last string
	skipping := false
	started := false
	lineNo := 0
	flush := func() (bool, error) {
		defer func() { cur, last, skipping, started = nil, "", false, false }()
		if cur == nil || skipping {
			return true, nil
		}
		return fn(cur)
	}
	for sc.Scan() {
		lineNo++
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			if cont, err := flush(); err != nil || !cont {
				return err
			}
			continue
		}
		if line[0] == '#' {
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if !started {
				return fmt.Errorf("line %d: continuation line outside a field", lineNo)
			}
			if !skipping {
				cur[last] += "\n" + strings.TrimSpace(string(line))
			}
			continue
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 {
			return fmt.Errorf("line %d: %q is not a field (Name: value)", lineNo, truncate(line))
		}
		name := string(line[:i])
		value := strings.TrimSpace(string(line[i+1:]))
		if !started {
			started = true
			if keep != nil && !keep(name, value) {
				skipping = true
			}
			if !skipping {
				cur = Stanza{}
			}
		}
		if skipping {
			continue
		}
		cur[name] = value
		last = name
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("line %d: %w", lineNo+1, err)
	}
	_, err := flush()
	return err
}

func truncate(b []byte) []byte {
	if len(b) > 60 {
		return b[:60]
	}
	return b
}

// Relation is one alternative of a Depends field: "name (op version)".
type Relation struct {
	Name, Op, Version string
}

// ParseDepends splits a Depends-style field into its comma-separated
// entries, each a list of "|"-separated alternatives. Architecture
// qualifiers (":any") and restriction lists are dropped.
func ParseDepends(field string) [][]Relation {
	var out [][]Relation
	for _, entry := range strings.Split(field, ",") {
		var alts []Relation
		for _, alt := range strings.Split(entry, "|") {
			alt = strings.TrimSpace(alt)
			if alt == "" {
				continue
			}
			var r Relation
			name := alt
			if i := strings.IndexAny(alt, " ([<"); i >= 0 {
				name = alt[:i]
				rest := alt[i:]
				if o := strings.IndexByte(rest, '('); o >= 0 {
					if c := strings.IndexByte(rest[o:], ')'); c > 0 {
						f := strings.Fields(rest[o+1 : o+c])
						if len(f) == 2 {
							r.Op, r.Version = f[0], f[1]
						} else if len(f) == 1 {
							// "(=1.0)" without a space
							op := strings.TrimRight(f[0], "0123456789.:~+-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
							r.Op, r.Version = op, f[0][len(op):]
						}
					}
				}
			}
			name, _, _ = strings.Cut(name, ":")
			r.Name = name
			alts = append(alts, r)
		}
		if len(alts) > 0 {
			out = append(out, alts)
		}
	}
	return out
}
