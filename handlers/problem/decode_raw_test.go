package problem

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tenantstream/tenantstream/domain"
)

// FuzzDecodeRawMatchesDecoder holds DecodeJSON's one-pass path for raw values
// (item data) to the Decoder path it replaces: the same value, or the same error.
func FuzzDecodeRawMatchesDecoder(f *testing.F) {
	for _, s := range []string{
		`{"a":1}`, " \n{\"a\": [1, 2]}\t\n", ``, ` `, `{`, `{} {}`, `{}x`, `[1,2]`, `null`, `"s"`, `1e400`,
		"{\"s\":\"\xff\"}", `{"a":"\ud800"}`, "{\"\xff\":1}", "{\"s\":\"\xc3\"}", "{\"s\":\"\xed\xa0\x80\"}",
		`{"a":"\udc00"}`, `{"a":"\ud83d\ude00"}`, `{"a":"\\ud800"}`, `{"\ud800":1}`, `{"a":"\ud800\u0041"}`, `{"a":` + strings.Repeat("[", 50) + strings.Repeat("]", 50) + `}`,
	} {
		f.Add([]byte(s), int64(8))
		f.Add([]byte(s), int64(4096))
	}
	f.Fuzz(func(t *testing.T, body []byte, max int64) {
		if max < 1 || max > 1<<20 {
			max = 4096
		}
		newReq := func() *http.Request {
			r := httptest.NewRequest(http.MethodPut, "/", strings.NewReader(string(body)))
			r.Header.Set("Content-Type", "application/json")
			r.ContentLength = -1 // unknown (chunked), so the body reader meets the limit
			return r
		}
		var fast json.RawMessage
		errFast := DecodeJSON(newReq(), max, &fast)
		var slow json.RawMessage
		r := newReq()
		errSlow := decode(http.MaxBytesReader(nil, r.Body, max), max, &slow)
		switch {
		case errFast == nil && errSlow == nil:
			if string(fast) != string(slow) {
				t.Fatalf("value %q, decoder %q", fast, slow)
			}
			if !utf8.Valid(fast) {
				t.Fatalf("accepted invalid UTF-8 %q", fast)
			}
		case errFast == nil || errSlow == nil:
			t.Fatalf("error %v, decoder %v", errFast, errSlow)
		default:
			var a, b *domain.Error
			if !errors.As(errFast, &a) || !errors.As(errSlow, &b) || a.Code != b.Code || a.Message != b.Message {
				t.Fatalf("error %v, decoder %v", errFast, errSlow)
			}
		}
	})
}
