package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/handlers/auth"
)

// BenchmarkVerify measures the per-request token check of a token seen before (the
// verified-token cache hit every request after a client's first).
func BenchmarkVerify(b *testing.B) {
	k, _ := keys(b)
	tok := issue(b, issuerURL, clientID, k, t0).AccessToken
	v := newVerifier(b, t0.Add(time.Minute))
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkVerifyUncached is the first sight of a token: the RSA verification itself.
func BenchmarkVerifyUncached(b *testing.B) {
	k, _ := keys(b)
	tok := issue(b, issuerURL, clientID, k, t0).AccessToken
	static, err := auth.NewStaticKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k.PublicJWK()}})
	if err != nil {
		b.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{Issuer: issuerURL, ClientIDs: []string{clientID}, Keys: static, Clock: clock.Fixed(t0), CacheSize: -1})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyRejectAlgNone(b *testing.B) {
	k, _ := keys(b)
	good := issue(b, issuerURL, clientID, k, t0).AccessToken
	none := b64(map[string]string{"alg": "none", "kid": k.ID}) + "." + good[len(good)/3:len(good)/3] + "e30."
	v := newVerifier(b, t0.Add(time.Minute))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, none); err == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkMiddleware(b *testing.B) {
	k, _ := keys(b)
	tok := issue(b, issuerURL, clientID, k, t0).AccessToken
	h := auth.Middleware(auth.Bearer(newVerifier(b, t0.Add(time.Minute))), nil, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest(http.MethodGet, "/tenants/tenant-a", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		for pb.Next() {
			h.ServeHTTP(httptest.NewRecorder(), r)
		}
	})
}
