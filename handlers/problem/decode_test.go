package problem_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/handlers/problem"
)

type onboardBody struct {
	TenantName string            `json:"tenant_name"`
	Seats      int               `json:"seats"`
	Active     bool              `json:"active"`
	Tags       []string          `json:"tags"`
	Address    struct{ Zip int } `json:"address"`
}

func newReq(body, ct string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/onboarding", strings.NewReader(body))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	return r
}

func TestDecodeJSON(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		body    string
		ct      string
		max     int64
		code    domain.Code // "" = success
		field   string
		message string
	}{
		{"ok", `{"tenant_name":"acme","seats":3,"tags":["a"]}`, "application/json", 1024, "", "", ""},
		{"ok charset", `{"tenant_name":"acme"}`, "application/json; charset=UTF-8", 1024, "", "", ""},
		{"ok +json", `{"tenant_name":"acme"}`, "application/merge-patch+json", 1024, "", "", ""},
		{"ok trailing whitespace", "{\"seats\":1}\n\t ", "application/json", 1024, "", "", ""},
		{"no content type", `{}`, "", 1024, domain.CodeInvalid, "Content-Type", "Content-Type must be application/json."},
		{"wrong content type", `{}`, "text/plain", 1024, domain.CodeInvalid, "Content-Type", `Content-Type "text/plain" is not supported; expected application/json.`},
		{"bad charset", `{}`, "application/json; charset=latin1", 1024, domain.CodeInvalid, "Content-Type", "Only the utf-8 charset is supported."},
		{"malformed content type", `{}`, "application/json; =", 1024, domain.CodeInvalid, "Content-Type", "Content-Type is malformed; expected application/json."},
		{"empty", ``, "application/json", 1024, domain.CodeInvalid, "", "The request body is empty; expected a JSON value."},
		{"syntax", `{"tenant_name":"acme",}`, "application/json", 1024, domain.CodeInvalid, "", "The request body is malformed JSON at byte 23."},
		{"truncated", `{"tenant_name":"ac`, "application/json", 1024, domain.CodeInvalid, "", "The request body is malformed JSON: it ends unexpectedly."},
		{"unknown field", `{"tenant_id":"other"}`, "application/json", 1024, domain.CodeInvalid, "tenant_id", `Field "tenant_id" is not allowed.`},
		{"wrong type string", `{"tenant_name":5}`, "application/json", 1024, domain.CodeInvalid, "tenant_name", `Field "tenant_name" must be a string, not number.`},
		{"wrong type int", `{"seats":"3"}`, "application/json", 1024, domain.CodeInvalid, "seats", `Field "seats" must be an integer, not string.`},
		{"fraction for int", `{"seats":1.5}`, "application/json", 1024, domain.CodeInvalid, "seats", `Field "seats" must be an integer, not number 1.5.`},
		{"wrong type bool", `{"active":"yes"}`, "application/json", 1024, domain.CodeInvalid, "active", `Field "active" must be a boolean, not string.`},
		{"wrong type array", `{"tags":"a"}`, "application/json", 1024, domain.CodeInvalid, "tags", `Field "tags" must be an array, not string.`},
		{"nested field", `{"address":{"Zip":"x"}}`, "application/json", 1024, domain.CodeInvalid, "address.Zip", `Field "address.Zip" must be an integer, not string.`},
		{"top level array", `[1,2]`, "application/json", 1024, domain.CodeInvalid, "", "The request body must be a JSON object, not array."},
		{"two values", `{} {}`, "application/json", 1024, domain.CodeInvalid, "", "The request body must contain a single JSON value."},
		{"trailing garbage", `{}x`, "application/json", 1024, domain.CodeInvalid, "", "The request body must contain a single JSON value."},
		{"too large", `{"tenant_name":"` + strings.Repeat("a", 100) + `"}`, "application/json", 50, domain.CodeTooLarge, "", "The request body exceeds 50 bytes."},
		{"too large trailing", `{}` + strings.Repeat(" ", 100), "application/json", 50, domain.CodeTooLarge, "", "The request body exceeds 50 bytes."},
		{"long unknown field truncated", `{"` + strings.Repeat("z", 200) + `":1}`, "application/json", 1024, domain.CodeInvalid, strings.Repeat("z", 64) + "...", `Field "` + strings.Repeat("z", 64) + `..." is not allowed.`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var dst onboardBody
			err := problem.DecodeJSON(newReq(tc.body, tc.ct), tc.max, &dst)
			if tc.code == "" {
				require.NoError(t, err)
				return
			}
			var de *domain.Error
			require.True(t, errors.As(err, &de), "want *domain.Error, got %v", err)
			assert.Equal(t, tc.code, de.Code)
			assert.Equal(t, tc.field, de.Field)
			assert.Equal(t, tc.message, de.Message)
		})
	}
}

// TestDecodeJSONRefusesNonText pins that a body which is not Unicode text is
// refused, typed or raw, instead of being decoded with U+FFFD in place of the
// bad bytes (encoding/json) or stored as it came (json.Valid accepts both).
func TestDecodeJSONRefusesNonText(t *testing.T) {
	t.Parallel()
	bad := []struct{ name, body, message string }{
		{"0xff in a value", "{\"tenant_name\":\"ac\xffme\"}", "The request body is not valid UTF-8 (byte 18)."},
		{"0xff in a key", "{\"tenant\xff\":\"acme\"}", "The request body is not valid UTF-8 (byte 8)."},
		{"truncated sequence", "{\"tenant_name\":\"\xc3\"}", "The request body is not valid UTF-8 (byte 16)."},
		{"overlong encoding", "{\"tenant_name\":\"\xc0\xaf\"}", "The request body is not valid UTF-8 (byte 16)."},
		{"encoded surrogate", "{\"tenant_name\":\"\xed\xa0\x80\"}", "The request body is not valid UTF-8 (byte 16)."},
		{"lone high surrogate escape", `{"tenant_name":"\ud800"}`, `The request body escapes an unpaired UTF-16 surrogate (\ud800, byte 16); JSON text must be valid Unicode.`},
		{"lone low surrogate escape", `{"tenant_name":"x\uDC00y"}`, `The request body escapes an unpaired UTF-16 surrogate (\uDC00, byte 17); JSON text must be valid Unicode.`},
		{"high then high", `{"tenant_name":"\ud800\ud800"}`, `The request body escapes an unpaired UTF-16 surrogate (\ud800, byte 16); JSON text must be valid Unicode.`},
		{"surrogate escape in a key", `{"\udfff":1}`, `The request body escapes an unpaired UTF-16 surrogate (\udfff, byte 2); JSON text must be valid Unicode.`},
	}
	good := []string{
		`{"tenant_name":"bêta €"}`,
		`{"tenant_name":"\ud83d\ude00"}`, // a pair: one character
		`{"tenant_name":"\\ud800"}`,      // an escaped backslash, then text
		`{"tenant_name":"\\\u00e9"}`,     // a backslash, then an escape
		`{"tenant_name":"\ufffd"}`,       // U+FFFD itself, sent on purpose
	}
	for _, raw := range []bool{false, true} {
		for _, tc := range bad {
			t.Run(fmt.Sprintf("%s raw=%v", tc.name, raw), func(t *testing.T) {
				var err error
				if raw {
					var dst json.RawMessage
					err = problem.DecodeJSON(newReq(tc.body, "application/json"), 1024, &dst)
				} else {
					var dst map[string]any
					err = problem.DecodeJSON(newReq(tc.body, "application/json"), 1024, &dst)
				}
				var de *domain.Error
				require.True(t, errors.As(err, &de), "want *domain.Error, got %v", err)
				assert.Equal(t, domain.CodeInvalid, de.Code)
				assert.Equal(t, tc.message, de.Message)
			})
		}
		for _, body := range good {
			t.Run(fmt.Sprintf("%s raw=%v", body, raw), func(t *testing.T) {
				if raw {
					var dst json.RawMessage
					require.NoError(t, problem.DecodeJSON(newReq(body, "application/json"), 1024, &dst))
					assert.Equal(t, body, string(dst))
					return
				}
				var dst onboardBody
				require.NoError(t, problem.DecodeJSON(newReq(body, "application/json"), 1024, &dst))
			})
		}
	}
}

func TestDecodeJSONContentLengthShortCircuits(t *testing.T) {
	t.Parallel()
	r := newReq(`{}`, "application/json")
	r.ContentLength = 1 << 30
	err := problem.DecodeJSON(r, 1024, &onboardBody{})
	assert.Equal(t, domain.CodeTooLarge, domain.ErrorCode(err))
}

func TestDecodeJSONProgrammingErrorIsInternal(t *testing.T) {
	t.Parallel()
	var dst onboardBody
	err := problem.DecodeJSON(newReq(`{}`, "application/json"), 1024, dst) // not a pointer
	require.Error(t, err)
	assert.Equal(t, domain.CodeInternal, domain.ErrorCode(err))
}

// FuzzDecodeJSON checks that no body makes the decoder panic or answer with
// anything other than success, invalid or too_large.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"tenant_name":"acme","seats":3,"active":true,"tags":["a","b"],"address":{"Zip":1}}`,
		``, `{`, `}`, `[]`, `null`, `"x"`, `{"seats":1e400}`, `{"seats":-1}`, `{"tags":[1]}`,
		`{"tenant_name":"\ud800"}`, "{\"tenant_name\":\"\xff\"}", `{} {}`, `{"a":1}`, `{"address":null}`,
		`{"tenant_name":"a","tenant_name":"b"}`, `{"TENANT_NAME":"x"}`,
	} {
		f.Add([]byte(s), int64(64))
		f.Add([]byte(s), int64(4096))
	}
	f.Fuzz(func(t *testing.T, body []byte, max int64) {
		if max < 1 || max > 1<<20 {
			max = 4096
		}
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		r.Header.Set("Content-Type", "application/json")
		var dst onboardBody
		err := problem.DecodeJSON(r, max, &dst)
		if err == nil {
			if int64(len(body)) > max {
				t.Fatalf("accepted %d bytes over a %d-byte limit", len(body), max)
			}
			return
		}
		var de *domain.Error
		if !errors.As(err, &de) {
			t.Fatalf("not a domain error: %v", err)
		}
		if de.Code != domain.CodeInvalid && de.Code != domain.CodeTooLarge {
			t.Fatalf("unexpected code %q: %v", de.Code, err)
		}
		if de.Message == "" {
			t.Fatal("empty message")
		}
	})
}
