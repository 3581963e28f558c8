package tenant

import "time"

// TypeDataErased is the stable type name of the record that a tenant's data
// keys were destroyed (crypto-shredding). Never rename: it is stored.
const TypeDataErased = "tenant.data_erased"

// DataErased is appended to the tenant's profile stream just before its data
// keys are destroyed: from then on every sealed field of the tenant (item
// data, emails, password hashes, usage property values) is unreadable
// everywhere, while the envelope and issued invoices stay
// (docs/data-protection.md).
type DataErased struct {
	At time.Time `json:"at"`
}
