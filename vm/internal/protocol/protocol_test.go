package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestResultLineIsOneLineAndRoundTrips(t *testing.T) {
	v := Verdict{Exit: 2, Error: "panic: line one\nline two\r\x00", Panic: true}
	line := ResultLine("abc", v)
	if strings.ContainsAny(line, "\n\r\x00") {
		t.Fatalf("result line contains a control character: %q", line)
	}
	rest, ok := strings.CutPrefix(line, ResultPrefix("abc"))
	if !ok {
		t.Fatalf("result line %q does not start with the prefix", line)
	}
	var got Verdict
	if err := json.Unmarshal([]byte(rest), &got); err != nil || got != v {
		t.Errorf("decoded %+v, %v; want %+v", got, err, v)
	}
	if BeginLine("abc") != "KTEST-GUEST-BEGIN nonce=abc" {
		t.Errorf("BeginLine = %q", BeginLine("abc"))
	}
}
