package identity_test

import (
	"testing"
	"time"

	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain/clock"
	ident "github.com/tenantstream/tenantstream/domain/identity"
)

// BenchmarkHash is the cost of one login or onboarding with the default parameters.
func BenchmarkHash(b *testing.B) {
	h, err := identity.NewHasher(identity.DefaultHashParams)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash("Correct horse 1!"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyUnknownUser must match BenchmarkVerifyWrongPassword: the timing
// side channel between them is what the dummy hash closes.
func BenchmarkVerifyWrongPassword(b *testing.B) {
	h, _ := identity.NewHasher(identity.DefaultHashParams)
	enc, _ := h.Hash("Correct horse 1!")
	for b.Loop() {
		_, _ = h.Verify("wrong", enc)
	}
}

func BenchmarkVerifyUnknownUser(b *testing.B) {
	h, _ := identity.NewHasher(identity.DefaultHashParams)
	for b.Loop() {
		_, _ = h.Verify("wrong", "")
	}
}

func BenchmarkIssue(b *testing.B) {
	is := newIssuer(b, clock.Fixed(time.Now()))
	p := ident.Principal{TenantID: "t", UserID: "u", Email: "e@example.com", Roles: []string{ident.RoleTenantAdmin}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := is.Issue(p); err != nil {
			b.Fatal(err)
		}
	}
}
