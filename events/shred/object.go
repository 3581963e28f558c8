package shred

import (
	"encoding/json"
	"errors"
)

// object is a JSON object with its members in their stored order and their
// values as stored, so sealing then opening gives back the very bytes.
type object []member

type member struct {
	key []byte
	raw []byte // the key as stored, escapes and all; nil: encode key
	val json.RawMessage
}

var (
	errNotObject = errors.New("not a JSON object")
	errNotArray  = errors.New("not a JSON array")
)

// parseObject splits a JSON object into its members without decoding their
// values: a hand-written scanner, because encoding/json's Decoder cost most of
// an event's open (profiled: 68% of BenchmarkLoad1000/sealed). Input that is
// not a well-formed object is refused.
func parseObject(b []byte) (object, error) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, errNotObject
	}
	i = skipSpace(b, i+1)
	o := make(object, 0, 8)
	if i < len(b) && b[i] == '}' {
		if skipSpace(b, i+1) != len(b) {
			return nil, errNotObject
		}
		return o, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, errNotObject
		}
		kend, esc, err := skipString(b, i)
		if err != nil {
			return nil, err
		}
		raw := b[i:kend]
		key := raw[1 : len(raw)-1] // no copy: the key is compared, rarely kept
		if esc {
			var k string
			if err := json.Unmarshal(raw, &k); err != nil {
				return nil, err
			}
			key = []byte(k)
		}
		i = skipSpace(b, kend)
		if i >= len(b) || b[i] != ':' {
			return nil, errNotObject
		}
		i = skipSpace(b, i+1)
		vend, err := skipValue(b, i)
		if err != nil {
			return nil, err
		}
		o = append(o, member{key: key, raw: raw, val: json.RawMessage(b[i:vend])})
		i = skipSpace(b, vend)
		if i >= len(b) {
			return nil, errNotObject
		}
		if b[i] == '}' {
			if skipSpace(b, i+1) != len(b) {
				return nil, errNotObject
			}
			return o, nil
		}
		if b[i] != ',' {
			return nil, errNotObject
		}
		i = skipSpace(b, i+1)
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the end of the string starting at b[i] == '"' and
// whether it holds an escape.
func skipString(b []byte, i int) (int, bool, error) {
	esc := false
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			esc = true
			j++
		case '"':
			return j + 1, esc, nil
		}
	}
	return 0, false, errNotObject
}

// skipValue returns the end of the JSON value starting at b[i]. Nested values
// are skipped by depth; the values' own syntax is not checked beyond what
// finding their end needs (sealed data was validated on its way in, and a
// value that does not parse fails where it is decoded).
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errNotObject
	}
	switch b[i] {
	case '"':
		end, _, err := skipString(b, i)
		return end, err
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, _, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errNotObject
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	if j == i {
		return 0, errNotObject
	}
	return j, nil
}

func (o object) index(key string) int {
	for i := range o {
		if string(o[i].key) == key {
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
			dst = appendString(dst, string(m.key))
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
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, errNotArray
	}
	i = skipSpace(b, i+1)
	var a []json.RawMessage
	if i < len(b) && b[i] == ']' {
		return a, nil
	}
	for {
		end, err := skipValue(b, i)
		if err != nil {
			return nil, err
		}
		a = append(a, json.RawMessage(b[i:end]))
		i = skipSpace(b, end)
		if i >= len(b) {
			return nil, errNotArray
		}
		if b[i] == ']' {
			if skipSpace(b, i+1) != len(b) {
				return nil, errNotArray
			}
			return a, nil
		}
		if b[i] != ',' {
			return nil, errNotArray
		}
		i = skipSpace(b, i+1)
	}
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
