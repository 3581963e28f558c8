package httpapi

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/cors"
)

// What the API allows browsers on other origins (docs/api.md, "Browsers
// (CORS)"): the one definition the local server's middleware and the stack's
// API Gateway CORS configuration (infra/stack) both use.
var (
	// CORSMethods are the methods a cross-origin request may use (GET, HEAD and
	// POST need no preflight, but GET and POST with a JSON body or a bearer
	// token do).
	CORSMethods = []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodPatch, http.MethodDelete}
	// CORSRequestHeaders are the request headers it may send.
	CORSRequestHeaders = []string{"Authorization", "Content-Type", "Idempotency-Key", "If-Match", "If-None-Match"}
	// CORSExposedHeaders are the response headers a script may read, beyond the
	// safelisted ones (Cache-Control, Content-Type, Content-Length, ...): every
	// other header the API sets for clients.
	CORSExposedHeaders = []string{"ETag", "Location", "Retry-After", "X-Request-Id", "Allow", "WWW-Authenticate", "RateLimit", "RateLimit-Policy"}
	// CORSMaxAge is how long a browser may cache a preflight's answer.
	CORSMaxAge = 10 * time.Minute
)

// ParseCORSOrigins reads allowed origins as serve's repeatable --cors-origin
// and the stack's corsOrigins give them: each value may hold several,
// comma-separated. Each must be an exact origin, scheme://host[:port] with the
// scheme http or https, as a browser sends it in Origin: no wildcard (list
// each origin), no path, no "null". Scheme and host are lower-cased and a
// default port dropped, as browsers serialize origins. Duplicates are dropped;
// order is kept.
func ParseCORSOrigins(values ...string) ([]string, error) {
	var out []string
	for _, v := range values {
		for _, o := range strings.Split(v, ",") {
			n, err := normalizeOrigin(strings.TrimSpace(o))
			if err != nil {
				return nil, err
			}
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out, nil
}

func normalizeOrigin(o string) (string, error) {
	bad := func(why string) error { return fmt.Errorf("CORS origin %q: %s", o, why) }
	switch {
	case o == "":
		return "", errors.New("CORS origin: empty (list origins such as https://app.example.com, comma-separated)")
	case strings.Contains(o, "*"):
		return "", bad("wildcards are not allowed; list each origin, such as https://app.example.com")
	case strings.EqualFold(o, "null"):
		return "", bad(`"null" is the origin of sandboxed and local pages, which anyone can create`)
	}
	u, err := url.Parse(o)
	if err != nil {
		return "", bad("not a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme != "http" && scheme != "https":
		return "", bad("want http:// or https://")
	case u.Opaque != "" || u.Host == "":
		return "", bad("no host; want scheme://host[:port]")
	case u.User != nil:
		return "", bad("an origin has no user information")
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#"):
		return "", bad("an origin has no path, query or fragment (not even a trailing /); want scheme://host[:port]")
	}
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if strings.HasSuffix(u.Host, ":") {
		return "", bad("empty port")
	}
	if ip := net.ParseIP(host); ip != nil {
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
	} else if !validHostname(host) {
		return "", bad("not a host name (a-z, 0-9, '-' and '.'; an internationalized name in its xn-- form)")
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return "", bad("port must be 1-65535")
		}
		if (scheme == "https" && n == 443) || (scheme == "http" && n == 80) {
			port = "" // browsers leave the default port out of Origin
		} else {
			port = strconv.Itoa(n)
		}
	}
	if port != "" {
		return scheme + "://" + host + ":" + port, nil
	}
	return scheme + "://" + host, nil
}

func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// CORS answers browsers' cross-origin requests from a list of allowed origins
// (github.com/rs/cors does the matching and the headers). A preflight from an
// allowed origin for an allowed method and headers is a 204 naming every
// method and header the API allows; any other request passes through, with
// Access-Control-Allow-Origin and Access-Control-Expose-Headers when its
// origin is allowed. A disallowed origin gets no CORS header at all (its
// preflight is the API's usual 405). No credentials mode: the API takes bearer
// tokens, never cookies, so it never sends Access-Control-Allow-Credentials.
type CORS struct {
	origins []string
	c       *cors.Cors
}

// NewCORS builds the middleware for origins, read as ParseCORSOrigins reads
// them; at least one is required.
func NewCORS(origins []string) (*CORS, error) {
	parsed, err := ParseCORSOrigins(origins...)
	if err != nil {
		return nil, err
	}
	if len(parsed) == 0 {
		return nil, errors.New("CORS: no origin given")
	}
	return &CORS{origins: parsed, c: cors.New(cors.Options{
		AllowedOrigins: parsed,
		// HEAD too: a HEAD is a simple request, and its answer needs
		// Access-Control-Allow-Origin like a GET's.
		AllowedMethods:     append(slices.Clone(CORSMethods), http.MethodHead),
		AllowedHeaders:     CORSRequestHeaders,
		ExposedHeaders:     CORSExposedHeaders,
		MaxAge:             int(CORSMaxAge / time.Second),
		AllowCredentials:   false,
		OptionsPassthrough: true, // Handler answers the preflights it accepted
	})}, nil
}

// Origins are the allowed origins, normalized.
func (c *CORS) Origins() []string { return slices.Clone(c.origins) }

var (
	corsAllowMethods = strings.Join(CORSMethods, ", ")
	corsAllowHeaders = strings.Join(CORSRequestHeaders, ", ")
)

// Handler wraps next.
func (c *CORS) Handler(next http.Handler) http.Handler {
	return c.c.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h := w.Header()
			if h.Get("Access-Control-Allow-Origin") != "" {
				// rs/cors echoes the one method and the headers asked for;
				// the whole lists let the browser cache one answer for all.
				h.Set("Access-Control-Allow-Methods", corsAllowMethods)
				h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	}))
}
