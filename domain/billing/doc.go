// Package billing holds tenantstream's pure billing maths: the plan catalogue, meters, the usage ledger fold, pricing models, proration and invoices.
package billing
