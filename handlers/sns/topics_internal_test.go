package sns

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/member"
	"github.com/tenantstream/tenantstream/domain/tenant"
)

// TestTopicForRoutesBillingNotifications: invoices and usage alerts go to the
// invoices topic; types without a topic get none (ErrNoTopic).
func TestTopicForRoutesBillingNotifications(t *testing.T) {
	topics := Topics{Invoices: "inv", Onboarding: "onb", Members: "mem"}
	for typ, want := range map[string]string{
		billing.TypeInvoiceIssued:    "inv",
		billing.TypeThresholdReached: "inv",
		tenant.TypeOnboarded:         "onb",
		member.TypeInvitationCreated: "mem",
		billing.TypeLimitPassed:      "",
	} {
		assert.Equal(t, want, topics.topicFor(typ), typ)
	}
}
