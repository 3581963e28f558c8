package domain

import (
	"errors"
	"fmt"
)

// Code classifies an error for clients. Delivery layers map each code to one
// status (HTTP) in exactly one place (docs/ARCHITECTURE.md, decision 10).
type Code string

// The error codes. Keep the set small.
const (
	CodeInvalid            Code = "invalid"             // malformed or semantically invalid input (400)
	CodeUnauthenticated    Code = "unauthenticated"     // missing or bad credentials (401)
	CodeForbidden          Code = "forbidden"           // authenticated but not allowed (403)
	CodeNotFound           Code = "not_found"           // no such resource, or not visible to the caller (404)
	CodeMethodNotAllowed   Code = "method_not_allowed"  // a known path, but not with this method (405)
	CodeConflict           Code = "conflict"            // state conflict, e.g. a name already taken (409)
	CodePreconditionFailed Code = "precondition_failed" // If-Match or expected version mismatch (412)
	CodeTooLarge           Code = "too_large"           // body or event over a limit (413)
	CodeUnprocessable      Code = "unprocessable"       // well-formed but cannot be processed (422)
	CodeRateLimited        Code = "rate_limited"        // slowed down, retry later (429)
	CodeLimitExceeded      Code = "limit_exceeded"      // a plan limit refuses it until the period resets or the plan changes (402)
	CodeInternal           Code = "internal"            // a bug or an outage; details are logged only (500)
	CodeUnavailable        Code = "unavailable"         // shutting down or overloaded (503)
	CodeNotImplemented     Code = "not_implemented"     // a feature this server does not have yet (501)
)

// Error is an error meant for the client: Message is safe to show.
type Error struct {
	Code    Code
	Message string
	// Field names the offending input field, when there is one.
	Field string
	// Err is the internal cause; it is logged, never shown.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns a client-facing error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an invalid-input error that names the field.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or CodeInternal.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
