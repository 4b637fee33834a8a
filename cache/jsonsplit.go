package cache

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// Fast paths for ParseMetadata, which List runs once per entry. Decoding
// into map[string]json.RawMessage through reflection, and then every field
// again with json.Unmarshal, was half of List's CPU time. These helpers
// take the common shapes directly and leave everything else to
// encoding/json, so results (and error messages) are exactly what
// encoding/json gives.

// member is one "key": value pair of a JSON object.
type member struct {
	key   string
	value json.RawMessage
}

// members are the members of a JSON object in document order. An object
// has about ten, so a slice searched linearly is cheaper than a map. A nil
// members stands for the JSON value null.
type members []member

// get returns the value of key; the last one wins when key repeats, as with
// encoding/json.
func (ms members) get(key string) (json.RawMessage, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].key == key {
			return ms[i].value, true
		}
	}
	return nil, false
}

// splitObject splits data, which must already be valid JSON (json.Valid),
// into the members of its top-level object. ok is false when data is not an
// object or a key has an escape sequence or invalid UTF-8 (encoding/json
// rewrites those); the caller then decodes with encoding/json. Values alias
// data.
func splitObject(data []byte) (ms members, ok bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, false
	}
	ms = make(members, 0, 12)
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return ms, true
	}
	for i < len(data) {
		if data[i] != '"' {
			return nil, false
		}
		end := i + 1
		for end < len(data) && data[end] != '"' {
			if data[end] == '\\' {
				return nil, false
			}
			end++
		}
		if end >= len(data) || !utf8.Valid(data[i+1:end]) {
			return nil, false
		}
		key := internKey(data[i+1 : end])
		i = skipSpace(data, end+1)
		if i >= len(data) || data[i] != ':' {
			return nil, false
		}
		i = skipSpace(data, i+1)
		vend := skipValue(data, i)
		if vend <= i {
			return nil, false
		}
		ms = append(ms, member{key, data[i:vend]})
		i = skipSpace(data, vend)
		if i >= len(data) {
			return nil, false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return ms, true
		default:
			return nil, false
		}
	}
	return nil, false
}

// internKey returns the key as a string without allocating for the keys of
// ktstr's metadata (the switch on string(b) does not copy b).
func internKey(b []byte) string {
	switch string(b) {
	case "version":
		return "version"
	case "source":
		return "source"
	case "arch":
		return "arch"
	case "image_name":
		return "image_name"
	case "config_hash":
		return "config_hash"
	case "built_at":
		return "built_at"
	case "ktstr_kconfig_hash":
		return "ktstr_kconfig_hash"
	case "has_vmlinux":
		return "has_vmlinux"
	case "vmlinux_stripped":
		return "vmlinux_stripped"
	case "type":
		return "type"
	case "git_hash":
		return "git_hash"
	case "ref":
		return "ref"
	case "source_tree_path":
		return "source_tree_path"
	case ExtraSHA256:
		return ExtraSHA256
	case ExtraOriginalPath:
		return ExtraOriginalPath
	}
	return string(b)
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\r', '\n':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue returns the index just past the valid JSON value starting at i.
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return i
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				j = skipString(data, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(data)
	}
	// A number, true, false or null: up to the next delimiter.
	j := i
	for j < len(data) {
		switch data[j] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return j
		}
		j++
	}
	return j
}

// skipString returns the index just past the string whose opening quote is
// at i.
func skipString(data []byte, i int) int {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(data)
}

// decodeObject decodes a JSON object into its members: splitObject when it
// can, else encoding/json (which also reports the errors). The JSON value
// null gives nil members and no error, as with encoding/json.
func decodeObject(data []byte) (members, error) {
	if json.Valid(data) {
		if ms, ok := splitObject(data); ok {
			return ms, nil
		}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, nil
	}
	ms := make(members, 0, len(m))
	for k, v := range m {
		ms = append(ms, member{k, v})
	}
	return ms, nil
}

// decodeString decodes a JSON string value. A plain string (no escapes,
// valid UTF-8) is taken as is; anything else goes through encoding/json.
// ok is false when raw is not a string (null included).
func decodeString(raw json.RawMessage) (string, bool) {
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' &&
		bytes.IndexByte(raw[1:len(raw)-1], '\\') < 0 && bytes.IndexByte(raw[1:len(raw)-1], '"') < 0 && utf8.Valid(raw) {
		return string(raw[1 : len(raw)-1]), true
	}
	if isNull(raw) {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// decodeBool decodes a JSON boolean; ok is false for anything else.
func decodeBool(raw json.RawMessage) (value, ok bool) {
	switch string(bytes.TrimSpace(raw)) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// compactValue returns a compact copy of a valid JSON value: scalars are
// already compact, so only objects and arrays go through json.Compact.
func compactValue(raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] != '{' && raw[0] != '[' {
		return bytes.Clone(raw), nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	return json.RawMessage(buf.Bytes()), nil
}
