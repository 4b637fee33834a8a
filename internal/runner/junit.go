package runner

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/jstemmer/go-junit-report/v2/junit"
	"github.com/jstemmer/go-junit-report/v2/parser/gotest"
)

// writeJUnit converts the test2json events to JUnit XML with
// go-junit-report and writes them to out (the --junitfile, which the caller
// commits: see internal/outfile).
func writeJUnit(out io.Writer, events io.Reader) error {
	report, err := gotest.NewJSONParser().Parse(events)
	if err != nil {
		return fmt.Errorf("parse test events for JUnit: %w", err)
	}
	host, _ := os.Hostname()
	suites := junit.CreateFromReport(report, host)
	useSkipMessages(&suites)

	var buf bytes.Buffer
	buf.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	if err := suites.WriteXML(&buf); err != nil {
		return fmt.Errorf("render JUnit XML: %w", err)
	}
	_, err = out.Write(buf.Bytes())
	return err
}

// useSkipMessages puts each skipped test's t.Skip message into
// <skipped message=...>, where go-junit-report writes a fixed "Skipped".
// ktest's SKIP banners (SPEC §6) are such messages, so CI systems show them.
func useSkipMessages(suites *junit.Testsuites) {
	for i := range suites.Suites {
		for j := range suites.Suites[i].Testcases {
			tc := &suites.Suites[i].Testcases[j]
			if tc.Skipped == nil {
				continue
			}
			if msg := skipMessage(tc.Skipped.Data); msg != "" {
				tc.Skipped.Message = msg
			}
		}
	}
}

var logPrefix = regexp.MustCompile(`^\s*[\w.\-]+\.go:\d+: `)

// skipMessage returns the last logged line of a skipped test's output, which
// is what t.Skip printed, without the file:line prefix. A ktest banner wins
// over other lines.
func skipMessage(output string) string {
	var last string
	for _, line := range strings.Split(output, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || isFramingLine(trimmed) || strings.HasPrefix(trimmed, "--- SKIP") {
			continue
		}
		msg := strings.TrimSpace(logPrefix.ReplaceAllString(line, ""))
		if i := strings.Index(msg, "ktest: SKIP:"); i >= 0 {
			return msg[i:]
		}
		last = msg
	}
	return last
}
