package cache

import (
	"bytes"
	"encoding/json"
)

// Helpers for ParseMetadata, which decodes metadata.json field by field so
// that it can say which key is missing or has the wrong type. All decoding
// is encoding/json's.

// member is one "key": value pair of a JSON object.
type member struct {
	key   string
	value json.RawMessage
}

// members are the members of a JSON object. A nil members stands for the
// JSON value null.
type members []member

// get returns the value of key.
func (ms members) get(key string) (json.RawMessage, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].key == key {
			return ms[i].value, true
		}
	}
	return nil, false
}

// decodeObject decodes a JSON object into its members. The JSON value null
// gives nil members and no error, as with encoding/json.
func decodeObject(data []byte) (members, error) {
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

// decodeString decodes a JSON string value; ok is false when raw is not a
// string (null included).
func decodeString(raw json.RawMessage) (string, bool) {
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
	if isNull(raw) {
		return false, false
	}
	var b bool
	if json.Unmarshal(raw, &b) != nil {
		return false, false
	}
	return b, true
}

// compactValue returns a compact copy of a valid JSON value.
func compactValue(raw json.RawMessage) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	return json.RawMessage(buf.Bytes()), nil
}
