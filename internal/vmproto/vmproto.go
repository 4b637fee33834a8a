// Package vmproto is the control channel between the host side of
// `ktest --vm` (package vmm) and its guest init (package vminit): the names
// both sides agree on (ports, the virtio-fs tag, the kernel command line
// marker) and the messages on the "ktest.ctl" port, one JSON object per
// line, each carrying the protocol version.
//
// The exchange: the guest says hello; the host answers with run (the whole
// per-run request, so that the initramfs holds nothing per run and can be
// cached); the guest reports started, then exit. At any time the host may
// send signal (forwarded to the program's process group) or dump (the
// guest writes sysrq w and l and answers dumped). A guest that cannot start
// the program reports fail instead of started. With the initramfs
// transport (no virtio-fs), the guest sends file messages before exit: the
// files the program made or changed in its writable directories, which
// the host writes back. After exit the host may end the VM as soon as it
// has read the output exit counted; the init has synced the filesystems
// before sending it, and waits (bounded) for the host to end the VM rather
// than powering off, which could drop what QEMU has not passed on yet.
package vmproto

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Version is the protocol version every message carries.
const Version = "ktest.vm/1"

// Names both sides agree on.
const (
	// CtlPort, OutPort and ErrPort name the virtio-console ports: the
	// control channel, and the program's stdout and stderr.
	CtlPort = "ktest.ctl"
	OutPort = "ktest.out"
	ErrPort = "ktest.err"
	// FSTag is the virtio-fs tag of the host's root directory.
	FSTag = "hostroot"
	// InitEnv is the kernel command line parameter (it reaches PID 1 as
	// an environment variable) that makes the ktest binary the guest init.
	InitEnv = "KTEST_VMINIT"
	// GuestEnv is set to "1" in the program's environment: it runs in a
	// ktest guest (kerneltest.Run then runs its body in place instead of
	// booting a guest inside the guest).
	GuestEnv = "KTEST_VM_GUEST"
	// MaxLine bounds one message (a run request carries go's whole
	// environment).
	MaxLine = 4 << 20
)

// Message types.
const (
	TypeHello   = "hello"   // guest → host: the init is up and reads requests
	TypeRun     = "run"     // host → guest: Run
	TypeStarted = "started" // guest → host: the program started (PID)
	TypeExit    = "exit"    // guest → host: Code, Signal
	TypeFail    = "fail"    // guest → host: Error (no program ran)
	TypeSignal  = "signal"  // host → guest: Signal to the program's group
	TypeDump    = "dump"    // host → guest: write sysrq w and l
	TypeDumped  = "dumped"  // guest → host: the dump was written
	TypeFile    = "file"    // guest → host: File, a piece of a file to write back
)

// Transports: how the host's files reach the guest (Run.Transport).
const (
	// TransportVirtiofs mounts the host's root over virtio-fs.
	TransportVirtiofs = "virtiofs"
	// TransportInitramfs finds the files the host packed into the
	// initramfs under the host root's mount point; writable directories
	// travel back in file messages.
	TransportInitramfs = "initramfs"
)

// FileChunk bounds the data of one file message (base64 makes it 4/3 as
// long on the line, well below MaxLine).
const FileChunk = 1 << 20

// Msg is one line of the control channel.
type Msg struct {
	V    string `json:"v"`
	Type string `json:"type"`
	// Run is the request of a TypeRun message.
	Run *Run `json:"run,omitempty"`
	// PID is the program's guest PID (TypeStarted).
	PID int `json:"pid,omitempty"`
	// Code is the exit status (TypeExit): the program's code, or 128+Signal.
	Code int `json:"code,omitempty"`
	// Signal is a signal number: the one that killed the program
	// (TypeExit), or the one to forward (TypeSignal).
	Signal int `json:"signal,omitempty"`
	// Stdout and Stderr count the bytes of the program's output the init
	// wrote to the ports (TypeExit): the host reads that much before it
	// ends the VM, as the ports' data and the control message travel apart.
	Stdout int64 `json:"stdout,omitempty"`
	Stderr int64 `json:"stderr,omitempty"`
	// Error says why the guest could not run the program (TypeFail), or
	// which files it could not send back (TypeExit).
	Error string `json:"error,omitempty"`
	// Uptime is the guest's uptime in milliseconds when it sent the
	// message (TypeHello, TypeStarted).
	Uptime int64 `json:"uptime_ms,omitempty"`
	// File is a piece of a file to write back (TypeFile).
	File *File `json:"file,omitempty"`
}

// File is a piece of a regular file the program wrote in a writable
// directory: Data goes at Offset of the host file Path (absolute, inside
// one of the run's writable binds). The first piece has Offset 0 and
// creates or truncates the file; the pieces of one file come in order.
type File struct {
	Path   string `json:"path"`
	Mode   uint32 `json:"mode"`
	Offset int64  `json:"offset,omitempty"`
	Data   []byte `json:"data,omitempty"`
}

// Run is everything the init needs for one run. All paths are host paths,
// which the guest sees at the same place.
type Run struct {
	Argv []string `json:"argv"`
	Env  []string `json:"env"`
	Dir  string   `json:"dir"`
	// Binds are host directories mounted over the read-only root, in
	// order (parents first): writable ones, and read-only ones that the
	// guest's own tmpfs (/tmp, /run) would otherwise hide.
	Binds []Bind `json:"binds,omitempty"`
	// Modules are loaded (from ModuleDir) before Setup runs.
	Modules []string `json:"modules,omitempty"`
	// Setup are /bin/sh -c command lines run in order before the program.
	Setup []string `json:"setup,omitempty"`
	// Release is the kernel release (uname -r), for /lib/modules/REL and
	// /boot/config-REL.
	Release string `json:"release"`
	// ModuleDir is the kernel's module tree with modules.dep (the cache
	// entry's ktest/modules); "" if the kernel has none.
	ModuleDir string `json:"module_dir,omitempty"`
	// ModprobeDir is what the guest's /lib/modules/REL shows: ModuleDir,
	// or a tree that adds the binary indexes libkmod reads.
	ModprobeDir string `json:"modprobe_dir,omitempty"`
	// ModulesParent is the host path that /lib/modules resolves to.
	ModulesParent string `json:"modules_parent,omitempty"`
	// BootDir is the host path that /boot resolves to.
	BootDir string `json:"boot_dir,omitempty"`
	// Config is the kernel config, shown as /boot/config-REL.
	Config string `json:"config,omitempty"`
	// Transport is TransportVirtiofs ("" means it too) or
	// TransportInitramfs.
	Transport string `json:"transport,omitempty"`
}

// Bind is one host directory mounted at its own path in the guest.
type Bind struct {
	Path     string `json:"path"`
	Writable bool   `json:"writable,omitempty"`
}

// ErrVersion reports a message of another protocol version.
var ErrVersion = errors.New("vm control message of another protocol version")

// Decode parses one line. It refuses other versions and messages without
// a type.
func Decode(line []byte) (Msg, error) {
	var m Msg
	if err := json.Unmarshal(line, &m); err != nil {
		return Msg{}, fmt.Errorf("decode vm control message: %w", err)
	}
	if m.V != Version {
		return Msg{}, fmt.Errorf("%w: %q, want %q", ErrVersion, m.V, Version)
	}
	if m.Type == "" {
		return Msg{}, errors.New("decode vm control message: no type")
	}
	if m.Type == TypeRun && (m.Run == nil || len(m.Run.Argv) == 0) {
		return Msg{}, errors.New("decode vm control message: a run request without argv")
	}
	if m.Type == TypeFile {
		switch f := m.File; {
		case f == nil || !strings.HasPrefix(f.Path, "/"):
			return Msg{}, errors.New("decode vm control message: a file message without an absolute path")
		case f.Offset < 0 || len(f.Data) > FileChunk:
			return Msg{}, fmt.Errorf("decode vm control message: a file piece at offset %d of %d bytes (want offset ≥ 0, at most %d bytes)", f.Offset, len(f.Data), FileChunk)
		}
	}
	return m, nil
}

// Reader reads messages from a stream.
type Reader struct{ r *bufio.Reader }

// NewReader returns a Reader of r.
func NewReader(r io.Reader) *Reader { return &Reader{bufio.NewReaderSize(r, 64<<10)} }

// Read returns the next message. Lines that are not messages (noise on a
// serial line before the guest opened it) are skipped; io.EOF ends the
// stream.
func (r *Reader) Read() (Msg, error) {
	for {
		line, err := r.readLine()
		if err != nil {
			return Msg{}, err
		}
		m, derr := Decode(line)
		if derr == nil {
			return m, nil
		}
		if errors.Is(derr, ErrVersion) {
			return Msg{}, derr
		}
	}
}

func (r *Reader) readLine() ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > MaxLine {
			return nil, fmt.Errorf("read vm control message: a line longer than %d bytes", MaxLine)
		}
		if err == nil {
			return line, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if err == io.EOF && len(line) > 0 {
				return line, nil
			}
			return nil, err
		}
	}
}

// Writer writes messages to a stream; it is safe for concurrent use.
type Writer struct {
	mu sync.Mutex
	w  io.Writer
}

// NewWriter returns a Writer to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write sends m, with the version filled in, as one line.
func (w *Writer) Write(m Msg) error {
	m.V = Version
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode vm control message: %w", err)
	}
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.w.Write(b); err != nil {
		return fmt.Errorf("send vm control message %s: %w", m.Type, err)
	}
	return nil
}
