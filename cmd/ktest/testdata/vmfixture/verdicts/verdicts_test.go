// Package verdicts has one test of each verdict, always: its counts are
// the same on every machine (1 passed, 1 failed, 1 skipped; exit 1).
package verdicts

import "testing"

func TestPasses(t *testing.T) { t.Log("passes everywhere") }

func TestFails(t *testing.T) { t.Error("vmfixture: this test always fails") }

func TestSkips(t *testing.T) { t.Skip("vmfixture: this test always skips") }
