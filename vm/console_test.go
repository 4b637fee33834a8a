package vm

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ktest-dev/ktest/vm/internal/protocol"
)

const testNonce = "0123456789abcdef"

// parseConsole feeds console to a fresh parser in chunks of size chunk
// (0: all at once) and closes it.
func parseConsole(console string, chunk int) *consoleParser {
	p := newConsoleParser(testNonce, nil, nil)
	if chunk <= 0 {
		chunk = len(console) + 1
	}
	for len(console) > 0 {
		n := min(chunk, len(console))
		p.Write([]byte(console[:n]))
		console = console[n:]
	}
	p.Close()
	return p
}

func resultLine(v protocol.Verdict) string { return protocol.ResultLine(testNonce, v) }

func TestConsoleParserExtractsOutputAndVerdict(t *testing.T) {
	begin := protocol.BeginLine(testNonce)
	cases := []struct {
		name       string
		console    string
		wantOutput string
		wantExit   int // -1: no verdict
	}{
		{
			name:       "crlf and kernel lines",
			console:    "[    0.000000] Linux version 6.1\r\n" + begin + "\r\nhello\r\n[    1.500000] random: crng init done\r\nworld\r\n\r\n" + resultLine(protocol.Verdict{}) + "\r\n[    1.7] reboot: Power down\r\n",
			wantOutput: "hello\nworld\n",
			wantExit:   0,
		},
		{
			name:       "output without final newline",
			console:    begin + "\nabc\n" + resultLine(protocol.Verdict{Exit: 1, Error: "boom"}) + "\n",
			wantOutput: "abc",
			wantExit:   1,
		},
		{
			name:       "no output",
			console:    begin + "\n\n" + resultLine(protocol.Verdict{}) + "\n",
			wantOutput: "",
			wantExit:   0,
		},
		{
			name:       "markers with another nonce are output",
			console:    begin + "\nKTEST-GUEST-RESULT nonce=ffff {\"exit\":0}\n\n" + resultLine(protocol.Verdict{Exit: 4}) + "\n",
			wantOutput: "KTEST-GUEST-RESULT nonce=ffff {\"exit\":0}\n",
			wantExit:   4,
		},
		{
			name:       "result before begin is ignored",
			console:    resultLine(protocol.Verdict{}) + "\n" + "[ 1.0] Kernel panic - not syncing: x\n",
			wantOutput: "",
			wantExit:   -1,
		},
		{
			name:       "kernel text glued before the result line",
			console:    begin + "\nout\n[    2.0] xyz" + resultLine(protocol.Verdict{}) + "\n",
			wantOutput: "out\n[    2.0] xyz",
			wantExit:   0,
		},
		{
			name:       "begin line must end after the nonce",
			console:    begin + "ff\nout\n" + resultLine(protocol.Verdict{}) + "\n",
			wantOutput: "",
			wantExit:   -1,
		},
		{
			name:       "no final newline at all",
			console:    begin + "\npartial",
			wantOutput: "partial\n",
			wantExit:   -1,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, chunk := range []int{0, 1, 7} {
				p := parseConsole(c.console, chunk)
				exit := -1
				if p.verdict != nil {
					exit = p.verdict.Exit
				}
				if exit != c.wantExit || p.Output() != c.wantOutput {
					t.Errorf("chunk %d: exit %d output %q; want exit %d output %q", chunk, exit, p.Output(), c.wantExit, c.wantOutput)
				}
				if strings.Contains(p.console.String(), "\r\n") {
					t.Errorf("chunk %d: console keeps CRLF", chunk)
				}
			}
		})
	}
}

func TestConsoleParserGarbledVerdict(t *testing.T) {
	console := protocol.BeginLine(testNonce) + "\n\n" + protocol.ResultPrefix(testNonce) + "{\"exit\":[ 3.1] oops\n"
	p := parseConsole(console, 0)
	if p.verdict != nil {
		t.Fatalf("garbled line decoded as verdict %+v", p.verdict)
	}
	err := classifyFailure(bootOutcome{console: p.console.String(), guestStarted: p.begun, badVerdict: p.badVerdict})
	if err == nil || !strings.Contains(err.Error(), "garbled") {
		t.Errorf("classifyFailure = %v, want a garbled-verdict BootError", err)
	}
}

func TestConsoleParserVerdictCallbackAndLiveCopy(t *testing.T) {
	var live bytes.Buffer
	calls := 0
	p := newConsoleParser(testNonce, &live, func() { calls++ })
	in := protocol.BeginLine(testNonce) + "\r\nx\r\n" + resultLine(protocol.Verdict{}) + "\r\n" + resultLine(protocol.Verdict{Exit: 9}) + "\r\n"
	p.Write([]byte(in))
	p.Close()
	if calls != 1 {
		t.Errorf("onVerdict called %d times, want 1", calls)
	}
	if p.verdict == nil || p.verdict.Exit != 0 {
		t.Errorf("verdict %+v, want the first one (exit 0)", p.verdict)
	}
	if live.String() != in {
		t.Errorf("live copy %q differs from the raw console %q", live.String(), in)
	}
}

func TestCappedBufferKeepsHeadAndTail(t *testing.T) {
	b := &cappedBuffer{headLimit: 10, tailLimit: 5}
	for i := 0; i < 100; i++ {
		b.Write([]byte("0123456789"))
	}
	b.Write([]byte("END"))
	got := b.String()
	if !strings.HasPrefix(got, "0123456789\n[ktest: 988 bytes of console output dropped]\n") || !strings.HasSuffix(got, "89END") {
		t.Errorf("capped buffer = %q", got)
	}
	small := &cappedBuffer{headLimit: 10, tailLimit: 5}
	small.Write([]byte("short"))
	if small.String() != "short" {
		t.Errorf("small buffer = %q, want it unchanged", small.String())
	}
}

func TestTailLines(t *testing.T) {
	if got := tailLines("a\nb\nc\n", 2); got != "b\nc" {
		t.Errorf("tailLines = %q, want %q", got, "b\nc")
	}
	if got := tailLines("a\nb", 5); got != "a\nb" {
		t.Errorf("tailLines = %q, want everything", got)
	}
}

// FuzzConsoleParser: the parser must not panic, must give the same
// verdict and output however the console is chunked, and a boot without a
// verdict must always classify into an error.
func FuzzConsoleParser(f *testing.F) {
	begin := protocol.BeginLine(testNonce)
	f.Add(begin+"\r\nhi\r\n\r\n"+resultLine(protocol.Verdict{Exit: 1, Error: "x"})+"\r\n", 3)
	f.Add("[    1.0] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000200\n", 1)
	f.Add(begin+"\n"+protocol.ResultPrefix(testNonce)+"{\"exit\":", 5)
	f.Add("Failed to execute /init (error -8)\nInitramfs unpacking failed: junk\n", 2)
	f.Fuzz(func(t *testing.T, console string, chunk int) {
		whole := parseConsole(console, 0)
		if chunk < 1 {
			chunk = 1
		}
		split := parseConsole(console, chunk%64+1)
		if (whole.verdict == nil) != (split.verdict == nil) || whole.Output() != split.Output() {
			t.Fatalf("chunking changed the result: whole %+v %q, split %+v %q", whole.verdict, whole.Output(), split.verdict, split.Output())
		}
		if whole.verdict == nil {
			for _, exit := range []int{0, 1, -1} {
				if err := classifyFailure(bootOutcome{console: whole.console.String(), qemuExit: exit, stderr: console, guestStarted: whole.begun, badVerdict: whole.badVerdict}); err == nil {
					t.Fatal("classifyFailure returned nil")
				}
			}
		}
	})
}
