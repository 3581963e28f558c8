package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash"
	"io"
	"net/http"
	"strconv"

	"github.com/tenantstream/tenantstream/commands"
)

// An Idempotency-Key is bound to the request it was first sent with: the store
// keeps the request's fingerprint with the key, and a retry with another
// fingerprint is a 422 (docs/api.md, Idempotency). The fingerprint covers what
// makes a request mean what it does: the route and its path, the principal, the
// preconditions and the exact body.

// hashingBody hashes a request body as the handler reads it.
type hashingBody struct {
	io.ReadCloser
	h hash.Hash
}

func (b *hashingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.h.Write(p[:n])
	return n, err
}

// startFingerprint makes r's body hash itself as it is read, when the request
// carries an Idempotency-Key; finishFingerprint then sets m.Fingerprint.
func startFingerprint(r *http.Request, m commands.Meta) {
	if m.IdempotencyKey == "" || r.Body == nil {
		return
	}
	if _, ok := r.Body.(*hashingBody); !ok {
		r.Body = &hashingBody{ReadCloser: r.Body, h: sha256.New()}
	}
}

// finishFingerprint sets m.Fingerprint once the handler has read the whole body
// (the JSON decoders read to the end before they accept a body).
func finishFingerprint(r *http.Request, m *commands.Meta) {
	if m.IdempotencyKey == "" {
		return
	}
	var body []byte
	if hb, ok := r.Body.(*hashingBody); ok {
		body = hb.h.Sum(nil)
	}
	m.Fingerprint = RequestFingerprint(r.Method, r.Pattern, r.URL.EscapedPath(), m.Principal.TenantID, m.Principal.UserID,
		r.Header.Values("If-Match"), r.Header.Values("If-None-Match"), body)
}

// finishFingerprintOf is finishFingerprint for a body holding a password: the
// fingerprint covers v (the decoded body without its password) instead of the
// raw bytes, so the store never holds a fast hash of a password, which an
// attacker who read the store could guess offline. The commands guard the
// password on retries themselves (docs/api.md, Idempotency).
func finishFingerprintOf(r *http.Request, m *commands.Meta, v any) {
	if m.IdempotencyKey == "" {
		return
	}
	raw, err := json.Marshal(v)
	if err != nil { // plain structs of strings: cannot fail
		panic(err)
	}
	sum := sha256.Sum256(raw)
	m.Fingerprint = RequestFingerprint(r.Method, r.Pattern, r.URL.EscapedPath(), m.Principal.TenantID, m.Principal.UserID,
		r.Header.Values("If-Match"), r.Header.Values("If-None-Match"), sum[:])
}

// RequestFingerprint is the hash a request's Idempotency-Key is stored with:
// SHA-256 over length-prefixed fields, so no two different requests share one.
// bodyHash is the SHA-256 of the body (nil without a body).
func RequestFingerprint(method, pattern, path, tenant, user string, ifMatch, ifNoneMatch []string, bodyHash []byte) string {
	h := sha256.New()
	field := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field("tenantstream request v1")
	for _, s := range []string{method, pattern, path, tenant, user} {
		field(s)
	}
	for _, vs := range [][]string{ifMatch, ifNoneMatch} {
		field(strconv.Itoa(len(vs)))
		for _, v := range vs {
			field(v)
		}
	}
	field(string(bodyHash))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}
