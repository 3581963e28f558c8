// Package sns publishes platform notifications (onboardings, invoices) to SNS topics with attributes for subscription filters.
package sns
