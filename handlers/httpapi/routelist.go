package httpapi

import "net/http"

// Route is one registered route of the API: a net/http pattern ("METHOD /path")
// and whether it requires a bearer token.
type Route struct {
	Pattern string
	Authed  bool
}

// Routes lists the routes Handler registers, read from the registration itself so
// that tests enumerating them (the tenant-isolation suite) cannot miss a new one.
// Routes that depend on optional API fields (JWKS, metrics) are included as if set.
func Routes() []Route {
	a := &API{JWKS: nopHandler{}, OpenIDConfig: nopHandler{}, Metrics: &Metrics{}}
	a.Handler()
	return a.routes
}

type nopHandler struct{}

func (nopHandler) ServeHTTP(http.ResponseWriter, *http.Request) {}
