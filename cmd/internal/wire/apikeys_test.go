package wire

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/domain/apikey"
	"github.com/tenantstream/tenantstream/domain/clock"
)

// lockedBuffer is a bytes.Buffer safe for the log handler's concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// createdKey is the answer of POST .../api-keys.
type createdKey struct {
	KeyID string `json:"key_id"`
	Key   string `json:"key"`
}

func (s *scopedAPI) createKey(tenant, token string, body map[string]any) createdKey {
	s.t.Helper()
	r := s.call(http.MethodPost, "/tenants/"+tenant+"/api-keys", token, body, nil)
	require.Equal(s.t, http.StatusCreated, r.status, r.body)
	var k createdKey
	require.NoError(s.t, json.Unmarshal([]byte(r.body), &k))
	require.True(s.t, apikey.LooksLike(k.Key), k.Key)
	return k
}

// typo changes one character of a key's secret, which its checksum catches.
func typo(key string) string {
	i := len(apikey.Prefix) + apikey.IDLen + 5
	c := byte('a')
	if key[i] == c {
		c = 'b'
	}
	return key[:i] + string(c) + key[i+1:]
}

// keyIndex is the partition key of the platform index item naming a key's tenant.
func keyIndex(keyID string) string { return "T#_platform#S#" + apikey.IndexStreamID(keyID) }

// TestAPIKeysThroughTheAPIFunction: with no gateway authorizer in front of the
// routes (docs/aws.md, "API keys on AWS"), the api function verifies every
// bearer itself. On moto with the tenant role, whose policy
// awstest.LeadingKeys plays: a key works within its tenant and scopes, is
// refused (403) outside them and on another tenant, fails at once after its
// revocation and after its expiry (401), and each keyed request reads the
// key's platform index entry with the function's own role (the one read that
// cannot be the tenant's: it is what names the tenant) and the tenant's keys
// with the tenant's session. Cognito ID tokens still work, forged ones do
// not, and neither the key nor its secret reaches a log line or a table.
func TestAPIKeysThroughTheAPIFunction(t *testing.T) {
	clk := clock.NewTest(time.Now())
	logs, metrics := &lockedBuffer{}, &lockedBuffer{}
	s := newScopedAPI(t, func(o *Options) {
		o.Clock = clk
		o.Log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		o.Metrics.W = metrics
	})
	onboard := func(name string) string {
		r := s.call(http.MethodPost, "/onboarding", "", map[string]string{"tenant_name": name, "email": "admin@" + name + ".test", "password": "Sup3r-secret!"}, nil)
		require.Equal(t, http.StatusCreated, r.status, r.body)
		id, _ := r.json(t)["tenant_id"].(string)
		require.NotEmpty(t, id)
		return id
	}
	login := func(name string) string {
		r := s.call(http.MethodPost, "/auth/login", "", map[string]string{"tenant_name": name, "email": "admin@" + name + ".test", "password": "Sup3r-secret!"}, nil)
		require.Equal(t, http.StatusOK, r.status, r.body)
		tok, _ := r.json(t)["id_token"].(string)
		require.NotEmpty(t, tok)
		return tok
	}
	acme, globex := onboard("acme"), onboard("globex")
	s.settle()
	token, globexToken := login("acme"), login("globex")
	tp := "/tenants/" + acme

	// A Cognito ID token, verified by the function with the pool's JWKS.
	r := s.call(http.MethodGet, tp, token, nil, nil)
	require.Equal(t, http.StatusOK, r.status, r.body)

	reader := s.createKey(acme, token, map[string]any{"name": "ingest", "scopes": []string{"usage:write", "data:read"},
		"expires_at": clk.Now().Add(time.Hour).Format(time.RFC3339)})
	writer := s.createKey(acme, token, map[string]any{"name": "writer", "scopes": []string{"data:write", "data:read"}})
	other := s.createKey(globex, globexToken, map[string]any{"name": "globex", "scopes": []string{"data:read"}})

	// keyed checks a keyed request's DynamoDB calls: the tenant's keys read with
	// the tenant's session, the key's index entry with the function's role,
	// and nothing of another tenant.
	keyed := func(name string, r response, key createdKey) {
		t.Helper()
		own, others, base := split(r.calls, acme)
		assert.Empty(t, others, "%s: no other tenant's client", name)
		var keysRead, indexRead int
		for _, c := range own {
			if c.Operation == "Query" && len(c.Keys) == 1 && c.Keys[0] == "T#"+acme+"#S#"+apikey.StreamID {
				keysRead++
			}
		}
		for _, c := range base {
			for _, k := range c.Keys {
				assert.False(t, strings.HasPrefix(k, "T#"+acme+"#"), "%s: the function's own role read none of the tenant's items: %+v", name, c)
			}
			index := c.Operation == "Query" && len(c.Keys) == 1 && c.Keys[0] == keyIndex(key.KeyID)
			generation := c.Operation == "GetItem" && len(c.Keys) == 1 && strings.HasPrefix(c.Keys[0], "P#")
			book := c.Operation == "Query" && len(c.Keys) == 1 && c.Keys[0] == "T#_platform#S#catalog"
			assert.True(t, index || generation || book, "%s: the function's own role read only the key index, a generation item or the price book, not %+v", name, c)
			if index {
				indexRead++
			}
		}
		assert.Equal(t, 1, keysRead, "%s: the tenant's api-keys stream was read once, with the tenant's session", name)
		assert.LessOrEqual(t, indexRead, 1, "%s: the key index was read at most once, with the function's role", name)
	}

	// Within scope.
	now := clk.Now().UTC().Format(time.RFC3339)
	usage := map[string]any{"events": []map[string]string{{"id": "k-1", "meter": "compute_seconds", "quantity": "3", "timestamp": now}}}
	r = s.call(http.MethodPost, tp+"/usage", reader.Key, usage, nil)
	require.Equal(t, http.StatusAccepted, r.status, r.body)
	keyed("usage report", r, reader)
	r = s.call(http.MethodPut, tp+"/data/by-key", writer.Key, map[string]any{"v": 1}, nil)
	require.Equal(t, http.StatusOK, r.status, r.body)
	keyed("put item", r, writer)
	s.settle()
	r = s.call(http.MethodGet, tp+"/data/by-key", reader.Key, nil, nil)
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, map[string]any{"v": float64(1)}, r.json(t)["data"])
	keyed("get item", r, reader)
	r = s.call(http.MethodGet, tp+"/data", reader.Key, nil, nil)
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Len(t, r.json(t)["items"], 1, r.body)
	keyed("list items", r, reader)
	r = s.call(http.MethodGet, "/me", reader.Key, nil, nil)
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Contains(t, r.body, reader.KeyID, "GET /me names the key")
	assert.Contains(t, r.body, acme)

	// Outside its scopes, on routes keys never use, and on another tenant: 403,
	// as locally (no gateway authorizer answers first).
	for _, tc := range []struct {
		name, method, path, key string
		body                    any
		detail                  string
	}{
		{"write without data:write", http.MethodPut, tp + "/data/x", reader.Key, map[string]any{"v": 2}, "data:write"},
		{"billing without billing:read", http.MethodGet, "/billing/" + acme, reader.Key, nil, "billing:read"},
		{"usage without usage:write", http.MethodPost, tp + "/usage", writer.Key, usage, "usage:write"},
		{"the tenant profile", http.MethodGet, tp, reader.Key, nil, "API keys cannot"},
		{"keys cannot make keys", http.MethodPost, tp + "/api-keys", reader.Key, map[string]any{"name": "x", "scopes": []string{"data:read"}}, "API keys cannot"},
		{"the audit log", http.MethodGet, tp + "/audit-log", reader.Key, nil, "API keys cannot"},
		{"another tenant's data", http.MethodGet, "/tenants/" + globex + "/data", reader.Key, nil, ""},
		{"another tenant's usage", http.MethodPost, "/tenants/" + globex + "/usage", reader.Key, usage, ""},
	} {
		r := s.call(tc.method, tc.path, tc.key, tc.body, nil)
		assert.Equal(t, http.StatusForbidden, r.status, "%s: %s", tc.name, r.body)
		assert.Contains(t, r.body, tc.detail, tc.name)
		_, others, _ := split(r.calls, acme)
		assert.Empty(t, others, "%s: nothing of another tenant was touched", tc.name)
	}
	// Another tenant's key id is no key of this tenant.
	r = s.call(http.MethodDelete, tp+"/api-keys/"+other.KeyID, token, nil, nil)
	assert.Equal(t, http.StatusNotFound, r.status, r.body)
	r = s.call(http.MethodGet, "/tenants/"+globex+"/data", other.Key, nil, nil)
	assert.Equal(t, http.StatusOK, r.status, "globex's key still works for globex: %s", r.body)

	// Refused before any read: no header, a typo (the checksum), and forged or
	// tampered JWTs; a well-formed key nobody issued costs the index read only.
	unknown, err := apikey.New(rand.Reader)
	require.NoError(t, err)
	for _, tc := range []struct {
		name, token string
		reads       int
	}{
		{"no token", "", 0},
		{"a typo in a key", typo(reader.Key), 0},
		{"a JWT with another tenant's claims", tamper(t, token, "custom:tenant_id", globex), 0},
		{"a JWT signed with another key", forge(t, token), 0},
		{"a JWT without a signature", unsigned(t, token), 0},
		{"an API key nobody issued", unknown.String(), 1},
	} {
		r := s.call(http.MethodGet, tp+"/data", tc.token, nil, nil)
		assert.Equal(t, http.StatusUnauthorized, r.status, "%s: %s", tc.name, r.body)
		assert.Contains(t, r.body, "unauthenticated", tc.name)
		assert.Len(t, r.calls, tc.reads, "%s: DynamoDB calls %+v", tc.name, r.calls)
	}

	// Revocation takes effect on the very next request.
	r = s.call(http.MethodDelete, tp+"/api-keys/"+writer.KeyID, token, nil, nil)
	require.Equal(t, http.StatusNoContent, r.status, r.body)
	r = s.call(http.MethodGet, tp+"/data", writer.Key, nil, nil)
	assert.Equal(t, http.StatusUnauthorized, r.status, "revoked: %s", r.body)
	r = s.call(http.MethodGet, tp+"/data", reader.Key, nil, nil)
	assert.Equal(t, http.StatusOK, r.status, "the other key still works: %s", r.body)

	// Expiry follows the business clock.
	require.NoError(t, clk.Set(clk.Now().Add(time.Hour)))
	r = s.call(http.MethodGet, tp+"/data", reader.Key, nil, nil)
	assert.Equal(t, http.StatusUnauthorized, r.status, "expired: %s", r.body)
	assert.Contains(t, r.body, "expired")

	// The tenant's ID token still works after all that.
	r = s.call(http.MethodGet, tp+"/api-keys", token, nil, nil)
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Len(t, r.json(t)["api_keys"], 1, "the revoked key is gone from the list: %s", r.body)

	assert.Empty(t, s.policy.Denied(), "the tenant role's policy refused nothing")
	// The index entry is platform data: the tenant's session could not read it,
	// which is why it is read with the function's role.
	assert.Error(t, s.policy.Authorize(acme, &ddb.QueryInput{TableName: aws.String(s.tables[0]),
		KeyConditionExpression:    aws.String("PK = :pk"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": &ddbtypes.AttributeValueMemberS{Value: keyIndex(reader.KeyID)}}}))

	// Neither a key nor its secret is in a log line, a metric line or an item.
	var secrets []string
	for _, k := range []createdKey{reader, writer, other} {
		secrets = append(secrets, k.Key, k.Key[len(apikey.Prefix)+apikey.IDLen:len(k.Key)-7])
	}
	for _, sec := range secrets {
		assert.NotContains(t, logs.String(), sec, "a key secret was logged")
		assert.NotContains(t, metrics.String(), sec, "a key secret reached a metric line")
	}
	assert.Contains(t, logs.String(), `"route"`, "the access log was captured")
	var idSeen bool
	for _, table := range s.tables {
		p := ddb.NewScanPaginator(s.db, &ddb.ScanInput{TableName: aws.String(table)})
		for p.HasMorePages() {
			page, err := p.NextPage(context.Background())
			require.NoError(t, err)
			for _, item := range page.Items {
				raw, err := json.Marshal(item)
				require.NoError(t, err)
				for _, sec := range secrets {
					assert.False(t, bytes.Contains(raw, []byte(sec)), "an item of %s holds a key secret", table)
				}
				idSeen = idSeen || bytes.Contains(raw, []byte(reader.KeyID))
			}
		}
	}
	assert.True(t, idSeen, "the scan read the keys' items")
}

// jwtParts splits a compact JWT into its decoded header and claims.
func jwtParts(t *testing.T, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	for i, dst := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(raw, dst))
	}
	return header, claims
}

func encodePart(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	return base64.RawURLEncoding.EncodeToString(raw)
}

// tamper changes one claim of a real token and keeps its signature.
func tamper(t *testing.T, token, claim, value string) string {
	t.Helper()
	_, claims := jwtParts(t, token)
	claims[claim] = value
	parts := strings.Split(token, ".")
	return parts[0] + "." + encodePart(t, claims) + "." + parts[2]
}

// forge signs the real token's header and claims with a key of its own.
func forge(t *testing.T, token string) string {
	t.Helper()
	header, claims := jwtParts(t, token)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", header["kid"]))
	require.NoError(t, err)
	out, err := jwt.Signed(signer).Claims(claims).Serialize()
	require.NoError(t, err)
	return out
}

// unsigned is the real token's claims under alg "none".
func unsigned(t *testing.T, token string) string {
	t.Helper()
	header, claims := jwtParts(t, token)
	header["alg"] = "none"
	return encodePart(t, header) + "." + encodePart(t, claims) + "."
}
