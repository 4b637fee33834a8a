package cache

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/golden")

// checkKtstrSchema checks that metadata.json content would deserialize in
// ktstr: every key ktstr's struct has is present (ktest writes optional keys
// as explicit null) with the JSON type ktstr expects, source is a tagged
// object whose payload keys match its type, and built_at is UTC to the second.
func checkKtstrSchema(t testing.TB, data []byte) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("metadata is not a JSON object: %v\n%s", err, data)
	}
	isString := func(v any) bool { _, ok := v.(string); return ok }
	isBool := func(v any) bool { _, ok := v.(bool); return ok }
	stringOrNull := func(v any) bool { return v == nil || isString(v) }
	check := func(obj map[string]any, where, key string, ok func(any) bool, want string) {
		v, present := obj[key]
		if !present {
			t.Errorf("%s: key %q missing (ktstr needs it; optional keys are written as null)", where, key)
			return
		}
		if !ok(v) {
			t.Errorf("%s: key %q is %#v, want %s", where, key, v, want)
		}
	}
	check(m, "metadata", "version", stringOrNull, "string or null")
	check(m, "metadata", "arch", isString, "string")
	check(m, "metadata", "image_name", isString, "string")
	check(m, "metadata", "config_hash", stringOrNull, "string or null")
	check(m, "metadata", "built_at", isString, "string")
	check(m, "metadata", "ktstr_kconfig_hash", stringOrNull, "string or null")
	check(m, "metadata", "has_vmlinux", isBool, "boolean")
	check(m, "metadata", "vmlinux_stripped", isBool, "boolean")
	if s, ok := m["built_at"].(string); ok && !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`).MatchString(s) {
		t.Errorf("built_at %q is not YYYY-MM-DDTHH:MM:SSZ", s)
	}
	src, ok := m["source"].(map[string]any)
	if !ok {
		t.Errorf("source is %#v, want an object", m["source"])
		return
	}
	want := map[string][]string{"tarball": {}, "git": {"git_hash", "ref"}, "local": {"source_tree_path", "git_hash"}}
	typ, _ := src["type"].(string)
	fields, known := want[typ]
	if !known {
		t.Errorf("source type %#v is not tarball, git or local", src["type"])
		return
	}
	for _, f := range fields {
		check(src, "source", f, stringOrNull, "string or null")
	}
	if len(src) != len(fields)+1 {
		t.Errorf("source %v has keys beyond type and %v", src, fields)
	}
}

// copyTree copies the directory tree src into dst (created).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestKtstrFixturesListValid(t *testing.T) {
	root := t.TempDir()
	copyTree(t, "testdata/ktstr", root)
	// The fixtures' images are placeholders; List checks image headers, so
	// give them valid ones (what ktstr stores are real kernels).
	for _, img := range []string{"6.14.2-tarball-x86_64-kc1a2b3c4d/bzImage", "git-v6.15-rc3-x86_64/bzImage", "newer-ktstr-6.16/bzImage"} {
		if err := os.WriteFile(filepath.Join(root, img), fakeBzImage(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "local-deadbee-aarch64", "Image"), fakeArm64Image(), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	es, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, e := range es {
		keys = append(keys, e.Key)
		if e.Problem != nil {
			t.Errorf("ktstr entry %s listed as corrupt: %+v", e.Key, e.Problem)
		}
	}
	wantKeys := []string{"newer-ktstr-6.16", "git-v6.15-rc3-x86_64", "6.14.2-tarball-x86_64-kc1a2b3c4d", "local-deadbee-aarch64"}
	if !reflect.DeepEqual(keys, wantKeys) {
		t.Fatalf("order %v, want newest first %v", keys, wantKeys)
	}
	local := es[3]
	if local.ImagePath() != filepath.Join(root, "local-deadbee-aarch64", "Image") || local.VmlinuxPath() == "" {
		t.Errorf("local entry paths: %s %q", local.ImagePath(), local.VmlinuxPath())
	}
	m := local.Metadata
	if m.Version != nil || m.Source.Type != SourceLocal || *m.Source.SourceTreePath != "/home/dev/linux" || m.Source.GitHash != nil || m.Arch != "aarch64" || !m.HasVmlinux || m.VmlinuxStripped {
		t.Errorf("local metadata parsed wrong: %+v", m)
	}
	g := es[1].Metadata
	if g.Source.Type != SourceGit || *g.Source.GitHash != "9c1e3f2" || *g.Source.Ref != "v6.15-rc3" || g.KtstrKconfigHash != nil {
		t.Errorf("git metadata parsed wrong: %+v", g)
	}
	if es[2].VmlinuxPath() == "" || es[1].VmlinuxPath() != "" {
		t.Error("VmlinuxPath does not follow has_vmlinux")
	}
	for _, e := range es {
		if got, err := c.Lookup(e.Key); err != nil || got.Dir != e.Dir {
			t.Errorf("Lookup(%s) = %+v, %v", e.Key, got, err)
		}
	}
}

// Parsing and rewriting a ktstr metadata.json gives back the same bytes.
func TestKtstrFixturesRoundTripBytes(t *testing.T) {
	for _, dir := range []string{"6.14.2-tarball-x86_64-kc1a2b3c4d", "git-v6.15-rc3-x86_64", "local-deadbee-aarch64"} {
		data, err := os.ReadFile(filepath.Join("testdata/ktstr", dir, MetadataFile))
		if err != nil {
			t.Fatal(err)
		}
		checkKtstrSchema(t, data)
		m, err := ParseMetadata(data)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		out, err := MarshalMetadata(m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out, data) {
			t.Errorf("%s: rewritten bytes differ\n got:\n%s\nwant:\n%s", dir, out, data)
		}
	}
}

// Keys of a newer ktstr are kept and written back.
func TestUnknownKeysPreserved(t *testing.T) {
	data, err := os.ReadFile("testdata/ktstr/newer-ktstr-6.16/metadata.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := ParseMetadata(data)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"extra_kconfig_hash": `"feedface"`, "source_vmlinux_size": "734003200", "source_vmlinux_mtime_secs": "1755691200"}
	for k, v := range want {
		if string(m.Extra[k]) != v {
			t.Errorf("Extra[%s] = %s, want %s", k, m.Extra[k], v)
		}
	}
	out, err := MarshalMetadata(m)
	if err != nil {
		t.Fatal(err)
	}
	checkKtstrSchema(t, out)
	var before, after map[string]any
	_ = json.Unmarshal(data, &before)
	_ = json.Unmarshal(out, &after)
	if !reflect.DeepEqual(before, after) {
		t.Errorf("content changed on rewrite:\n%v\n%v", before, after)
	}
	m.Source.Extra = map[string]json.RawMessage{"future_field": json.RawMessage(`{"a": [1, 2]}`)}
	out, _ = MarshalMetadata(m)
	m2, err := ParseMetadata(out)
	if err != nil || string(m2.Source.Extra["future_field"]) != `{"a":[1,2]}` {
		t.Errorf("source extra not preserved: %v %s", err, out)
	}
}

func TestMarshalSourceFieldsPerType(t *testing.T) {
	all := Source{GitHash: StringPtr("h"), Ref: StringPtr("r"), SourceTreePath: StringPtr("/p")}
	for typ, want := range map[string]string{
		SourceTarball: `{"type":"tarball"}`,
		SourceGit:     `{"type":"git","git_hash":"h","ref":"r"}`,
		SourceLocal:   `{"type":"local","source_tree_path":"/p","git_hash":"h"}`,
	} {
		s := all
		s.Type = typ
		got, err := json.Marshal(s)
		if err != nil || string(got) != want {
			t.Errorf("%s: %s, %v; want %s", typ, got, err, want)
		}
	}
	got, _ := json.Marshal(Source{Type: SourceGit})
	if string(got) != `{"type":"git","git_hash":null,"ref":null}` {
		t.Errorf("nil git fields must be explicit nulls: %s", got)
	}
	if _, err := json.Marshal(Source{Type: "svn"}); err == nil {
		t.Error("unknown source type marshalled")
	}
}

func TestMarshalMetadataRules(t *testing.T) {
	m := testMetadata()
	m.BuiltAt = "2025-01-02T03:04:05Z"
	m.Version = StringPtr("<6.1 & co>")
	m.ConfigHash = nil
	out, err := MarshalMetadata(m)
	if err != nil {
		t.Fatal(err)
	}
	checkKtstrSchema(t, out)
	if !bytes.Contains(out, []byte(`"version": "<6.1 & co>"`)) {
		t.Errorf("HTML characters escaped (serde does not):\n%s", out)
	}
	if !bytes.Contains(out, []byte("\n  \"config_hash\": null,\n")) || bytes.HasSuffix(out, []byte("\n")) {
		t.Errorf("want 2-space indent, explicit null and no trailing newline:\n%q", out)
	}
	m.Extra = map[string]json.RawMessage{"arch": json.RawMessage(`"x"`)}
	if _, err := MarshalMetadata(m); err == nil {
		t.Error("extra key duplicating a known key accepted")
	}
	m.Extra = map[string]json.RawMessage{"x": json.RawMessage(`{bad`)}
	if _, err := MarshalMetadata(m); err == nil {
		t.Error("invalid extra JSON accepted")
	}
	if err := m.SetExtraString("built_at", "x"); err == nil {
		t.Error("SetExtraString of a known key accepted")
	}
}

func TestParseMetadataOptionalKeysAbsent(t *testing.T) {
	m, err := ParseMetadata([]byte(`{"source":{"type":"git"},"arch":"x86_64","image_name":"bzImage","built_at":"b","has_vmlinux":false,"vmlinux_stripped":false}`))
	if err != nil {
		t.Fatalf("absent optional keys must parse (ktstr reads them as None): %v", err)
	}
	if m.Version != nil || m.ConfigHash != nil || m.KtstrKconfigHash != nil || m.Source.GitHash != nil {
		t.Errorf("absent keys not nil: %+v", m)
	}
}

func TestParseMetadataProblems(t *testing.T) {
	valid := `{"version":"1","source":{"type":"tarball"},"arch":"x86_64","image_name":"bzImage","config_hash":null,"built_at":"2025-01-01T00:00:00Z","ktstr_kconfig_hash":null,"has_vmlinux":false,"vmlinux_stripped":false}`
	if _, err := ParseMetadata([]byte(valid)); err != nil {
		t.Fatalf("valid: %v", err)
	}
	without := func(key string) string {
		var m map[string]any
		_ = json.Unmarshal([]byte(valid), &m)
		delete(m, key)
		b, _ := json.Marshal(m)
		return string(b)
	}
	with := func(key, raw string) string {
		var m map[string]json.RawMessage
		_ = json.Unmarshal([]byte(valid), &m)
		m[key] = json.RawMessage(raw)
		b, _ := json.Marshal(m)
		return string(b)
	}
	for _, tc := range []struct {
		name, in string
		kind     ProblemKind
		want     string
	}{
		{"empty file", "", ProblemTruncated, "cut off"},
		{"cut", valid[:50], ProblemTruncated, "cut off"},
		{"not json", "this is not json", ProblemMalformed, "invalid character"},
		{"trailing garbage", valid + " x", ProblemMalformed, "after top-level value"},
		{"bad token", `{"version": ,}`, ProblemMalformed, "invalid character"},
		{"bad last byte", `{"a":1x`, ProblemMalformed, "invalid character 'x'"},
		{"space in literal", `{"a": n `, ProblemMalformed, "literal null"},
		{"array", `[1,2]`, ProblemSchemaDrift, "array"},
		{"string", `"x"`, ProblemSchemaDrift, "string"},
		{"null", `null`, ProblemSchemaDrift, "null"},
		{"empty object", `{}`, ProblemSchemaDrift, `missing required key "source"`},
		{"no arch", without("arch"), ProblemSchemaDrift, `"arch"`},
		{"no image_name", without("image_name"), ProblemSchemaDrift, `"image_name"`},
		{"no built_at", without("built_at"), ProblemSchemaDrift, `"built_at"`},
		{"no has_vmlinux", without("has_vmlinux"), ProblemSchemaDrift, `"has_vmlinux"`},
		{"no vmlinux_stripped", without("vmlinux_stripped"), ProblemSchemaDrift, `"vmlinux_stripped"`},
		{"arch number", with("arch", "64"), ProblemSchemaDrift, `"arch" is a number`},
		{"arch null", with("arch", "null"), ProblemSchemaDrift, `"arch" is null`},
		{"version number", with("version", "6"), ProblemSchemaDrift, `"version" is a number, expected a string or null`},
		{"has_vmlinux string", with("has_vmlinux", `"yes"`), ProblemSchemaDrift, `"has_vmlinux" is a string`},
		{"source string", with("source", `"tarball"`), ProblemSchemaDrift, `"source" is a string`},
		{"source no type", with("source", `{}`), ProblemSchemaDrift, `no "type"`},
		{"source bad type", with("source", `{"type":"svn"}`), ProblemSchemaDrift, `unknown source type "svn"`},
		{"source type number", with("source", `{"type":1}`), ProblemSchemaDrift, `"type" is a number`},
		{"git hash number", with("source", `{"type":"git","git_hash":7}`), ProblemSchemaDrift, `source key "git_hash" is a number`},
		{"image name path", with("image_name", `"../../etc/passwd"`), ProblemSchemaDrift, "not a plain file name"},
		{"image name empty", with("image_name", `""`), ProblemSchemaDrift, "empty"},
		{"image name metadata", with("image_name", `"metadata.json"`), ProblemSchemaDrift, "metadata"},
	} {
		_, err := ParseMetadata([]byte(tc.in))
		var me *MetadataError
		if !errors.As(err, &me) {
			t.Errorf("%s: got %v, want *MetadataError", tc.name, err)
			continue
		}
		if me.Kind != tc.kind || !strings.Contains(me.Error(), tc.want) {
			t.Errorf("%s: got %s %q, want %s containing %q", tc.name, me.Kind, me.Error(), tc.kind, tc.want)
		}
	}
}

// Every strict prefix of a valid metadata.json is reported as truncated,
// never as malformed: a cut-off write must be recognisable.
func TestParseMetadataEveryPrefixTruncated(t *testing.T) {
	inputs := [][]byte{[]byte(`{"version":"a\"b\u00e9","x":-1.5e3,"y":true,"z":false,"n":null,"a":[{}]}`)}
	for _, dir := range []string{"6.14.2-tarball-x86_64-kc1a2b3c4d", "git-v6.15-rc3-x86_64", "local-deadbee-aarch64", "newer-ktstr-6.16"} {
		data, err := os.ReadFile(filepath.Join("testdata/ktstr", dir, MetadataFile))
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, data)
	}
	for _, data := range inputs {
		for n := 0; n < len(data); n++ {
			_, err := ParseMetadata(data[:n])
			var me *MetadataError
			if !errors.As(err, &me) || me.Kind != ProblemTruncated {
				t.Fatalf("prefix of %d bytes %q: got %v, want truncated", n, data[:n], err)
			}
		}
	}
}

// The metadata.json ktest writes is pinned by a golden file (go test -update).
func TestStoreMetadataGolden(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "bzImage")
	if err := os.WriteFile(img, []byte("golden image\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Open(filepath.Join(dir, "root"))
	if err != nil {
		t.Fatal(err)
	}
	m := testMetadata()
	m.BuiltAt = "2025-06-01T12:34:56Z"
	if err := m.SetExtraString(ExtraOriginalPath, "/boot/vmlinuz-6.1.0-test"); err != nil {
		t.Fatal(err)
	}
	e, err := c.Store(t.Context(), "golden-6.1", StoreSource{Image: img, Metadata: m})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(e.Dir, MetadataFile))
	if err != nil {
		t.Fatal(err)
	}
	checkKtstrSchema(t, got)
	golden := filepath.Join("testdata", "golden", "store-metadata.json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update once to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("metadata.json differs from %s:\n got:\n%s\nwant:\n%s", golden, got, want)
	}
}
