package cache

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateKeyAccepts(t *testing.T) {
	for _, k := range []string{
		"a", "6.14.2", "6.15-rc3", "v6.1_x86-64+kasan", "A.b-C_d+e", "x.y.z",
		strings.Repeat("k", MaxKeyLen),
		"local-deadbee-x86_64-kc1234abcd",
	} {
		if err := ValidateKey(k); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", k, err)
		}
	}
}

func TestValidateKeyRejects(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want []string // substrings of the error
	}{
		{"", []string{"empty"}},
		{"a/b", []string{"slash", "offset 1"}},
		{"/abs", []string{"slash"}},
		{"..", []string{`starts with "."`}},
		{".hidden", []string{`starts with "."`}},
		{".tmp-x-1", []string{`starts with "."`}},
		{"a..b", []string{`contains ".."`}},
		{"-", []string{`starts with "-"`, "flag"}},
		{"-rf", []string{`starts with "-"`}},
		{"--key", []string{`starts with "-"`}},
		{"a\x00b", []string{"NUL", "offset 1"}},
		{"sp ace", []string{`' '`, "offset 2", "not allowed"}},
		{"tab\t", []string{"not allowed"}},
		{"é", []string{"not allowed"}},
		{"back\\slash", []string{"not allowed"}},
		{strings.Repeat("k", MaxKeyLen+1), []string{"201 bytes", "limit is 200"}},
		{strings.Repeat("k", 5000), []string{"5000 bytes", `"...:`}},
	} {
		err := ValidateKey(tc.key)
		if err == nil {
			t.Errorf("ValidateKey(%q) = nil, want an error", tc.key)
			continue
		}
		msg := err.Error()
		for _, w := range append(tc.want, "[A-Za-z0-9._+-]{1,200}") {
			if !strings.Contains(msg, w) {
				t.Errorf("ValidateKey(%.30q): %q lacks %q", tc.key, msg, w)
			}
		}
		if len(msg) > 400 {
			t.Errorf("ValidateKey(%.30q): message is %d bytes; over-long keys must be abbreviated", tc.key, len(msg))
		}
	}
}

// checkKeyInvariants is shared with FuzzValidateKey: a valid key names one
// directory directly under the root.
func checkKeyInvariants(t *testing.T, key string) {
	err := ValidateKey(key)
	if err != nil {
		if err.Error() == "" {
			t.Fatalf("empty error message for %q", key)
		}
		return
	}
	if len(key) == 0 || len(key) > MaxKeyLen || strings.ContainsAny(key, "/\x00") ||
		strings.HasPrefix(key, ".") || strings.HasPrefix(key, "-") || strings.Contains(key, "..") {
		t.Fatalf("ValidateKey accepted %q", key)
	}
	for i := 0; i < len(key); i++ {
		if !isKeyByte(key[i]) {
			t.Fatalf("ValidateKey accepted byte %q in %q", key[i], key)
		}
	}
	root := "/cache/root"
	if p := filepath.Join(root, key); filepath.Dir(p) != root || filepath.Base(p) != key {
		t.Fatalf("key %q escapes the root: %s", key, p)
	}
	if validateEntryName(key) != nil {
		t.Fatalf("valid key %q refused by validateEntryName", key)
	}
}
