package pretoken

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/tenantstream/tenantstream/commands/identity"
	evs "github.com/tenantstream/tenantstream/events"
)

// Causes of a refused event, for errors.Is. Cognito fails the sign-in when the
// trigger errors, so each one means "no tokens" rather than tokens without a tenant.
var (
	ErrMalformed = errors.New("pretoken: malformed event")
	ErrVersion   = errors.New("pretoken: unsupported event version")
)

// MaxEventBytes bounds what Decode reads. Cognito's events are a few KiB: a
// user has at most 50 custom attributes of at most 2,048 characters each.
const MaxEventBytes = 256 << 10

// ClaimEmail is the standard claim the trigger copies into the access token,
// so a password change (which finds the member by email) works with it.
const ClaimEmail = "email"

// Trigger sources of user authentication (the Cognito developer guide, "Pre
// token generation Lambda trigger sources"). TokenGeneration_ClientCredentials
// (machine tokens, V3_0 only) names no user and gets nothing; a source not
// listed here gets nothing either, so a flow Cognito adds later yields access
// tokens that reach no tenant until it is reviewed and added.
var userSources = map[string]bool{
	"TokenGeneration_HostedAuth":           true,
	"TokenGeneration_Authentication":       true,
	"TokenGeneration_NewPasswordChallenge": true,
	"TokenGeneration_AuthenticateDevice":   true,
	"TokenGeneration_RefreshTokens":        true,
}

// Event is a V2_0 (or V3_0, the same shape) pre token generation event. The
// header and request are aws-lambda-go's; the response is ours, because
// aws-lambda-go's writes every field (null group overrides, null ID-token
// claims), where this trigger answers only what it changes.
type Event struct {
	events.CognitoEventUserPoolsHeader
	Request  events.CognitoEventUserPoolsPreTokenGenRequestV2_0 `json:"request"`
	Response Response                                           `json:"response"`
}

// Response is the event's response: nil details change nothing.
type Response struct {
	ClaimsAndScopeOverrideDetails *Overrides `json:"claimsAndScopeOverrideDetails"`
}

// Overrides holds only the access token's part. No groupOverrideDetails, so
// the cognito:groups Cognito puts in both tokens stay as they are; no
// idTokenGeneration, so the ID token stays as it was (it already carries the
// readable attributes, custom:tenant_id among them).
type Overrides struct {
	AccessTokenGeneration *AccessTokenGeneration `json:"accessTokenGeneration,omitempty"`
}

// AccessTokenGeneration lists the claims added to (or replaced in) the access token.
type AccessTokenGeneration struct {
	ClaimsToAddOrOverride map[string]string `json:"claimsToAddOrOverride,omitempty"`
}

// Decode reads one event: valid JSON of at most MaxEventBytes, one object, a
// version of "2" or "3" and a trigger source. Unknown fields are ignored, as
// Cognito may add some.
func Decode(payload []byte) (Event, error) {
	if len(payload) > MaxEventBytes {
		return Event{}, fmt.Errorf("%w: %d bytes, at most %d", ErrMalformed, len(payload), MaxEventBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	var ev Event
	if err := dec.Decode(&ev); err != nil {
		return Event{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Event{}, fmt.Errorf("%w: data after the event", ErrMalformed)
	}
	switch {
	case ev.Version != "2" && ev.Version != "3":
		// A V1_0 trigger would ignore the access token's claims: fail the
		// sign-in loudly rather than issue access tokens without the tenant.
		return Event{}, fmt.Errorf("%w: %q (configure the trigger with LambdaVersion V2_0)", ErrVersion, ev.Version)
	case ev.TriggerSource == "":
		return Event{}, fmt.Errorf("%w: no triggerSource", ErrMalformed)
	}
	return ev, nil
}

// Respond decides the response to ev. It reads only the user's attributes
// (written by the platform with AdminCreateUser; the app client cannot write
// custom:tenant_id or email), never clientMetadata, which the client sending
// InitiateAuth chooses.
func Respond(ev Event) Response {
	if !userSources[ev.TriggerSource] {
		return Response{}
	}
	attrs := ev.Request.UserAttributes
	claims := map[string]string{}
	if t := attrs[identity.ClaimTenantID]; validTenant(t) {
		claims[identity.ClaimTenantID] = t
	}
	if e := attrs[ClaimEmail]; e != "" && attrs["email_verified"] == "true" {
		claims[ClaimEmail] = e
	}
	if len(claims) == 0 {
		return Response{}
	}
	return Response{ClaimsAndScopeOverrideDetails: &Overrides{AccessTokenGeneration: &AccessTokenGeneration{ClaimsToAddOrOverride: claims}}}
}

// validTenant accepts what the store accepts as a tenant id, except the
// reserved platform tenant and its kind ("_platform"): onboarding names
// tenants with UUIDs, and no user belongs to the platform's streams.
func validTenant(t string) bool {
	return evs.TenantID(t).Validate() == nil && !strings.HasPrefix(t, "_")
}

// Handler is the Lambda handler (aws-lambda-go's lambda.Handler): it decodes
// the payload itself, so the function and the fuzz target run the same code.
type Handler struct {
	Logger *slog.Logger // nil: slog.Default()
}

// Invoke answers one event with the event and its response, as Cognito expects.
func (h Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	ev, err := Decode(payload)
	if err != nil {
		log.ErrorContext(ctx, "pre token generation: event refused", "error", err)
		return nil, err
	}
	ev.Response = Respond(ev)
	switch {
	case !userSources[ev.TriggerSource]:
		log.WarnContext(ctx, "pre token generation: trigger source adds no claims", "trigger_source", ev.TriggerSource)
	case ev.Response.ClaimsAndScopeOverrideDetails == nil || ev.Response.ClaimsAndScopeOverrideDetails.AccessTokenGeneration.ClaimsToAddOrOverride[identity.ClaimTenantID] == "":
		// Not an error: a platform admin has no tenant. Such a token reaches no tenant's data.
		log.InfoContext(ctx, "pre token generation: the user has no valid tenant attribute", "trigger_source", ev.TriggerSource, "user_pool_id", ev.UserPoolID)
	}
	out, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("pre token generation: encode response: %w", err)
	}
	return out, nil
}
