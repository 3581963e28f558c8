package problem

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/tenantstream/tenantstream/domain"
)

// DecodeJSON decodes r's body into dst strictly: the Content-Type must be JSON,
// the body at most maxBytes of Unicode text (see checkText), a single JSON value
// with no unknown fields. Every
// failure is a *domain.Error (invalid, or too_large) whose message names the
// offending field or byte offset, so clients can fix their request.
func DecodeJSON(r *http.Request, maxBytes int64, dst any) error {
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	if r.ContentLength > maxBytes {
		return tooLarge(maxBytes, nil)
	}
	if r.Body == nil {
		return domain.Errorf(domain.CodeInvalid, "The request body is empty; expected a JSON value.")
	}
	// A nil ResponseWriter is allowed: the reader then only limits, which is all we need.
	body := http.MaxBytesReader(nil, r.Body, maxBytes)
	defer body.Close()
	if raw, ok := dst.(*json.RawMessage); ok {
		return decodeRaw(body, maxBytes, raw)
	}
	return decode(body, maxBytes, dst)
}

// decodeRaw is decode for a raw JSON value (an item's data): read the body and
// check it in one pass, without the Decoder's buffering and reflection. A body
// that fails goes through decode for the same error message (a fuzz target holds
// the two paths equal).
func decodeRaw(body io.Reader, maxBytes int64, dst *json.RawMessage) error {
	b, err := io.ReadAll(body)
	if err != nil || checkText(b) != nil || !json.Valid(b) {
		// What was read, then the reader's error again (MaxBytesReader repeats it).
		return decode(io.MultiReader(bytes.NewReader(b), body), maxBytes, dst)
	}
	*dst = bytes.TrimSpace(b)
	return nil
}

func decode(body io.Reader, maxBytes int64, dst any) error {
	// The whole body first (it is bounded by maxBytes): the text check needs it,
	// and a body over the limit is refused before any of it is parsed.
	b, err := io.ReadAll(body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(maxBytes, err)
		}
		return &domain.Error{Code: domain.CodeInvalid, Message: "The request body could not be read.", Err: err}
	}
	if err := checkText(b); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err, maxBytes)
	}
	// A second value, even whitespace-separated, means the client sent something
	// other than what it thinks; refuse rather than silently ignore it.
	var extra json.RawMessage
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
		return nil
	case err == nil:
		return &domain.Error{Code: domain.CodeInvalid, Message: "The request body must contain a single JSON value."}
	default:
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(maxBytes, err)
		}
		return &domain.Error{Code: domain.CodeInvalid, Message: "The request body must contain a single JSON value.", Err: err}
	}
}

// checkText refuses a body that is not Unicode text: invalid UTF-8 (RFC 8259
// section 8.1), or a \u escape of an unpaired surrogate (section 8.2; I-JSON,
// RFC 7493, forbids it). encoding/json decodes either as U+FFFD without a word,
// and a json.RawMessage keeps the bad bytes as they came, so without this check
// an item, a password or a name would be stored as something the client never
// sent.
func checkText(b []byte) error {
	if !utf8.Valid(b) {
		return &domain.Error{Code: domain.CodeInvalid, Message: fmt.Sprintf("The request body is not valid UTF-8 (byte %d).", invalidUTF8At(b))}
	}
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(`\u`))
		if j < 0 {
			return nil
		}
		j += i
		i = j + 2
		// Only an odd run of backslashes starts an escape: `\\u` is a backslash, then u.
		n := 0
		for k := j; k >= 0 && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			continue
		}
		r, ok := hex4(b[i:])
		if !ok || r < 0xD800 || r > 0xDFFF {
			continue // not a surrogate, or malformed (the parser reports that)
		}
		if r <= 0xDBFF && len(b) >= i+10 && b[i+4] == '\\' && b[i+5] == 'u' {
			if lo, ok := hex4(b[i+6:]); ok && lo >= 0xDC00 && lo <= 0xDFFF {
				i += 10 // a high and a low surrogate: one character
				continue
			}
		}
		return &domain.Error{Code: domain.CodeInvalid, Message: fmt.Sprintf("The request body escapes an unpaired UTF-16 surrogate (\\u%s, byte %d); JSON text must be valid Unicode.", b[i:i+4], j)}
	}
}

// invalidUTF8At is the offset of the first byte of b that is not valid UTF-8.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// hex4 parses the four hex digits of a \u escape.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

func checkContentType(ct string) error {
	if ct == "" {
		return &domain.Error{Code: domain.CodeInvalid, Field: "Content-Type", Message: "Content-Type must be application/json."}
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return &domain.Error{Code: domain.CodeInvalid, Field: "Content-Type", Message: "Content-Type is malformed; expected application/json.", Err: err}
	}
	if mt != "application/json" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return &domain.Error{Code: domain.CodeInvalid, Field: "Content-Type", Message: fmt.Sprintf("Content-Type %q is not supported; expected application/json.", mt)}
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return &domain.Error{Code: domain.CodeInvalid, Field: "Content-Type", Message: "Only the utf-8 charset is supported."}
	}
	return nil
}

func tooLarge(maxBytes int64, cause error) error {
	return &domain.Error{Code: domain.CodeTooLarge, Message: fmt.Sprintf("The request body exceeds %d bytes.", maxBytes), Err: cause}
}

// decodeError turns encoding/json's errors into messages a client can act on.
func decodeError(err error, maxBytes int64) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mbe *http.MaxBytesError
		inv *json.InvalidUnmarshalError
	)
	switch {
	case errors.As(err, &mbe):
		return tooLarge(maxBytes, err)
	case errors.Is(err, io.EOF):
		return &domain.Error{Code: domain.CodeInvalid, Message: "The request body is empty; expected a JSON value.", Err: err}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &domain.Error{Code: domain.CodeInvalid, Message: "The request body is malformed JSON: it ends unexpectedly.", Err: err}
	case errors.As(err, &syn):
		return &domain.Error{Code: domain.CodeInvalid, Message: fmt.Sprintf("The request body is malformed JSON at byte %d.", syn.Offset), Err: err}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return &domain.Error{Code: domain.CodeInvalid, Message: fmt.Sprintf("The request body must be a JSON %s, not %s.", jsonKind(typ.Type), typ.Value), Err: err}
		}
		return &domain.Error{Code: domain.CodeInvalid, Field: field, Message: fmt.Sprintf("Field %q must be %s, not %s.", field, article(jsonKind(typ.Type)), typ.Value), Err: err}
	case errors.As(err, &inv):
		// A programming error (dst not a pointer), not the client's.
		return fmt.Errorf("decode json: %w", err)
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		if len(name) > 64 {
			// The name is the client's own input: echo enough to find it, not a megabyte.
			name = strings.ToValidUTF8(name[:64], "") + "..."
		}
		return &domain.Error{Code: domain.CodeInvalid, Field: name, Message: fmt.Sprintf("Field %q is not allowed.", name), Err: err}
	}
	// A value the target's UnmarshalJSON rejected.
	return &domain.Error{Code: domain.CodeInvalid, Message: "The request body could not be decoded.", Err: err}
}

// jsonKind names the JSON type that decodes into t, in the client's vocabulary.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	}
	return "value"
}

func article(kind string) string {
	switch kind {
	case "integer", "array", "object":
		return "an " + kind
	}
	return "a " + kind
}
