package wire

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/cursorseal"
	"github.com/tenantstream/tenantstream/commands/identity"
	evddb "github.com/tenantstream/tenantstream/events/dynamodb"
	"github.com/tenantstream/tenantstream/handlers/awstest"
	pjddb "github.com/tenantstream/tenantstream/projections/dynamodb"
)

// createCursorSecret makes the cursor-key secret as infra does (a generated
// string) and returns its ARN.
func createCursorSecret(t *testing.T, cfg aws.Config, name string) string {
	t.Helper()
	out, err := secretsmanager.NewFromConfig(cfg).CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(name), SecretString: aws.String(cursorseal.NewMaterial())})
	require.NoError(t, err)
	return aws.ToString(out.ARN)
}

// Every api instance seals event-log cursors with the key of the
// secret TENANTSTREAM_CURSOR_KEY_SECRET_ARN names, read at cold start, so a
// cursor one instance hands out resumes on another; after a rotation a new
// instance still opens cursors of the previous value; an instance with another
// secret refuses them, and on DynamoDB the function does not start without one.
func TestAPICursorKeyComesFromSecretsManager(t *testing.T) {
	ctx := context.Background()
	moto := awstest.Shared(t)
	cfg := moto.Config()
	suffix := fmt.Sprint(time.Now().UnixNano())
	eventsTbl, modelsTbl := "cursor-events-"+suffix, "cursor-readmodels-"+suffix
	db := ddb.NewFromConfig(cfg)
	require.NoError(t, evddb.CreateTable(ctx, db, eventsTbl))
	require.NoError(t, pjddb.CreateTable(ctx, db, modelsTbl))
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	env := Env{Store: StoreDynamoDB, EventsTable: eventsTbl, ReadModelsTable: modelsTbl, Region: awstest.Region, EndpointURL: moto.Endpoint,
		CursorKeySecretARN: createCursorSecret(t, cfg, "cursor-key-"+suffix)}
	coldStart := func(env Env) APIHandler {
		t.Helper()
		h, _, err := newAPI(ctx, env, forTest(io.Discard))
		require.NoError(t, err)
		return h
	}

	first := coldStart(env)
	status, body := invokeAPI(t, first, http.MethodPost, "/onboarding", map[string]string{
		"tenant_name": "acme", "email": "admin@acme.test", "password": "Sup3r-secret!"}, nil)
	require.Equal(t, http.StatusCreated, status, body)
	var out commands.Onboarded
	require.NoError(t, json.Unmarshal([]byte(body), &out))
	claims := map[string]string{"token_use": "id", "sub": out.AdminUserID, identity.ClaimTenantID: out.TenantID,
		identity.ClaimGroups: "[tenant_admin]"}
	for i := range 3 {
		status, body = invokeAPI(t, first, http.MethodPut, fmt.Sprintf("/tenants/%s/data/doc-%d", out.TenantID, i), map[string]int{"n": i}, claims)
		require.Equal(t, http.StatusOK, status, body)
	}
	type page struct {
		Events []struct {
			ID string `json:"id"`
		} `json:"events"`
		Next string `json:"next"`
		More bool   `json:"more"`
	}
	read := func(h APIHandler, after string) (int, page) {
		t.Helper()
		status, body := invokeAPI(t, h, http.MethodGet, "/tenants/"+out.TenantID+"/events?limit=2&after="+after, nil, claims)
		var p page
		if status == http.StatusOK {
			require.NoError(t, json.Unmarshal([]byte(body), &p), body)
		} else {
			assert.Contains(t, body, `"field":"after"`)
		}
		return status, p
	}
	status, p := read(first, "")
	require.Equal(t, http.StatusOK, status)
	require.True(t, p.More)
	cursor := p.Next
	status, want := read(first, cursor)
	require.Equal(t, http.StatusOK, status)
	require.NotEmpty(t, want.Events)

	status, got := read(coldStart(env), cursor)
	require.Equal(t, http.StatusOK, status, "another instance opens the cursor")
	assert.Equal(t, want.Events, got.Events)

	_, err := secretsmanager.NewFromConfig(cfg).PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(env.CursorKeySecretARN), SecretString: aws.String(cursorseal.NewMaterial())})
	require.NoError(t, err)
	rotated := coldStart(env)
	status, got = read(rotated, cursor)
	require.Equal(t, http.StatusOK, status, "after a rotation the previous value still opens")
	assert.Equal(t, want.Events, got.Events)
	status, _ = read(rotated, got.Next)
	assert.Equal(t, http.StatusOK, status)
	status, _ = read(first, got.Next)
	assert.Equal(t, http.StatusBadRequest, status, "the new value seals: an instance from before the rotation does not know it (docs/aws.md)")

	other := env
	other.CursorKeySecretARN = createCursorSecret(t, cfg, "other-cursor-key-"+suffix)
	status, _ = read(coldStart(other), cursor)
	assert.Equal(t, http.StatusBadRequest, status, "a cursor of another key is refused")

	other.CursorKeySecretARN = ""
	_, _, err = newAPI(ctx, other, forTest(io.Discard))
	assert.ErrorContains(t, err, "TENANTSTREAM_CURSOR_KEY_SECRET_ARN is required")
}
