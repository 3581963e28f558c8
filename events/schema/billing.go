package schema

import (
	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/events"
)

func registerBilling(r *events.Registry) {
	r.Register(billing.TypeInvoiceIssued, 1, billing.Issued{})
	r.Register(billing.TypeCatalogPublished, 1, billing.CatalogPublished{})
	r.Register(billing.TypeEntitlementOverridden, 1, billing.EntitlementOverridden{})
	r.Register(billing.TypeLimitPassed, 1, billing.LimitPassed{})
	r.Register(billing.TypeCreditGranted, 1, billing.CreditGranted{})
	r.Register(billing.TypeCreditVoided, 1, billing.CreditVoided{})
	r.Register(billing.TypeCreditApplied, 1, billing.CreditApplied{})
	r.Register(billing.TypeAlertsConfigured, 1, billing.AlertsConfigured{})
	r.Register(billing.TypeThresholdReached, 1, billing.ThresholdReached{})
}
