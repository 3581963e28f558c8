package identity

// The Cognito app client's attribute permissions, shared by infra/ and
// handlers/cognito.CreatePool (tests) so both pools are the same. The platform
// writes email, email_verified and custom:tenant_id with admin calls
// (AdminCreateUser) and trusts them in tokens; a user's own access token
// (UpdateUserAttributes) may write only profile attributes nothing here reads.
// A list, never empty: Cognito treats a client without WriteAttributes as one
// that may write every standard attribute.
var (
	ClientReadAttributes  = []string{"email", ClaimTenantID}
	ClientWriteAttributes = []string{"name", "locale", "zoneinfo"}
)
