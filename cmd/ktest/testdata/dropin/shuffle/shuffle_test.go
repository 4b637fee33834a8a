// Package shuffle shuffles its tests with a fixed seed, set in TestMain, so
// that the seed line is the same in every run.
package shuffle

import (
	"flag"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	flag.Parse()
	flag.Set("test.shuffle", "42")
	os.Exit(m.Run())
}

func TestA(t *testing.T) { t.Log("A") }
func TestB(t *testing.T) { t.Log("B") }
func TestC(t *testing.T) { t.Log("C") }
