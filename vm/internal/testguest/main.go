// Command testguest is the guest program the vm tests boot. Its first
// argument (vm.Config.Args[0]) selects what it does:
//
//	info   print a JSON line with kernel release, CPU and memory figures and args
//	fail   print to stdout and stderr, then fail with exit status 3
//	panic  panic inside the guest function
//	hang   block forever inside the guest function (the guard must catch it)
//	crash  panic in a separate goroutine, killing PID 1 without a verdict
//
// The kernel command-line parameter ktest_testguest=hang-raw (the kernel
// passes unknown parameters to init as environment variables) makes it
// print a line and block forever without calling guest.Main, so that only
// the host's timeout can end the VM.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ktest-dev/ktest/vm/guest"
)

// Info is what the info mode prints, as JSON after InfoPrefix.
type Info struct {
	Release  string   `json:"release"`
	CPUs     int      `json:"cpus"`
	MemTotal uint64   `json:"mem_total"`
	Args     []string `json:"args"`
	InVM     bool     `json:"in_vm"`
	File     string   `json:"file"` // content of /data/hello.txt, if present
	Cmdline  string   `json:"cmdline"`
}

// InfoPrefix starts the info line.
const InfoPrefix = "TESTGUEST-INFO "

func main() {
	if os.Getenv("ktest_testguest") == "hang-raw" {
		fmt.Println("testguest: hanging without guest.Main")
		for {
			time.Sleep(time.Hour)
		}
	}
	os.Exit(guest.Main(run))
}

func run(env *guest.Env) error {
	mode := ""
	if len(env.Args) > 0 {
		mode = env.Args[0]
	}
	switch mode {
	case "info":
		return info(env)
	case "fail":
		fmt.Fprintln(env.Stdout, "testguest: stdout before failing")
		fmt.Fprintln(env.Stderr, "testguest: stderr before failing")
		return guest.WithExitCode(errors.New("deliberate failure"), 3)
	case "panic":
		panic("deliberate panic")
	case "hang":
		fmt.Fprintln(env.Stdout, "testguest: hanging inside guest.Main")
		select {}
	case "crash":
		fmt.Fprintln(env.Stdout, "testguest: crashing from a goroutine")
		go func() { panic("deliberate goroutine panic") }()
		select {}
	default:
		return fmt.Errorf("testguest: unknown mode %q (want info, fail, panic, hang or crash)", mode)
	}
}

func info(env *guest.Env) error {
	var in Info
	var err error
	if in.Release, err = guest.KernelRelease(); err != nil {
		return err
	}
	if in.CPUs, err = guest.OnlineCPUs(); err != nil {
		return err
	}
	if in.MemTotal, err = guest.MemTotal(); err != nil {
		return err
	}
	if in.Cmdline, err = guest.KernelCmdline(); err != nil {
		return err
	}
	in.Args = env.Args
	in.InVM = env.InVM
	if data, err := os.ReadFile("/data/hello.txt"); err == nil {
		in.File = string(data)
	}
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("marshal info: %w", err)
	}
	fmt.Fprintf(env.Stdout, "%s%s\n", InfoPrefix, b)
	return nil
}
