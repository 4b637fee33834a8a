package main

import (
	"encoding/xml"
	"fmt"
	"strings"

	"github.com/rogpeppe/go-internal/testscript"
)

// junitReport is the part of a JUnit XML file the scripts check.
type junitReport struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Suites   []struct {
		Name      string `xml:"name,attr"`
		Testcases []struct {
			Name    string `xml:"name,attr"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// junitcount FILE key=N... parses FILE as JUnit XML and checks the totals
// (tests, failures, errors, skipped) and, with skipmsg=TEXT, that some
// <skipped message> contains TEXT.
func cmdJUnitCount(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: junitcount FILE key=N...")
	}
	var r junitReport
	if err := xml.Unmarshal([]byte(ts.ReadFile(args[0])), &r); err != nil {
		ts.Fatalf("%s is not valid JUnit XML: %v", args[0], err)
	}
	got := map[string]string{
		"tests":    fmt.Sprint(r.Tests),
		"failures": fmt.Sprint(r.Failures),
		"errors":   fmt.Sprint(r.Errors),
		"skipped":  fmt.Sprint(r.Skipped),
	}
	for _, kv := range args[1:] {
		k, v, _ := strings.Cut(kv, "=")
		if k == "skipmsg" {
			if !hasSkipMessage(r, v) {
				ts.Fatalf("no <skipped message> contains %q", v)
			}
			continue
		}
		g, ok := got[k]
		if !ok {
			ts.Fatalf("unknown key %q", k)
		}
		if g != v {
			ts.Fatalf("JUnit %s = %s, want %s", k, g, v)
		}
	}
}

func hasSkipMessage(r junitReport, text string) bool {
	for _, s := range r.Suites {
		for _, tc := range s.Testcases {
			if tc.Skipped != nil && strings.Contains(tc.Skipped.Message, text) {
				return true
			}
		}
	}
	return false
}
