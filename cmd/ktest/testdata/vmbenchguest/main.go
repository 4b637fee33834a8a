// Command vmbenchguest is the guest of BenchmarkVM's vm-package variant: its
// first act is one line on the console, the moment its boot ends.
package main

import (
	"os"

	"github.com/ktest-dev/ktest/vm/guest"
)

// Marker is the line the benchmark waits for.
const Marker = "vmbench: first\n"

func main() {
	os.Stdout.WriteString(Marker)
	os.Exit(guest.Main(func(*guest.Env) error { return nil }))
}
