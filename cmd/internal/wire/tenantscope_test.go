package wire

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	evddb "github.com/tenantstream/tenantstream/events/dynamodb"
	"github.com/tenantstream/tenantstream/handlers/awstest"
	"github.com/tenantstream/tenantstream/handlers/cognito"
	pjddb "github.com/tenantstream/tenantstream/projections/dynamodb"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// scopedAPI is the api function on moto with the tenant role configured: every
// DynamoDB call of a tenant's client goes through the role's policy
// (awstest.LeadingKeys), and the function's own calls are recorded.
type scopedAPI struct {
	t       *testing.T
	handler APIHandler
	p       *Platform
	policy  *awstest.LeadingKeys
	sts     *sts.Client                        // moto's STS, with the test's own credentials
	creds   map[string]aws.CredentialsProvider // what each tenant's client signs with
	db      *ddb.Client                        // moto's DynamoDB, unobserved, for reading the tables back
	tables  []string                           // the events and read-model tables
}

// newScopedAPI builds it; more adjusts the function's options after the
// test's own (a clock, a log).
func newScopedAPI(t *testing.T, more ...func(*Options)) *scopedAPI {
	t.Helper()
	ctx := context.Background()
	moto := awstest.Shared(t)
	cfg := moto.Config()
	suffix := fmt.Sprint(time.Now().UnixNano())
	eventsTbl, modelsTbl := "scope-events-"+suffix, "scope-readmodels-"+suffix
	db := ddb.NewFromConfig(cfg)
	require.NoError(t, evddb.CreateTable(ctx, db, eventsTbl))
	require.NoError(t, pjddb.CreateTable(ctx, db, modelsTbl))
	pool, err := cognito.CreatePool(ctx, cip.NewFromConfig(cfg), "scope-"+suffix)
	require.NoError(t, err)

	s := &scopedAPI{t: t, sts: sts.NewFromConfig(cfg), creds: map[string]aws.CredentialsProvider{}, db: db, tables: []string{eventsTbl, modelsTbl},
		policy: &awstest.LeadingKeys{Resources: map[string]string{
			eventsTbl: "PK", eventsTbl + "/index/" + evddb.TenantIndex: "GSI1PK", modelsTbl: "PK",
		}}}
	var mu sync.Mutex
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	env := Env{Store: StoreDynamoDB, EventsTable: eventsTbl, ReadModelsTable: modelsTbl, Region: awstest.Region, EndpointURL: moto.Endpoint,
		TenantRoleARN: "arn:aws:iam::123456789012:role/tenantstream-tenant",
		UserPoolID:    pool.UserPoolID, ClientID: pool.ClientID, JWKSURL: cognito.JWKSURL(moto.Endpoint, pool.UserPoolID)}
	env.CursorKeySecretARN = createCursorSecret(t, cfg, "scope-cursor-key-"+suffix)
	s.handler, s.p, err = newAPI(ctx, env, forTest(io.Discard, append([]func(*Options){func(o *Options) {
		o.TenantScoped = true
		o.DynamoOptions = func(tenant string) []func(*ddb.Options) {
			mw := s.policy.Observe()
			if tenant != "" {
				mw = s.policy.Middleware(tenant)
			}
			return []func(*ddb.Options){func(o *ddb.Options) {
				o.APIOptions = append(o.APIOptions, mw)
				mu.Lock()
				defer mu.Unlock()
				s.creds[tenant] = o.Credentials
			}}
		}
	}}, more...)...))
	require.NoError(t, err)
	return s
}

type response struct {
	status int
	body   string
	calls  []awstest.Call // the DynamoDB calls the request made
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.body), &m), r.body)
	return m
}

// call invokes the function as API Gateway does; claims, when set, are the JWT
// authorizer's (the token is then not sent).
func (s *scopedAPI) call(method, path, token string, body any, claims map[string]string) response {
	s.t.Helper()
	ev := awstest.APIRequest(s.t, method, path, token, body, claims)
	before := len(s.policy.Calls())
	out, err := s.handler(context.Background(), ev)
	require.NoError(s.t, err)
	return response{status: out.StatusCode, body: out.Body, calls: s.policy.Calls()[before:]}
}

// settle runs every projection over the store, as the projector functions do.
func (s *scopedAPI) settle() {
	s.t.Helper()
	require.NoError(s.t, catchUp(context.Background(), s.p))
}

// split sorts a request's calls into the tenant's, other tenants' and the
// function's own ("" tenant: every tenant's calls are others).
func split(calls []awstest.Call, tenant string) (own, others, base []awstest.Call) {
	for _, c := range calls {
		switch {
		case c.Tenant == "":
			base = append(base, c)
		case c.Tenant == tenant:
			own = append(own, c)
		default:
			others = append(others, c)
		}
	}
	return own, others, base
}

// docs/ARCHITECTURE.md, decision 9d: a tenant's requests reach DynamoDB only through its
// vended credentials. The api function runs on moto with the tenant role, whose
// policy awstest.LeadingKeys plays (moto evaluates no IAM conditions): a
// tenant's whole flow passes with no denial, every tenant route uses the
// tenant's client (the function's own role reads nothing but the projections'
// generation items), and onboarding, login and platform admins stay on the
// function's role.
func TestTenantRequestsUseTenantScopedCredentials(t *testing.T) {
	s := newScopedAPI(t)

	onboard := func(name string) string {
		r := s.call(http.MethodPost, "/onboarding", "", map[string]string{"tenant_name": name, "email": "admin@" + name + ".test", "password": "Sup3r-secret!", "plan": "starter"}, nil)
		require.Equal(t, http.StatusCreated, r.status, r.body)
		_, others, base := split(r.calls, "")
		assert.Empty(t, others, "onboarding is unscoped")
		assert.NotEmpty(t, base)
		id, _ := r.json(t)["tenant_id"].(string)
		require.NotEmpty(t, id)
		return id
	}
	login := func(name string) string {
		r := s.call(http.MethodPost, "/auth/login", "", map[string]string{"tenant_name": name, "email": "admin@" + name + ".test", "password": "Sup3r-secret!"}, nil)
		require.Equal(t, http.StatusOK, r.status, r.body)
		_, others, _ := split(r.calls, "")
		assert.Empty(t, others, "login is unscoped")
		tok, _ := r.json(t)["id_token"].(string)
		require.NotEmpty(t, tok)
		return tok
	}
	acme, globex := onboard("acme"), onboard("globex")
	s.settle()
	token, globexToken := login("acme"), login("globex")

	tp := "/tenants/" + acme
	now := time.Now().UTC().Format(time.RFC3339)
	usage := map[string]any{"events": []map[string]string{
		{"id": "run-1", "meter": "compute_seconds", "quantity": "90", "timestamp": now},
		{"id": "run-2", "meter": "compute_seconds", "quantity": "30.5", "timestamp": now},
	}}
	steps := []struct {
		name, method, path string
		body               any
		status             int
		settle             bool // run the projectors afterwards
		check              func(t *testing.T, r response)
	}{
		{"get tenant", http.MethodGet, tp, nil, http.StatusOK, false, func(t *testing.T, r response) {
			assert.Equal(t, "starter", r.json(t)["plan"])
		}},
		{"put item", http.MethodPut, tp + "/data/doc-1", map[string]any{"title": "one"}, http.StatusOK, false, nil},
		{"put another item", http.MethodPut, tp + "/data/doc-2", map[string]any{"title": "two"}, http.StatusOK, true, nil},
		{"get item", http.MethodGet, tp + "/data/doc-1", nil, http.StatusOK, false, func(t *testing.T, r response) {
			assert.Equal(t, map[string]any{"title": "one"}, r.json(t)["data"])
		}},
		{"list items", http.MethodGet, tp + "/data?limit=10", nil, http.StatusOK, false, func(t *testing.T, r response) {
			assert.Len(t, r.json(t)["items"], 2, r.body)
		}},
		{"update item", http.MethodPut, tp + "/data/doc-1", map[string]any{"title": "uno"}, http.StatusOK, false, nil},
		{"delete item", http.MethodDelete, tp + "/data/doc-2", nil, http.StatusNoContent, true, nil},
		{"report usage", http.MethodPost, tp + "/usage", usage, http.StatusAccepted, false, func(t *testing.T, r response) {
			assert.Equal(t, map[string]any{"accepted": float64(2), "duplicates": float64(0)}, r.json(t))
		}},
		{"report the same usage again", http.MethodPost, tp + "/usage", usage, http.StatusAccepted, true, func(t *testing.T, r response) {
			assert.Equal(t, map[string]any{"accepted": float64(0), "duplicates": float64(2)}, r.json(t))
		}},
		{"billing summary", http.MethodGet, "/billing/" + acme, nil, http.StatusOK, false, func(t *testing.T, r response) {
			assert.Equal(t, "120.5", r.json(t)["usage"].(map[string]any)["compute_seconds"])
		}},
		{"invoices", http.MethodGet, "/billing/" + acme + "/invoices", nil, http.StatusOK, false, nil},
		{"event log", http.MethodGet, tp + "/events?limit=3", nil, http.StatusOK, false, func(t *testing.T, r response) {
			assert.Len(t, r.json(t)["events"], 3)
		}},
		{"change plan", http.MethodPut, tp + "/plan", map[string]string{"plan": "pro"}, http.StatusOK, false, func(t *testing.T, r response) {
			assert.Equal(t, "pro", r.json(t)["plan"])
		}},
		{"add user", http.MethodPost, tp + "/users", map[string]string{"email": "dev@acme.test", "password": "Sup3r-secret!"}, http.StatusCreated, false, nil},
		{"the list after the changes", http.MethodGet, tp + "/data", nil, http.StatusOK, false, func(t *testing.T, r response) {
			assert.Len(t, r.json(t)["items"], 1, r.body)
		}},
	}
	for _, st := range steps {
		r := s.call(st.method, st.path, token, st.body, nil)
		require.Equal(t, st.status, r.status, "%s: %s", st.name, r.body)
		own, others, base := split(r.calls, acme)
		assert.NotEmpty(t, own, "%s used the tenant's client", st.name)
		assert.Empty(t, others, "%s used no other tenant's client", st.name)
		for _, c := range base {
			// The projections' generation state (platform metadata, cached
			// briefly), and the price book's catalogue stream, which is platform
			// data every tenant's bill is rated with (docs/ARCHITECTURE.md, decision 14).
			generation := c.Operation == "GetItem" && len(c.Keys) == 1 && strings.HasPrefix(c.Keys[0], "P#")
			book := c.Operation == "Query" && len(c.Keys) == 1 && c.Keys[0] == "T#_platform#S#catalog"
			assert.True(t, generation || book,
				"%s: the function's own role read only a generation item or the price book, not %+v", st.name, c)
		}
		if st.check != nil {
			st.check(t, r)
		}
		if st.settle {
			s.settle()
		}
	}

	// Another tenant's routes are refused before any DynamoDB call, and that
	// tenant's own requests use its own session.
	r := s.call(http.MethodGet, "/tenants/"+globex, token, nil, nil)
	assert.Equal(t, http.StatusForbidden, r.status, r.body)
	// The refused request is still acme's authenticated request: its
	// api_requests count is written to acme's usage stream, and it is counted
	// against acme's rate limit (acme's profile for its plan version, acme's
	// bucket), all with acme's session (docs/aws.md, "Built-in meters",
	// "Tenant rate limits").
	own, others, base := split(r.calls, acme)
	assert.Empty(t, others, "a refused request reaches no other tenant")
	assert.Empty(t, base, "a refused request uses no platform client")
	for _, c := range own {
		for _, k := range c.Keys {
			assert.True(t, strings.HasPrefix(k, "T#"+acme+"#S#usage-") || strings.HasPrefix(k, "T#"+acme+"#E#") ||
				k == "T#"+acme+"#S#tenant" || k == "T#"+acme+"#RL",
				"a refused request touched only acme's usage: %+v", c)
		}
	}
	r = s.call(http.MethodGet, "/tenants/"+globex, globexToken, nil, nil)
	require.Equal(t, http.StatusOK, r.status, r.body)
	own, others, _ = split(r.calls, globex)
	assert.NotEmpty(t, own)
	assert.Empty(t, others)

	// A platform admin crosses tenants on the function's own role.
	admin := map[string]string{"token_use": "id", "sub": "admin-1", "cognito:groups": "[platform_admin]"}
	r = s.call(http.MethodGet, tp, "", nil, admin)
	require.Equal(t, http.StatusOK, r.status, r.body)
	_, others, base = split(r.calls, "")
	assert.Empty(t, others, "a platform admin is unscoped")
	assert.NotEmpty(t, base)

	assert.Empty(t, s.policy.Denied(), "the tenant role's policy refused nothing")

	// Each tenant's client signs with its own session of the tenant role.
	for _, tenant := range []string{acme, globex} {
		who, err := s.sts.GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{}, func(o *sts.Options) { o.Credentials = s.creds[tenant] })
		require.NoError(t, err)
		assert.Equal(t, "arn:aws:sts::123456789012:assumed-role/tenantstream-tenant/tenant-"+tenant, aws.ToString(who.Arn))
	}
}
