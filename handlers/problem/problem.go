package problem

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/tenantstream/tenantstream/domain"
	"github.com/tenantstream/tenantstream/events"
)

// ContentType is the media type of every error response (RFC 9457 section 3).
const ContentType = "application/problem+json"

// statusOf is the one map from error code to HTTP status (docs/ARCHITECTURE.md, decision 10).
var statusOf = map[domain.Code]int{
	domain.CodeInvalid:            http.StatusBadRequest,
	domain.CodeUnauthenticated:    http.StatusUnauthorized,
	domain.CodeForbidden:          http.StatusForbidden,
	domain.CodeNotFound:           http.StatusNotFound,
	domain.CodeMethodNotAllowed:   http.StatusMethodNotAllowed,
	domain.CodeConflict:           http.StatusConflict,
	domain.CodePreconditionFailed: http.StatusPreconditionFailed,
	domain.CodeTooLarge:           http.StatusRequestEntityTooLarge,
	domain.CodeUnprocessable:      http.StatusUnprocessableEntity,
	domain.CodeRateLimited:        http.StatusTooManyRequests,
	domain.CodeLimitExceeded:      http.StatusPaymentRequired,
	domain.CodeInternal:           http.StatusInternalServerError,
	domain.CodeUnavailable:        http.StatusServiceUnavailable,
	domain.CodeNotImplemented:     http.StatusNotImplemented,
}

// genericDetail is shown when an error carries no client-safe message, so that
// nothing internal leaks (docs/ARCHITECTURE.md, decision 10).
var genericDetail = map[domain.Code]string{
	domain.CodeInvalid:            "The request is invalid.",
	domain.CodeUnauthenticated:    "Authentication is required.",
	domain.CodeForbidden:          "You are not allowed to do this.",
	domain.CodeNotFound:           "The resource was not found.",
	domain.CodeMethodNotAllowed:   "The method is not allowed on this resource; see the Allow header.",
	domain.CodeConflict:           "The request conflicts with the current state of the resource.",
	domain.CodePreconditionFailed: "The resource has changed since you last read it.",
	domain.CodeTooLarge:           "The request is too large.",
	domain.CodeUnprocessable:      "The request cannot be processed.",
	domain.CodeRateLimited:        "Too many requests; retry later.",
	domain.CodeLimitExceeded:      "A limit of the plan refuses this; a plan change lifts it.",
	domain.CodeInternal:           "Internal error.",
	domain.CodeUnavailable:        "The service is unavailable; retry later.",
	domain.CodeNotImplemented:     "This server does not implement that yet.",
}

// Status returns the HTTP status for code; unknown codes are internal errors.
func Status(code domain.Code) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// FieldIssue names one offending input field in the "errors" extension member.
type FieldIssue struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// Problem is an RFC 9457 problem details object. Code and RequestID are extension
// members: clients branch on Code, operators grep logs for RequestID.
type Problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail"`
	Instance  string       `json:"instance,omitempty"`
	Code      domain.Code  `json:"code"`
	RequestID string       `json:"request_id,omitempty"`
	Errors    []FieldIssue `json:"errors,omitempty"`
	// ViolatedPolicies names the RateLimit-Policy items a 429 exceeded (the
	// quota-exceeded problem type of draft-ietf-httpapi-ratelimit-headers).
	ViolatedPolicies []string `json:"violated-policies,omitempty"`

	// RetryAfter becomes the Retry-After header of 409, 429 and 503 answers.
	RetryAfter time.Duration `json:"-"`
	// Extensions are further members of a typed problem (Typed); they never
	// replace the members above.
	Extensions map[string]any `json:"-"`
}

// Typed is implemented by errors whose problem has a type URI of its own and
// extension members a client branches on (a plan limit's limit, used and
// upgrade plan). Only 4xx problems are typed.
type Typed interface {
	ProblemType() (uri, title string)
	ProblemExtensions() map[string]any
}

// MarshalJSON writes the problem's members, then its extensions.
func (p Problem) MarshalJSON() ([]byte, error) {
	type plain Problem
	b, err := json.Marshal(plain(p))
	if err != nil || len(p.Extensions) == 0 {
		return b, err
	}
	var std map[string]json.RawMessage
	if err := json.Unmarshal(b, &std); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(p.Extensions))
	for k := range p.Extensions {
		if _, taken := std[k]; !taken {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := bytes.NewBuffer(b[:len(b)-1])
	for _, k := range keys {
		v, err := json.Marshal(p.Extensions[k])
		if err != nil {
			return nil, err
		}
		kb, _ := json.Marshal(k)
		out.WriteByte(',')
		out.Write(kb)
		out.WriteByte(':')
		out.Write(v)
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

// RetryAfterer is implemented by errors that know when a retry may succeed, such as
// a login throttle; it is an interface so that commands need not import this package.
type RetryAfterer interface {
	RetryAfter() time.Duration
}

// From builds the problem for err as seen by request r (r may be nil). Server-side
// failures get a generic detail; their cause is for the log only.
func From(r *http.Request, err error) Problem {
	code, detail := classify(r, err)
	status := Status(code)
	if status >= 500 && code != domain.CodeNotImplemented {
		// A 501's message is written for the client (what is missing, and
		// what to do instead). Never show a server-side message, even a domain.Error's: it may quote a
		// driver or a path.
		detail = genericDetail[domain.CodeInternal]
		if code == domain.CodeUnavailable {
			detail = genericDetail[domain.CodeUnavailable]
		}

	}
	p := Problem{
		Type:   "about:blank",
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
		Code:   code,
	}
	if status < 500 {
		p.Errors = fieldIssues(err)
		var typed Typed
		if errors.As(err, &typed) {
			p.Type, p.Title = typed.ProblemType()
			p.Extensions = typed.ProblemExtensions()
		}
	}
	if code == domain.CodeRateLimited || code == domain.CodeUnavailable || code == domain.CodeConflict {
		var ra RetryAfterer
		if errors.As(err, &ra) {
			p.RetryAfter = ra.RetryAfter()
		}
	}
	if r != nil {
		p.RequestID = RequestIDFrom(r.Context())
		if p.RequestID != "" {
			p.Instance = "urn:request:" + p.RequestID
		}
	}
	return p
}

// classify finds the code and the client-safe detail of err.
func classify(r *http.Request, err error) (domain.Code, string) {
	var de *domain.Error
	if errors.As(err, &de) {
		msg := de.Message
		if msg == "" {
			msg = genericDetail[de.Code]
		}
		if _, known := statusOf[de.Code]; !known {
			return domain.CodeInternal, genericDetail[domain.CodeInternal]
		}
		return de.Code, msg
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return domain.CodeTooLarge, "The request body exceeds " + strconv.FormatInt(mbe.Limit, 10) + " bytes."
	case errors.Is(err, events.ErrConcurrency):
		// With If-Match the client stated a version, so the mismatch is a failed
		// precondition (RFC 9110 section 13.1.1); otherwise a plain conflict.
		if r != nil && r.Header.Get("If-Match") != "" {
			return domain.CodePreconditionFailed, genericDetail[domain.CodePreconditionFailed]
		}
		return domain.CodeConflict, "The resource was changed concurrently; retry."
	case errors.Is(err, events.ErrTooLarge):
		return domain.CodeTooLarge, genericDetail[domain.CodeTooLarge]
	case errors.Is(err, events.ErrInvalid), errors.Is(err, events.ErrInvalidCursor):
		return domain.CodeInvalid, genericDetail[domain.CodeInvalid]
	case errors.Is(err, events.ErrNotFound):
		return domain.CodeNotFound, genericDetail[domain.CodeNotFound]
	case errors.Is(err, events.ErrIdempotencyKeyReuse):
		return domain.CodeUnprocessable, "The Idempotency-Key was already used for a different request."
	case errors.Is(err, events.ErrClosed), errors.Is(err, events.ErrUnavailable):
		return domain.CodeUnavailable, genericDetail[domain.CodeUnavailable]
	}
	return domain.CodeInternal, genericDetail[domain.CodeInternal]
}

// fieldIssues lists the fields named by the domain errors in err's tree, so that a
// command can report several bad fields at once with errors.Join.
func fieldIssues(err error) []FieldIssue {
	var out []FieldIssue
	var walk func(error)
	walk = func(e error) {
		if e == nil || len(out) >= 50 {
			return
		}
		if de, ok := e.(*domain.Error); ok {
			if de.Field != "" && de.Code != domain.CodeInternal {
				out = append(out, FieldIssue{Field: de.Field, Detail: de.Message})
			}
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, c := range u.Unwrap() {
				walk(c)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// Write answers with the problem for err, logging server-side failures with the
// default logger.
func Write(w http.ResponseWriter, r *http.Request, err error) {
	Responder{}.Write(w, r, err)
}

// Responder writes problems and logs the internal ones to Logger.
type Responder struct {
	Logger *slog.Logger // nil: slog.Default()
}

// Write answers with the problem for err.
func (rs Responder) Write(w http.ResponseWriter, r *http.Request, err error) {
	p := From(r, err)
	if p.Status >= 500 {
		logger := rs.Logger
		if logger == nil {
			logger = slog.Default()
		}
		ctx := context.Background()
		attrs := []any{slog.Int("status", p.Status), slog.String("request_id", p.RequestID), slog.Any("error", err)}
		if r != nil {
			ctx = r.Context()
			attrs = append(attrs, slog.String("method", r.Method), slog.String("path", r.URL.Path))
		}
		if p.Status == http.StatusServiceUnavailable {
			// Expected under load or a full disk, and answered with Retry-After:
			// a warning, so a storm of them does not bury the real errors.
			logger.WarnContext(ctx, "request unavailable", attrs...)
		} else {
			logger.ErrorContext(ctx, "request failed", attrs...)
		}
	}
	WriteProblem(w, p)
}

// WriteProblem writes p as the response.
func WriteProblem(w http.ResponseWriter, p Problem) {
	body, err := json.Marshal(p)
	if err != nil {
		// Problem holds only strings and ints, so this cannot happen; keep a valid body anyway.
		body = []byte(`{"type":"about:blank","title":"Internal Server Error","status":500,"detail":"Internal error.","code":"internal"}`)
		p.Status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if p.RetryAfter > 0 {
		// Round up: answering 0 would invite an immediate retry that fails again.
		secs := int64((p.RetryAfter + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	w.WriteHeader(p.Status)
	_, _ = w.Write(body)
}

type requestIDKey struct{}

// WithRequestID returns ctx carrying the request id that problems and logs quote.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom returns the request id set by WithRequestID, or "".
func RequestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
