package lambdaapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/tenantstream/tenantstream/domain"
	ident "github.com/tenantstream/tenantstream/domain/identity"
	"github.com/tenantstream/tenantstream/handlers/auth"
	"github.com/tenantstream/tenantstream/handlers/httpapi"
)

// Adapter turns API Gateway v2 events into requests for one http.Handler (the
// httpapi routes, unchanged) and the handler's answer into the event response.
type Adapter struct {
	Handler http.Handler
}

// claimsResult is what the JWT authorizer's claims said, carried in the context.
type claimsResult struct {
	p   ident.Principal
	err error
}

type claimsKey struct{}

// Handle is the Lambda handler function.
func (a Adapter) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	r, err := Request(ctx, ev)
	if err != nil {
		// API Gateway only sends well-formed events; this is a bug or a misrouted invoke.
		return events.APIGatewayV2HTTPResponse{}, err
	}
	w := newResponse()
	a.Handler.ServeHTTP(w, r)
	return w.event(), nil
}

// Request builds the *http.Request an event describes. Claims of the JWT
// authorizer travel in the context for Authenticate.
func Request(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return nil, fmt.Errorf("decode base64 body: %w", err)
		}
	}
	path := ev.RawPath
	if path == "" {
		path = ev.RequestContext.HTTP.Path
	}
	// A named stage prefixes the path; the routes know nothing of stages.
	if st := ev.RequestContext.Stage; st != "" && st != "$default" {
		if rest, ok := strings.CutPrefix(path, "/"+st); ok && (rest == "" || rest[0] == '/') {
			path = rest
		}
	}
	if path == "" {
		path = "/"
	}
	u, err := url.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("parse path %q: %w", path, err)
	}
	u.RawQuery = ev.RawQueryString
	method := ev.RequestContext.HTTP.Method
	if method == "" {
		method = http.MethodGet
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if jwt := ev.RequestContext.Authorizer; jwt != nil && jwt.JWT != nil && len(jwt.JWT.Claims) > 0 {
		p, err := auth.PrincipalFromClaims(jwt.JWT.Claims)
		ctx = context.WithValue(ctx, claimsKey{}, claimsResult{p: p, err: err})
	}
	r, err := http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request %s %s: %w", method, path, err)
	}
	r.RequestURI = u.RequestURI()
	for k, v := range ev.Headers {
		// API Gateway joins repeated headers with commas, which HTTP treats as one list.
		r.Header.Set(k, v)
	}
	if len(ev.Cookies) > 0 {
		r.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	r.Host = r.Header.Get("Host")
	if r.Host == "" {
		r.Host = ev.RequestContext.DomainName
	}
	r.ContentLength = int64(len(body))
	r.RemoteAddr = ev.RequestContext.HTTP.SourceIP + ":0"
	if ev.RequestContext.HTTP.Protocol != "" {
		if major, minor, ok := http.ParseHTTPVersion(ev.RequestContext.HTTP.Protocol); ok {
			r.Proto, r.ProtoMajor, r.ProtoMinor = ev.RequestContext.HTTP.Protocol, major, minor
		}
	}
	return r, nil
}

// Authenticate is the httpapi.Authenticator behind API Gateway: the bearer
// token checked by v (nil refuses), which is every request of the deployed
// stack, whose routes have no gateway authorizer so that API keys reach the
// function (docs/aws.md, "API keys on AWS"); v is the platform's one bearer
// verifier (wire's BearerVerifier: Cognito JWTs and API keys). A JWT
// authorizer's claims, when an event carries any (a route given one, or a
// test), are taken as the principal instead: API Gateway checked that token.
func Authenticate(v auth.TokenVerifier) httpapi.Authenticator {
	return func(r *http.Request) (ident.Principal, error) {
		if c, ok := r.Context().Value(claimsKey{}).(claimsResult); ok {
			return c.p, c.err
		}
		tok, err := auth.BearerToken(r)
		if err != nil {
			return ident.Principal{}, err
		}
		if v == nil {
			return ident.Principal{}, &domain.Error{Code: domain.CodeUnauthenticated, Message: "This API verifies no bearer tokens.", Err: auth.ErrMissingToken}
		}
		return v.Verify(r.Context(), tok)
	}
}

// response collects what the handler writes.
type response struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newResponse() *response { return &response{header: http.Header{}} }

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *response) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

func (w *response) event() events.APIGatewayV2HTTPResponse {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	out := events.APIGatewayV2HTTPResponse{StatusCode: w.status, Headers: map[string]string{}}
	if w.body.Len() > 0 && w.header.Get("Content-Type") == "" {
		w.header.Set("Content-Type", http.DetectContentType(w.body.Bytes()))
	}
	for k, vs := range w.header {
		if k == "Set-Cookie" {
			out.Cookies = append(out.Cookies, vs...)
			continue
		}
		out.Headers[k] = strings.Join(vs, ",")
	}
	if textual(w.header.Get("Content-Type")) {
		out.Body = w.body.String()
	} else if w.body.Len() > 0 {
		out.Body, out.IsBase64Encoded = base64.StdEncoding.EncodeToString(w.body.Bytes()), true
	}
	return out
}

// textual reports whether a body can travel as a string; anything else is base64.
func textual(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mt, "text/") || mt == "application/json" || strings.HasSuffix(mt, "+json") ||
		mt == "application/xml" || strings.HasSuffix(mt, "+xml") || mt == "application/javascript"
}
