package cache

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"time"
)

// MetadataFile is the name of the metadata file inside an entry directory.
const MetadataFile = "metadata.json"

// VmlinuxFile is the name of the optional vmlinux inside an entry directory.
const VmlinuxFile = "vmlinux"

// BuiltAtLayout is the exact time layout of metadata built_at (UTC, seconds).
const BuiltAtLayout = "2006-01-02T15:04:05Z"

// Extra keys ktest records in metadata.json; ktstr ignores them.
const (
	// ExtraSHA256 holds the hex SHA-256 of the entry's image; Store sets it.
	ExtraSHA256 = "sha256"
	// ExtraOriginalPath holds the path the image was added from.
	ExtraOriginalPath = "original_path"
)

// Source types of the metadata "source" object.
const (
	SourceTarball = "tarball"
	SourceGit     = "git"
	SourceLocal   = "local"
)

// Source is the tagged "source" object of metadata.json. Which optional fields
// are written depends on Type, exactly as ktstr's serde enum does:
//
//	tarball: {"type":"tarball"}
//	git:     {"type":"git","git_hash":..,"ref":..}
//	local:   {"type":"local","source_tree_path":..,"git_hash":..}
//
// Nil pointers are written as explicit null. Fields that do not belong to Type
// are ignored when writing.
type Source struct {
	Type           string  // SourceTarball, SourceGit or SourceLocal
	GitHash        *string // git, local
	Ref            *string // git
	SourceTreePath *string // local
	// Extra holds keys of the source object this package does not know
	// (including fields of another variant); they are written back verbatim
	// after the known ones, sorted by key.
	Extra map[string]json.RawMessage
}

// Metadata is the content of an entry's metadata.json, in ktstr's format.
// Optional keys are pointers and are written as explicit null when nil.
// Keys this package does not know are kept in Extra and written back, so a
// read-modify-write never drops what ktstr (or a newer ktest) stored.
type Metadata struct {
	Version          *string // kernel version, e.g. "6.1.0-56-cloud-amd64"
	Source           Source
	Arch             string // "x86_64" or "aarch64"
	ImageName        string // "bzImage" (x86_64) or "Image" (aarch64)
	ConfigHash       *string
	BuiltAt          string // UTC, BuiltAtLayout; read back verbatim
	KtstrKconfigHash *string
	HasVmlinux       bool
	VmlinuxStripped  bool
	// Extra holds every other top-level key (ktest's own are ExtraSHA256 and
	// ExtraOriginalPath), as compact JSON. Written after the known keys, sorted.
	Extra map[string]json.RawMessage
}

// knownKeys lists the top-level keys in ktstr's serialisation order.
var knownKeys = []string{
	"version", "source", "arch", "image_name", "config_hash", "built_at",
	"ktstr_kconfig_hash", "has_vmlinux", "vmlinux_stripped",
}

// sourceKeys lists, per source type, the payload keys in ktstr's order.
var sourceKeys = map[string][]string{
	SourceTarball: nil,
	SourceGit:     {"git_hash", "ref"},
	SourceLocal:   {"source_tree_path", "git_hash"},
}

// allSourceKeys is every key Source models (type plus all payload fields).
var allSourceKeys = []string{"type", "git_hash", "ref", "source_tree_path"}

// StringPtr returns a pointer to s, for filling optional metadata fields.
func StringPtr(s string) *string { return &s }

// FormatBuiltAt formats t as a built_at value (UTC, whole seconds).
func FormatBuiltAt(t time.Time) string { return t.UTC().Format(BuiltAtLayout) }

// BuiltTime parses BuiltAt. Values ktstr or ktest wrote parse; an entry with a
// value in another format still lists (sorted as a string), but this fails.
func (m Metadata) BuiltTime() (time.Time, error) {
	t, err := time.Parse(BuiltAtLayout, m.BuiltAt)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse built_at %q (want %s): %w", m.BuiltAt, BuiltAtLayout, err)
	}
	return t, nil
}

// ExtraString returns the string value of the extra key, if present and a string.
func (m Metadata) ExtraString(key string) (string, bool) {
	raw, ok := m.Extra[key]
	if !ok {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// SetExtraString sets an extra key to a JSON string. It refuses the names of
// known keys, which would produce duplicate keys on write.
func (m *Metadata) SetExtraString(key, value string) error {
	if slices.Contains(knownKeys, key) {
		return fmt.Errorf("set metadata extra key %q: it is a ktstr key; set the Metadata field instead", key)
	}
	raw, err := marshalNoHTML(value)
	if err != nil {
		return fmt.Errorf("set metadata extra key %q: %w", key, err)
	}
	if m.Extra == nil {
		m.Extra = map[string]json.RawMessage{}
	}
	m.Extra[key] = raw
	return nil
}

// HostArch returns the ktstr arch name of the running binary's architecture
// ("x86_64", "aarch64"; other GOARCH values are returned unchanged).
func HostArch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	}
	return runtime.GOARCH
}

// DefaultImageName returns the boot image file name ktstr uses for arch:
// "bzImage" for x86_64, "Image" for aarch64, "" for anything else.
func DefaultImageName(arch string) string {
	switch arch {
	case "x86_64":
		return "bzImage"
	case "aarch64":
		return "Image"
	}
	return ""
}

// ProblemKind classifies why an entry is unusable. The values match ktstr's
// `kernel list --json` error_kind strings.
type ProblemKind string

// Problem kinds.
const (
	ProblemMissing      ProblemKind = "missing"       // no metadata.json
	ProblemUnreadable   ProblemKind = "unreadable"    // metadata.json could not be read
	ProblemSchemaDrift  ProblemKind = "schema_drift"  // valid JSON, wrong or missing keys/types
	ProblemMalformed    ProblemKind = "malformed"     // not JSON
	ProblemTruncated    ProblemKind = "truncated"     // JSON cut off (unexpected end of input)
	ProblemImageMissing ProblemKind = "image_missing" // metadata fine, image file absent (or not a regular file)
	ProblemImageCorrupt ProblemKind = "image_corrupt" // metadata fine, image header invalid or file truncated (ktest only)
)

// Problem says why an entry is unusable.
type Problem struct {
	Kind   ProblemKind `json:"kind"`
	Reason string      `json:"reason"`
}

// MetadataError is returned by ParseMetadata; Kind is ProblemSchemaDrift,
// ProblemMalformed or ProblemTruncated.
type MetadataError struct {
	Kind   ProblemKind
	Reason string
}

// Error returns "metadata.json <kind>: <reason>".
func (e *MetadataError) Error() string {
	return fmt.Sprintf("metadata.json %s: %s", strings.ReplaceAll(string(e.Kind), "_", " "), e.Reason)
}

func drift(format string, args ...any) error {
	return &MetadataError{Kind: ProblemSchemaDrift, Reason: fmt.Sprintf(format, args...)}
}

// ParseMetadata decodes metadata.json content the way ktstr does: the
// required keys (source, arch, image_name, built_at, has_vmlinux,
// vmlinux_stripped) must be present with the right JSON types; version,
// config_hash and ktstr_kconfig_hash may be a string, null or absent; unknown
// keys are kept in Extra. image_name must additionally be a plain file name,
// so a hostile entry cannot point outside its directory.
//
// Errors are *MetadataError: ProblemTruncated when the input ends inside a
// JSON value, ProblemMalformed for any other syntax error, ProblemSchemaDrift
// for valid JSON of the wrong shape.
func ParseMetadata(data []byte) (Metadata, error) {
	raw, err := decodeObject(data)
	if err != nil {
		return Metadata{}, classifyJSONError(data, err)
	}
	if raw == nil {
		return Metadata{}, drift("top-level value is null, expected an object")
	}
	var m Metadata
	if m.Version, err = optString(raw, "version"); err != nil {
		return Metadata{}, err
	}
	srcRaw, ok := raw.get("source")
	if !ok {
		return Metadata{}, drift("missing required key %q", "source")
	}
	if m.Source, err = parseSource(srcRaw); err != nil {
		return Metadata{}, err
	}
	if m.Arch, err = reqString(raw, "arch"); err != nil {
		return Metadata{}, err
	}
	if m.ImageName, err = reqString(raw, "image_name"); err != nil {
		return Metadata{}, err
	}
	if err := validateImageName(m.ImageName); err != nil {
		return Metadata{}, drift("%v", err)
	}
	if m.ConfigHash, err = optString(raw, "config_hash"); err != nil {
		return Metadata{}, err
	}
	if m.BuiltAt, err = reqString(raw, "built_at"); err != nil {
		return Metadata{}, err
	}
	if m.KtstrKconfigHash, err = optString(raw, "ktstr_kconfig_hash"); err != nil {
		return Metadata{}, err
	}
	if m.HasVmlinux, err = reqBool(raw, "has_vmlinux"); err != nil {
		return Metadata{}, err
	}
	if m.VmlinuxStripped, err = reqBool(raw, "vmlinux_stripped"); err != nil {
		return Metadata{}, err
	}
	m.Extra, err = extraKeys(raw, knownKeys)
	if err != nil {
		return Metadata{}, err
	}
	return m, nil
}

// UnmarshalJSON implements json.Unmarshaler with ParseMetadata's rules.
func (m *Metadata) UnmarshalJSON(data []byte) error {
	parsed, err := ParseMetadata(data)
	if err != nil {
		return err
	}
	*m = parsed
	return nil
}

// classifyJSONError sorts a decoding error of data into truncated (the input
// ends inside a value), malformed (any other syntax error) or schema drift.
func classifyJSONError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn) && endsInsideValue(data, syn):
		return &MetadataError{Kind: ProblemTruncated, Reason: fmt.Sprintf("input ends inside a JSON value at byte %d (the file was cut off)", syn.Offset)}
	case errors.As(err, &syn):
		return &MetadataError{Kind: ProblemMalformed, Reason: fmt.Sprintf("%v (at byte %d)", syn, syn.Offset)}
	case errors.As(err, &typ):
		return drift("top-level value is %s, expected an object", typ.Value)
	}
	return &MetadataError{Kind: ProblemMalformed, Reason: err.Error()}
}

// endsInsideValue reports whether a syntax error means the input was cut
// off. encoding/json reports most cuts as "unexpected end of JSON input", but
// one inside a literal, number or escape ("nu", "-", "\u12") surfaces as the
// space it feeds the scanner at EOF: "invalid character ' ' ..." at offset
// len(data), where the input's own last byte is not a space.
func endsInsideValue(data []byte, syn *json.SyntaxError) bool {
	msg := syn.Error()
	if strings.Contains(msg, "unexpected end of JSON input") {
		return true
	}
	if len(data) == 0 || syn.Offset != int64(len(data)) || !strings.HasPrefix(msg, "invalid character ' '") {
		return false
	}
	switch data[len(data)-1] {
	case ' ', '\t', '\r', '\n':
		return false
	}
	return true
}

// jsonType names the JSON type of a raw value for error messages.
func jsonType(raw json.RawMessage) string {
	b := bytes.TrimLeft(raw, " \t\r\n")
	if len(b) == 0 {
		return "empty"
	}
	switch b[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

func reqString(raw members, key string) (string, error) {
	v, ok := raw.get(key)
	if !ok {
		return "", drift("missing required key %q (a string)", key)
	}
	s, ok := decodeString(v)
	if !ok {
		return "", drift("key %q is %s, expected a string", key, jsonType(v))
	}
	return s, nil
}

func optString(raw members, key string) (*string, error) {
	v, ok := raw.get(key)
	if !ok || isNull(v) {
		return nil, nil
	}
	s, ok := decodeString(v)
	if !ok {
		return nil, drift("key %q is %s, expected a string or null", key, jsonType(v))
	}
	return &s, nil
}

func reqBool(raw members, key string) (bool, error) {
	v, ok := raw.get(key)
	if !ok {
		return false, drift("missing required key %q (a boolean)", key)
	}
	b, ok := decodeBool(v)
	if !ok {
		return false, drift("key %q is %s, expected a boolean", key, jsonType(v))
	}
	return b, nil
}

// extraKeys returns the keys of raw not in known, with compacted values so a
// parse → write → parse round trip is exact.
func extraKeys(raw members, known []string) (map[string]json.RawMessage, error) {
	var extra map[string]json.RawMessage
	for _, kv := range raw {
		k, v := kv.key, kv.value
		if slices.Contains(known, k) {
			continue
		}
		c, err := compactValue(v)
		if err != nil {
			return nil, drift("key %q: %v", k, err)
		}
		if extra == nil {
			extra = map[string]json.RawMessage{}
		}
		extra[k] = c
	}
	return extra, nil
}

func parseSource(v json.RawMessage) (Source, error) {
	raw, err := decodeObject(v)
	if isNull(v) || err != nil {
		return Source{}, drift("key \"source\" is %s, expected an object like {\"type\":\"tarball\"}", jsonType(v))
	}
	t, ok := raw.get("type")
	if !ok {
		return Source{}, drift("source object has no \"type\" key (want tarball, git or local)")
	}
	var s Source
	if s.Type, ok = decodeString(t); !ok {
		return Source{}, drift("source \"type\" is %s, expected a string", jsonType(t))
	}
	fields, known := sourceKeys[s.Type]
	if !known {
		return Source{}, drift("unknown source type %q (want tarball, git or local)", s.Type)
	}
	for _, k := range fields {
		p, err := optString(raw, k)
		if err != nil {
			var me *MetadataError
			if errors.As(err, &me) {
				return Source{}, drift("source %s", me.Reason)
			}
			return Source{}, err
		}
		switch k {
		case "git_hash":
			s.GitHash = p
		case "ref":
			s.Ref = p
		case "source_tree_path":
			s.SourceTreePath = p
		}
	}
	// Keys of other variants are not modelled for this type: keep them as extras.
	s.Extra, err = extraKeys(raw, append([]string{"type"}, fields...))
	if err != nil {
		return Source{}, err
	}
	return s, nil
}

// validateImageName refuses image names that are not a plain file name.
func validateImageName(name string) error {
	switch {
	case name == "":
		return errors.New("image_name is empty")
	case name == "." || name == ".." || strings.ContainsAny(name, "/\x00"):
		return fmt.Errorf("image_name %q is not a plain file name", name)
	case name == MetadataFile:
		return fmt.Errorf("image_name %q would overwrite the metadata file", name)
	}
	return nil
}

// marshalNoHTML encodes v like serde_json: no HTML escaping of <, >, &.
func marshalNoHTML(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// objectWriter builds a compact JSON object with keys in insertion order.
type objectWriter struct {
	buf bytes.Buffer
	n   int
	err error
}

func (w *objectWriter) raw(key string, value []byte) {
	if w.err != nil {
		return
	}
	if w.n == 0 {
		w.buf.WriteByte('{')
	} else {
		w.buf.WriteByte(',')
	}
	w.n++
	k, _ := marshalNoHTML(key)
	w.buf.Write(k)
	w.buf.WriteByte(':')
	w.buf.Write(value)
}

func (w *objectWriter) value(key string, v any) {
	if w.err != nil {
		return
	}
	b, err := marshalNoHTML(v)
	if err != nil {
		w.err = fmt.Errorf("encode %q: %w", key, err)
		return
	}
	w.raw(key, b)
}

func (w *objectWriter) extras(extra map[string]json.RawMessage, known []string) {
	for _, k := range slices.Sorted(maps.Keys(extra)) {
		if slices.Contains(known, k) {
			w.err = fmt.Errorf("extra key %q duplicates a known key; set the field instead", k)
			return
		}
		v := extra[k]
		if !json.Valid(v) {
			w.err = fmt.Errorf("extra key %q holds invalid JSON", k)
			return
		}
		var buf bytes.Buffer
		_ = json.Compact(&buf, v)
		w.raw(k, buf.Bytes())
	}
}

func (w *objectWriter) finish() ([]byte, error) {
	if w.err != nil {
		return nil, w.err
	}
	if w.n == 0 {
		return []byte("{}"), nil
	}
	w.buf.WriteByte('}')
	return w.buf.Bytes(), nil
}

// MarshalJSON encodes the source object with exactly the keys of its type.
func (s Source) MarshalJSON() ([]byte, error) {
	fields, ok := sourceKeys[s.Type]
	if !ok {
		return nil, fmt.Errorf("encode metadata source: unknown source type %q (want tarball, git or local)", s.Type)
	}
	var w objectWriter
	w.value("type", s.Type)
	for _, k := range fields {
		switch k {
		case "git_hash":
			w.value(k, s.GitHash)
		case "ref":
			w.value(k, s.Ref)
		case "source_tree_path":
			w.value(k, s.SourceTreePath)
		}
	}
	w.extras(s.Extra, append([]string{"type"}, fields...))
	out, err := w.finish()
	if err != nil {
		return nil, fmt.Errorf("encode metadata source: %w", err)
	}
	return out, nil
}

// MarshalJSON encodes compact JSON with ktstr's key order and explicit nulls,
// followed by Extra sorted by key.
func (m Metadata) MarshalJSON() ([]byte, error) {
	src, err := m.Source.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var w objectWriter
	w.value("version", m.Version)
	w.raw("source", src)
	w.value("arch", m.Arch)
	w.value("image_name", m.ImageName)
	w.value("config_hash", m.ConfigHash)
	w.value("built_at", m.BuiltAt)
	w.value("ktstr_kconfig_hash", m.KtstrKconfigHash)
	w.value("has_vmlinux", m.HasVmlinux)
	w.value("vmlinux_stripped", m.VmlinuxStripped)
	w.extras(m.Extra, knownKeys)
	out, err := w.finish()
	if err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	return out, nil
}

// MarshalMetadata returns the metadata.json bytes for m: pretty JSON with a
// two-space indent and no trailing newline, as ktstr's
// serde_json::to_string_pretty writes it.
func MarshalMetadata(m Metadata) ([]byte, error) {
	compact, err := m.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, compact, "", "  "); err != nil {
		return nil, fmt.Errorf("indent metadata: %w", err)
	}
	return buf.Bytes(), nil
}
