package kmskeys_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	evddb "github.com/tenantstream/tenantstream/events/dynamodb"
	"github.com/tenantstream/tenantstream/events/schema"
	"github.com/tenantstream/tenantstream/events/shred"
	"github.com/tenantstream/tenantstream/events/shred/kmskeys"
	"github.com/tenantstream/tenantstream/handlers/awstest"
)

func TestMain(m *testing.M) { awstest.Main(m) }

type fixture struct {
	admin  *kms.Client
	db     *ddb.Client
	table  string
	policy *awstest.KMSTenantKeys
	ring   *kmskeys.Keyring
	inner  events.Store
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	cfg := awstest.Shared(t).Config()
	f := fixture{admin: kms.NewFromConfig(cfg), db: ddb.NewFromConfig(cfg), table: fmt.Sprintf("events-%d", time.Now().UnixNano())}
	require.NoError(t, evddb.CreateTable(t.Context(), f.db, f.table))
	f.policy = &awstest.KMSTenantKeys{Admin: f.admin}
	f.ring = &kmskeys.Keyring{KMS: f.admin, Keys: kmskeys.DynamoKeys{Client: f.db, Table: f.table},
		TenantKMS: func(_ context.Context, tenant events.TenantID) (kmskeys.KMS, error) {
			return kms.NewFromConfig(cfg, func(o *kms.Options) { o.APIOptions = append(o.APIOptions, f.policy.Middleware(string(tenant))) }), nil
		}}
	f.inner = evddb.New(f.db, f.table, evddb.WithLimits(shred.SealedLimits(events.DefaultLimits)))
	return f
}

func (f fixture) store(t *testing.T) *shred.Store {
	t.Helper()
	s, err := shred.New(f.inner, f.ring, schema.Sensitive)
	require.NoError(t, err)
	return s
}

func putItem(t *testing.T, s events.Store, tenant events.TenantID, data string) {
	t.Helper()
	_, err := s.Append(t.Context(), events.AppendRequest{Tenant: tenant, Stream: "item-doc", StreamType: "item", Expected: events.AnyVersion,
		Events: []events.NewEvent{{Type: "item.put", Data: json.RawMessage(`{"item_id":"doc","data":` + data + `,"size":1}`)}}})
	require.NoError(t, err)
}

func load(t *testing.T, s events.Store, tenant events.TenantID) events.Event {
	t.Helper()
	evs, err := s.Load(t.Context(), tenant, "item-doc", 1)
	require.NoError(t, err)
	return evs[len(evs)-1]
}

// Acceptance 4: the per-tenant KMS key seals, erasure disables it and
// schedules its deletion, and the tenant role reaches only its own key.
func TestKMSKeyPerTenant(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	s := f.store(t)
	putItem(t, s, "t1", `{"secret":"one"}`)
	putItem(t, s, "t2", `{"secret":"two"}`)
	assert.JSONEq(t, `{"secret":"one"}`, string(itemData(t, load(t, s, "t1"))))
	assert.NotContains(t, string(load(t, f.inner, "t1").Data), "one", "DynamoDB holds only ciphertext")
	assert.Empty(t, f.policy.Denied(), "the tenants' own calls are all allowed")

	d, err := f.admin.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(kmskeys.Alias("t1"))})
	require.NoError(t, err)
	tags, err := f.admin.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: d.KeyMetadata.KeyId})
	require.NoError(t, err)
	require.Len(t, tags.Tags, 1)
	assert.Equal(t, "t1", aws.ToString(tags.Tags[0].TagValue))
	d2, err := f.admin.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(kmskeys.Alias("t2"))})
	require.NoError(t, err)
	assert.NotEqual(t, aws.ToString(d.KeyMetadata.KeyId), aws.ToString(d2.KeyMetadata.KeyId), "one key per tenant")

	// The tenant role of t2 cannot use t1's key, whatever context it claims.
	w1, err := kmskeys.DynamoKeys{Client: f.db, Table: f.table}.Get(ctx, "t1")
	require.NoError(t, err)
	for name, in := range map[string]any{
		"t1's key, t1's context": &kms.DecryptInput{CiphertextBlob: w1.Blob, KeyId: aws.String(w1.KeyID), EncryptionContext: map[string]string{"tenant": "t1"}},
		"t1's key, t2's context": &kms.DecryptInput{CiphertextBlob: w1.Blob, KeyId: aws.String(w1.KeyID), EncryptionContext: map[string]string{"tenant": "t2"}},
		"no key id":              &kms.DecryptInput{CiphertextBlob: w1.Blob, EncryptionContext: map[string]string{"tenant": "t2"}},
		"a new data key of t1's": &kms.GenerateDataKeyInput{KeyId: aws.String(w1.KeyID), KeySpec: kmstypes.DataKeySpecAes256, EncryptionContext: map[string]string{"tenant": "t2"}},
		"another action":         &kms.ScheduleKeyDeletionInput{KeyId: aws.String(w1.KeyID)},
	} {
		assert.Error(t, f.policy.Authorize(ctx, "t2", in), name)
	}
	// And KMS itself refuses the wrong context.
	_, err = f.admin.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: w1.Blob, KeyId: aws.String(w1.KeyID), EncryptionContext: map[string]string{"tenant": "t2"}})
	assert.Error(t, err, "a data key opens only with its tenant's encryption context")

	// Erasure: the key is disabled and scheduled for deletion; t1 reads
	// redacted everywhere (a fresh instance, no cache), t2 is untouched.
	require.NoError(t, s.Erase(ctx, "t1"))
	d, err = f.admin.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: d.KeyMetadata.KeyId})
	require.NoError(t, err)
	assert.Equal(t, kmstypes.KeyStatePendingDeletion, d.KeyMetadata.KeyState)
	assert.NotNil(t, d.KeyMetadata.DeletionDate)
	// KMS refuses Decrypt under a key pending deletion (KMSInvalidStateException);
	// moto does not enforce key states, so only the state is checked above. The
	// wrapped key is also gone from the table (backups keep it, but it opens
	// only with the disabled key).
	_, err = kmskeys.DynamoKeys{Client: f.db, Table: f.table}.Get(ctx, "t1")
	assert.ErrorIs(t, err, shred.ErrErased)
	raw, err := f.db.GetItem(ctx, &ddb.GetItemInput{TableName: aws.String(f.table), Key: map[string]ddbtypes.AttributeValue{
		"PK": &ddbtypes.AttributeValueMemberS{Value: "T#t1#DK"}, "SK": &ddbtypes.AttributeValueMemberN{Value: "0"}}})
	require.NoError(t, err)
	assert.NotContains(t, raw.Item, "wrapped_key")

	fresh := f.store(t)
	ev := load(t, fresh, "t1")
	assert.True(t, ev.Erased)
	assert.Equal(t, "null", string(itemData(t, ev)))
	assert.JSONEq(t, `{"secret":"two"}`, string(itemData(t, load(t, fresh, "t2"))))
	_, err = f.ring.Current(ctx, "t1")
	assert.ErrorIs(t, err, shred.ErrErased, "no new key for an erased tenant")
	require.NoError(t, fresh.Erase(ctx, "t1"), "erasing again is harmless")
}

func itemData(t *testing.T, ev events.Event) json.RawMessage {
	t.Helper()
	var p struct {
		Data json.RawMessage `json:"data"`
	}
	require.NoError(t, json.Unmarshal(ev.Data, &p))
	if p.Data == nil {
		return json.RawMessage("null")
	}
	return p.Data
}
