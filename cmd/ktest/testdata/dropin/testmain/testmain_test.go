// Package testmain passes; its TestMain prints around m.Run, which plain go
// test hides for a passing package.
package testmain

import (
	"fmt"
	"log"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	fmt.Println("TestMain: before m.Run")
	log.SetFlags(0)
	log.Print("TestMain: a log.Print to stderr")
	code := m.Run()
	fmt.Println("TestMain: after m.Run")
	os.Exit(code)
}

func TestOK(t *testing.T) {}
