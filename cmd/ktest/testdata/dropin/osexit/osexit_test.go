// Package osexit crashes: a test calls os.Exit.
package osexit

import (
	"fmt"
	"os"
	"testing"
)

func TestBefore(t *testing.T) { fmt.Println("a print from a passing test") }

func TestExits(t *testing.T) {
	t.Log("logged before os.Exit: lost, as go loses it")
	fmt.Println("printed before os.Exit")
	os.Exit(3)
}
