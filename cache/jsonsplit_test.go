package cache

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// jsonSeeds are inputs for the fast-path fuzz targets: real metadata and
// the shapes the fast paths must leave to encoding/json.
func jsonSeeds(f *testing.F) {
	paths, _ := filepath.Glob("testdata/ktstr/*/metadata.json")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{}`, ` { } `, `null`, `[]`, `"s"`, `1`, `{"a":1,"a":2}`, `{"a\u0062":1}`, `{"\u00e9":"x"}`,
		`{"a":"x\"y","b":[1,{"c":"]}"}],"d":{"e":[]},"f":-1.5e3,"g":true,"h":null}`,
		"{\"k\xff\":1}", "{\"a\":\"\xff\"}", `{"a":"\ud800"}`, `{"a" : "b" , "c" :[ 1 , 2 ] }`,
	} {
		f.Add([]byte(s))
	}
}

// FuzzSplitObject: whenever splitObject takes an input, it must give the
// members encoding/json gives.
func FuzzSplitObject(f *testing.F) {
	jsonSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		got, ok := splitObject(data)
		if !ok {
			return
		}
		var want map[string]json.RawMessage
		if err := json.Unmarshal(data, &want); err != nil {
			t.Fatalf("splitObject took %q, encoding/json fails: %v", data, err)
		}
		keys := map[string]bool{}
		for _, m := range got {
			keys[m.key] = true
		}
		if len(keys) != len(want) {
			t.Fatalf("%q: %d distinct keys, encoding/json %d", data, len(keys), len(want))
		}
		for k, w := range want {
			g, ok := got.get(k)
			if !ok {
				t.Fatalf("%q: member %q missing", data, k)
			}
			gc, err1 := compactValue(g)
			wc, err2 := compactValue(w)
			if err1 != nil || err2 != nil || !bytes.Equal(gc, wc) {
				t.Fatalf("%q: member %q = %q, encoding/json %q (%v %v)", data, k, g, w, err1, err2)
			}
		}
	})
}

// FuzzDecodeString: decodeString and decodeBool agree with encoding/json on
// every value (null counts as not a string).
func FuzzDecodeString(f *testing.F) {
	for _, s := range []string{`"abc"`, `"a\"b"`, `"\u00e9"`, "\"\xff\"", `null`, `true`, `false`, `1`, `{}`, `""`, ` "x" `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		s, ok := decodeString(raw)
		var want string
		wantOK := !isNull(raw) && json.Unmarshal(raw, &want) == nil
		if ok != wantOK || s != want {
			t.Fatalf("decodeString(%q) = %q, %v; encoding/json %q, %v", raw, s, ok, want, wantOK)
		}
		b, ok := decodeBool(raw)
		var wantB bool
		wantOK = !isNull(raw) && json.Unmarshal(raw, &wantB) == nil
		if ok != wantOK || b != wantB {
			t.Fatalf("decodeBool(%q) = %v, %v; encoding/json %v, %v", raw, b, ok, wantB, wantOK)
		}
	})
}

// TestCompactValue: compactValue equals json.Compact on valid values.
func TestCompactValue(t *testing.T) {
	for _, in := range []string{`1`, ` "a b" `, `{ "a" : [ 1 , 2 ] }`, `null`, `[ ]`, `-0.5e-3`} {
		var want bytes.Buffer
		if err := json.Compact(&want, []byte(in)); err != nil {
			t.Fatal(err)
		}
		got, err := compactValue(json.RawMessage(in))
		if err != nil || !bytes.Equal(got, want.Bytes()) {
			t.Errorf("compactValue(%q) = %q, %v; want %q", in, got, err, want.Bytes())
		}
	}
}
