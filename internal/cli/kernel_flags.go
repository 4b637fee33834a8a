package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// subFlags parses the flags of one cache subcommand (`ktest kernel add`,
// `ktest locks`, ...). Unlike the run form, these commands have no go test
// arguments to protect, so flags may come before, between or after the
// positional arguments (`ktest kernel add ./bzImage --key k`), with one or
// two dashes, as --name=value or --name value. An explicit -- ends the flags.
// The flag.FlagSet only stores values: it never prints, and every message
// is subFlags' own, one line, naming the fix.
type subFlags struct {
	cmd    string // "kernel add", for messages
	set    *flag.FlagSet
	expect map[string]string // what each flag's value should be, for messages
}

func newSubFlags(cmd string) *subFlags {
	set := flag.NewFlagSet(cmd, flag.ContinueOnError)
	set.SetOutput(io.Discard)
	return &subFlags{cmd: cmd, set: set, expect: map[string]string{}}
}

// boolFlag defines a boolean flag.
func (f *subFlags) boolFlag(p *bool, name, usage string) {
	f.set.BoolVar(p, name, false, usage)
	f.expect[name] = "true or false"
}

// stringFlag defines a string flag; expect says what a valid value is.
func (f *subFlags) stringFlag(p *string, name, usage, expect string) {
	f.set.StringVar(p, name, "", usage)
	f.expect[name] = expect
}

// intFlag defines an int flag.
func (f *subFlags) intFlag(p *int, name string, def int, usage, expect string) {
	f.set.IntVar(p, name, def, usage)
	f.expect[name] = expect
}

// isSet reports whether the flag name was given on the command line (with
// any value, the empty string included).
func (f *subFlags) isSet(name string) bool {
	set := false
	f.set.Visit(func(fl *flag.Flag) {
		if fl.Name == name {
			set = true
		}
	})
	return set
}

// parse returns the positional arguments in order, and whether help was
// asked for (-h, -help, --help anywhere before --). On a bad flag it returns
// an error that names the flag and the fix.
func (f *subFlags) parse(args []string) (positional []string, help bool, err error) {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "--":
			return append(positional, args[i+1:]...), help, nil
		case isHelp(arg):
			help = true
			continue
		case len(arg) < 2 || arg[0] != '-':
			positional = append(positional, arg)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(arg[1:], "-"), "=")
		fl := f.set.Lookup(name)
		if fl == nil {
			return nil, help, f.unknown(arg, name)
		}
		if !hasValue {
			switch {
			case isBool(fl):
				value = "true"
			case i+1 < len(args):
				i++
				value = args[i]
			default:
				return nil, help, fmt.Errorf("%s: --%s needs a value: %s", f.cmd, name, f.expect[name])
			}
		}
		if err := f.set.Set(name, value); err != nil {
			return nil, help, fmt.Errorf("%s: invalid value %q for --%s: want %s", f.cmd, value, name, f.expect[name])
		}
	}
	return positional, help, nil
}

// unknown explains a flag the command does not have.
func (f *subFlags) unknown(arg, name string) error {
	var names []string
	f.set.VisitAll(func(fl *flag.Flag) { names = append(names, fl.Name) })
	sort.Strings(names)
	msg := fmt.Sprintf("%s: unknown flag %s", f.cmd, arg)
	switch s := closest(name, names); {
	case s != "":
		msg += fmt.Sprintf("; did you mean --%s?", s)
	case len(names) == 0:
		msg += fmt.Sprintf(" (it takes no flags); to pass an argument that starts with -, put it after --; see ktest %s --help", f.cmd)
	default:
		msg += fmt.Sprintf("; it takes --%s; see ktest %s --help", strings.Join(names, ", --"), f.cmd)
	}
	return errors.New(msg)
}

// usage renders a command's help: the text, its flags, and the exit codes.
func (f *subFlags) usage(text string) string {
	var b strings.Builder
	b.WriteString(text)
	hasFlags := false
	f.set.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		b.WriteString("\nFlags:\n")
		writeFlags(&b, f.set)
	}
	b.WriteString("\n")
	b.WriteString(exitCodeTable)
	return b.String()
}

// printUsage writes the command's help to w.
func (f *subFlags) printUsage(w io.Writer, text string) error {
	_, err := io.WriteString(w, f.usage(text))
	return err
}
