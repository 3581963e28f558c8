package problem_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/handlers/problem"
)

type retryErr struct{ d time.Duration }

func (e retryErr) Error() string             { return "slow down" }
func (e retryErr) RetryAfter() time.Duration { return e.d }
func (e retryErr) Unwrap() error {
	return domain.Errorf(domain.CodeRateLimited, "Too many failed logins.")
}

func TestWrite(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		err        error
		ifMatch    bool
		status     int
		code       domain.Code
		detail     string
		retryAfter string
	}{
		{"invalid", domain.FieldError("email", "Email is not valid."), false, 400, domain.CodeInvalid, "Email is not valid.", ""},
		{"unauthenticated", domain.Errorf(domain.CodeUnauthenticated, "Token expired."), false, 401, domain.CodeUnauthenticated, "Token expired.", ""},
		{"forbidden", domain.Errorf(domain.CodeForbidden, "no"), false, 403, domain.CodeForbidden, "no", ""},
		{"not found wrapped", fmt.Errorf("get item: %w", domain.Errorf(domain.CodeNotFound, "Item not found.")), false, 404, domain.CodeNotFound, "Item not found.", ""},
		{"conflict", domain.Errorf(domain.CodeConflict, "Name taken."), false, 409, domain.CodeConflict, "Name taken.", ""},
		{"precondition", domain.Errorf(domain.CodePreconditionFailed, "ETag mismatch."), false, 412, domain.CodePreconditionFailed, "ETag mismatch.", ""},
		{"too large", domain.Errorf(domain.CodeTooLarge, "Too big."), false, 413, domain.CodeTooLarge, "Too big.", ""},
		{"unprocessable", domain.Errorf(domain.CodeUnprocessable, "Nope."), false, 422, domain.CodeUnprocessable, "Nope.", ""},
		{"rate limited with retry", fmt.Errorf("login: %w", retryErr{1500 * time.Millisecond}), false, 429, domain.CodeRateLimited, "Too many failed logins.", "2"},
		{"rate limited without retry", domain.Errorf(domain.CodeRateLimited, "Slow."), false, 429, domain.CodeRateLimited, "Slow.", ""},
		{"internal domain error hides message", &domain.Error{Code: domain.CodeInternal, Message: "db at /var/x broke"}, false, 500, domain.CodeInternal, "Internal error.", ""},
		{"unavailable", domain.Errorf(domain.CodeUnavailable, "shutting down, disk /x"), false, 503, domain.CodeUnavailable, "The service is unavailable; retry later.", ""},
		{"plain error", errors.New("sql: connection refused at 10.0.0.1"), false, 500, domain.CodeInternal, "Internal error.", ""},
		{"unknown code", &domain.Error{Code: "weird", Message: "secret"}, false, 500, domain.CodeInternal, "Internal error.", ""},
		{"concurrency without If-Match", fmt.Errorf("append: %w", events.ErrConcurrency), false, 409, domain.CodeConflict, "The resource was changed concurrently; retry.", ""},
		{"concurrency with If-Match", fmt.Errorf("append: %w", events.ErrConcurrency), true, 412, domain.CodePreconditionFailed, "The resource has changed since you last read it.", ""},
		{"events too large", fmt.Errorf("append: %w", events.ErrTooLarge), false, 413, domain.CodeTooLarge, "The request is too large.", ""},
		{"events invalid hides detail", fmt.Errorf("%w: stream id %q bad", events.ErrInvalid, "x#y"), false, 400, domain.CodeInvalid, "The request is invalid.", ""},
		{"max bytes", fmt.Errorf("read: %w", &http.MaxBytesError{Limit: 10}), false, 413, domain.CodeTooLarge, "The request body exceeds 10 bytes.", ""},
		{"store closed", fmt.Errorf("append: %w", events.ErrClosed), false, 503, domain.CodeUnavailable, "The service is unavailable; retry later.", ""},
		{"store full", fmt.Errorf("append: commit: %w", events.ErrStorageFull), false, 503, domain.CodeUnavailable, "The service is unavailable; retry later.", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			rs := problem.Responder{Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
			r := httptest.NewRequest(http.MethodPut, "/tenants/t1/data/x", nil)
			if tc.ifMatch {
				r.Header.Set("If-Match", `"3"`)
			}
			r = r.WithContext(problem.WithRequestID(r.Context(), "req-1"))
			w := httptest.NewRecorder()
			rs.Write(w, r, tc.err)

			require.Equal(t, tc.status, w.Code)
			assert.Equal(t, problem.ContentType, w.Header().Get("Content-Type"))
			assert.Equal(t, tc.retryAfter, w.Header().Get("Retry-After"))
			var got map[string]any
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
			assert.Equal(t, "about:blank", got["type"])
			assert.Equal(t, http.StatusText(tc.status), got["title"])
			assert.EqualValues(t, tc.status, got["status"])
			assert.Equal(t, tc.detail, got["detail"])
			assert.Equal(t, string(tc.code), got["code"])
			assert.Equal(t, "req-1", got["request_id"])
			assert.Equal(t, "urn:request:req-1", got["instance"])
			if tc.status >= 500 {
				assert.Contains(t, logs.String(), `"request_id":"req-1"`, "server errors are logged with the request id")
				assert.NotContains(t, w.Body.String(), "10.0.0.1")
				assert.NotContains(t, w.Body.String(), "/var/x")
			} else {
				assert.Empty(t, logs.String(), "client errors are not logged as failures")
			}
		})
	}
}

func TestWriteFieldErrors(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("onboard: %w", errors.Join(
		domain.FieldError("tenant_name", "Tenant name must be 3-63 characters."),
		domain.FieldError("password", "Password needs a digit."),
	))
	w := httptest.NewRecorder()
	problem.Write(w, nil, err)
	require.Equal(t, http.StatusBadRequest, w.Code)
	var got problem.Problem
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &got))
	assert.Equal(t, []problem.FieldIssue{
		{Field: "tenant_name", Detail: "Tenant name must be 3-63 characters."},
		{Field: "password", Detail: "Password needs a digit."},
	}, got.Errors)
	assert.Empty(t, got.RequestID)
}

func TestStatusCoversEveryCode(t *testing.T) {
	t.Parallel()
	want := map[domain.Code]int{
		domain.CodeInvalid: 400, domain.CodeUnauthenticated: 401, domain.CodeForbidden: 403,
		domain.CodeNotFound: 404, domain.CodeConflict: 409, domain.CodePreconditionFailed: 412,
		domain.CodeTooLarge: 413, domain.CodeUnprocessable: 422, domain.CodeRateLimited: 429,
		domain.CodeInternal: 500, domain.CodeUnavailable: 503,
	}
	for code, status := range want {
		assert.Equal(t, status, problem.Status(code), code)
	}
	assert.Equal(t, 500, problem.Status("nonsense"))
}

// TestUnavailableIsAWarningNotAnError: a 503 (disk full, a busy hasher) is
// expected and carries Retry-After, so it is logged as a warning; a 500 stays an
// error.
func TestUnavailableIsAWarningNotAnError(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	r := httptest.NewRequest(http.MethodPut, "/x", nil)
	problem.Responder{Logger: log}.Write(httptest.NewRecorder(), r, &domain.Error{Code: domain.CodeUnavailable, Message: "full"})
	assert.Contains(t, buf.String(), `"level":"WARN"`)
	assert.NotContains(t, buf.String(), `"level":"ERROR"`)
	buf.Reset()
	problem.Responder{Logger: log}.Write(httptest.NewRecorder(), r, errors.New("boom"))
	assert.Contains(t, buf.String(), `"level":"ERROR"`)
}
