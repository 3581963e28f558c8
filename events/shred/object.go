package shred

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// object is a JSON object with its members in their stored order and their
// values as stored, so sealing then opening gives back the very bytes.
type object []member

type member struct {
	key string
	raw []byte // the key as stored, escapes and all; nil: encode key
	val json.RawMessage
}

var errNotObject = errors.New("not a JSON object")

func parseObject(b []byte) (object, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return nil, errNotObject
	}
	var o object
	for dec.More() {
		start := dec.InputOffset()
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		raw := bytes.TrimLeft(b[start:dec.InputOffset()], ", \t\r\n")
		k, ok := t.(string)
		if !ok {
			return nil, errNotObject
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		o = append(o, member{key: k, raw: raw, val: v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	return o, nil
}

func (o object) index(key string) int {
	for i := range o {
		if o[i].key == key {
			return i
		}
	}
	return -1
}

// appendTo appends o as compact JSON; prefix, when set, is written as the first member.
func (o object) appendTo(dst []byte, prefix []byte) []byte {
	dst = append(dst, '{')
	first := true
	if prefix != nil {
		dst = append(dst, prefix...)
		first = false
	}
	for _, m := range o {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		if m.raw != nil {
			dst = append(dst, m.raw...)
		} else {
			dst = appendString(dst, m.key)
		}
		dst = append(dst, ':')
		dst = append(dst, m.val...)
	}
	return append(dst, '}')
}

func appendString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always encodes
	return append(dst, b...)
}

func parseArray(b []byte) ([]json.RawMessage, error) {
	var a []json.RawMessage
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("not a JSON array: %w", err)
	}
	return a, nil
}

func appendArray(dst []byte, a []json.RawMessage) []byte {
	dst = append(dst, '[')
	for i, v := range a {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, v...)
	}
	return append(dst, ']')
}

func isNull(v json.RawMessage) bool { return len(v) == 0 || string(v) == "null" }

var null = json.RawMessage("null")
