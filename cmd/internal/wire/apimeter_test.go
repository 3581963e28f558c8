package wire

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/commands"
	"github.com/tenantstream/tenantstream/commands/identity"
	"github.com/tenantstream/tenantstream/domain/metering"
	evs "github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/handlers/awstest"
)

// The api function records the built-in meters (docs/aws.md, "Built-in
// meters"): N authenticated calls are N api_requests and each PUT an
// item_write in the ledger once its invocation answered, and replaying the
// same invocations (the same request ids) counts nothing twice.
func TestAPIRecordsTheBuiltInMeters(t *testing.T) {
	noAWSProfile(t)
	t.Setenv("TENANTSTREAM_STORE", StoreMemory)
	ctx := context.Background()
	h, p, err := newAPI(ctx, FromEnv(), forTest(io.Discard))
	require.NoError(t, err)

	status, body := invokeAPI(t, h, http.MethodPost, "/onboarding", map[string]string{
		"tenant_name": "acme", "email": "admin@acme.test", "password": "Sup3r-secret!"}, nil)
	require.Equal(t, http.StatusCreated, status, body)
	var out commands.Onboarded
	require.NoError(t, json.Unmarshal([]byte(body), &out))
	claims := map[string]string{"token_use": "id", "sub": out.AdminUserID, identity.ClaimTenantID: out.TenantID,
		identity.ClaimGroups: "[tenant_admin]"}

	const puts, gets = 4, 3
	var calls []events.APIGatewayV2HTTPRequest
	for i := range puts {
		calls = append(calls, awstest.APIRequest(t, http.MethodPut, fmt.Sprintf("/tenants/%s/data/item-%d", out.TenantID, i), "", map[string]int{"n": i}, claims))
	}
	for range gets {
		calls = append(calls, awstest.APIRequest(t, http.MethodGet, "/tenants/"+out.TenantID+"/data/item-0", "", nil, claims))
	}
	invoke := func() {
		t.Helper()
		for _, ev := range calls {
			res, err := h(ctx, ev)
			require.NoError(t, err)
			require.Less(t, res.StatusCode, 300, res.Body)
		}
	}
	ledger := func() map[string]int64 {
		t.Helper()
		page, err := p.Store.ReadTenant(ctx, evs.TenantID(out.TenantID), "", evs.ReadOptions{Limit: 10000})
		require.NoError(t, err)
		sums := map[string]int64{}
		for _, ev := range page.Events {
			if ev.StreamType != metering.StreamType {
				continue
			}
			require.Equal(t, metering.TypeReported, ev.Type, "one event per invocation, tenant and period")
			var rep metering.Reported
			require.NoError(t, json.Unmarshal(ev.Data, &rep))
			for _, r := range rep.Records {
				n, err := strconv.ParseInt(r.Quantity, 10, 64)
				require.NoError(t, err)
				if r.Meter == metering.MeterStorageBytes {
					sums[r.Meter] = n // a gauge: the latest reading
					continue
				}
				sums[r.Meter] += n
			}
		}
		return sums
	}

	invoke()
	got := ledger()
	assert.Equal(t, int64(puts+gets), got[metering.MeterAPIRequests])
	assert.Equal(t, int64(puts), got[metering.MeterItemWrites])

	invoke() // API Gateway's request ids again: a replay of the same invocations
	got = ledger()
	assert.Equal(t, int64(puts+gets), got[metering.MeterAPIRequests], "a replayed invocation is not counted again")
	assert.Equal(t, int64(puts), got[metering.MeterItemWrites], "a replayed invocation is not counted again")

	// The billing summary (the fold over the store) bills them; this call's
	// own request is flushed only after it answered.
	status, body = invokeAPI(t, h, http.MethodGet, "/billing/"+out.TenantID, nil, claims)
	require.Equal(t, http.StatusOK, status, body)
	var sum struct {
		Usage map[string]string `json:"usage"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &sum), body)
	assert.Equal(t, strconv.Itoa(puts+gets), sum.Usage[metering.MeterAPIRequests], body)
	assert.Equal(t, strconv.Itoa(puts), sum.Usage[metering.MeterItemWrites], body)
	assert.Equal(t, int64(puts+gets+1), ledger()[metering.MeterAPIRequests], "the summary's own request, flushed as it answered")
}
