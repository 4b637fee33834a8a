package vmproto

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b)
	msgs := []Msg{
		{Type: TypeHello, Uptime: 12},
		{Type: TypeRun, Run: &Run{Argv: []string{"/bin/true"}, Env: []string{"A=1"}, Dir: "/", Binds: []Bind{{Path: "/tmp/x", Writable: true}}, Release: "6.1.0"}},
		{Type: TypeFile, File: &File{Path: "/w/cover.out", Mode: 0o644, Offset: 5, Data: []byte("\x00\xffbinary\n")}},
		{Type: TypeExit, Code: 130, Signal: 2},
	}
	for _, m := range msgs {
		if err := w.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	// Noise before and between messages is skipped, as on a serial line.
	in := "garbage\r\n" + b.String()
	r := NewReader(strings.NewReader(in))
	for i, want := range msgs {
		got, err := r.Read()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		want.V = Version
		if !reflect.DeepEqual(got, want) {
			t.Errorf("message %d = %+v, want %+v", i, got, want)
		}
	}
	if _, err := r.Read(); err != io.EOF {
		t.Fatalf("after the last message: %v, want EOF", err)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, line := range []string{
		`{"v":"ktest.vm/2","type":"hello"}`,
		`{"v":"ktest.vm/1"}`,
		`{"v":"ktest.vm/1","type":"run"}`,
		`{"v":"ktest.vm/1","type":"run","run":{"argv":[]}}`,
		`{"v":"ktest.vm/1","type":"file"}`,
		`{"v":"ktest.vm/1","type":"file","file":{"path":"relative","mode":420}}`,
		`{"v":"ktest.vm/1","type":"file","file":{"path":"/w/x","mode":420,"offset":-1}}`,
		`not json`,
	} {
		if _, err := Decode([]byte(line)); err == nil {
			t.Errorf("Decode(%s) accepted it", line)
		}
	}
	_, err := NewReader(strings.NewReader(`{"v":"ktest.vm/9","type":"hello"}` + "\n")).Read()
	if !errors.Is(err, ErrVersion) {
		t.Errorf("another version: %v, want ErrVersion", err)
	}
}

func TestLongLineRefused(t *testing.T) {
	r := NewReader(strings.NewReader(strings.Repeat("x", MaxLine+10) + "\n"))
	if _, err := r.Read(); err == nil || err == io.EOF {
		t.Fatalf("an over-long line: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"v":"ktest.vm/1","type":"exit","code":2}`))
	f.Add([]byte(`{"v":"ktest.vm/1","type":"run","run":{"argv":["x"],"binds":[{"path":"/a"}]}}`))
	f.Add([]byte(`{"v":"ktest.vm/1","type":"file","file":{"path":"/w/c.out","mode":420,"offset":3,"data":"aGk="}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := Decode(line)
		if err != nil {
			return
		}
		if m.V != Version || m.Type == "" || (m.Type == TypeRun && (m.Run == nil || len(m.Run.Argv) == 0)) {
			t.Fatalf("accepted %q as %+v", line, m)
		}
		if m.Type == TypeFile && (m.File == nil || !strings.HasPrefix(m.File.Path, "/") || m.File.Offset < 0 || len(m.File.Data) > FileChunk) {
			t.Fatalf("accepted file message %q as %+v", line, m.File)
		}
	})
}
