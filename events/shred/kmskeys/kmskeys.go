package kmskeys

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/events/shred"
)

// KMS is the part of the KMS client the keyring uses.
type KMS interface {
	CreateKey(ctx context.Context, in *kms.CreateKeyInput, opts ...func(*kms.Options)) (*kms.CreateKeyOutput, error)
	CreateAlias(ctx context.Context, in *kms.CreateAliasInput, opts ...func(*kms.Options)) (*kms.CreateAliasOutput, error)
	DescribeKey(ctx context.Context, in *kms.DescribeKeyInput, opts ...func(*kms.Options)) (*kms.DescribeKeyOutput, error)
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, opts ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, opts ...func(*kms.Options)) (*kms.DecryptOutput, error)
	DisableKey(ctx context.Context, in *kms.DisableKeyInput, opts ...func(*kms.Options)) (*kms.DisableKeyOutput, error)
	ScheduleKeyDeletion(ctx context.Context, in *kms.ScheduleKeyDeletionInput, opts ...func(*kms.Options)) (*kms.ScheduleKeyDeletionOutput, error)
}

// WrappedKeys keeps each tenant's wrapped data key and its erasure mark.
type WrappedKeys interface {
	// Get returns the tenant's wrapped key. Errors: ErrNoKey when it has none;
	// shred.ErrErased once MarkErased was called.
	Get(ctx context.Context, tenant events.TenantID) (Wrapped, error)
	// PutIfAbsent stores w unless the tenant already has a key (ErrExists) or is erased.
	PutIfAbsent(ctx context.Context, tenant events.TenantID, w Wrapped) error
	// MarkErased records for good that the tenant is erased.
	MarkErased(ctx context.Context, tenant events.TenantID) error
}

// Wrapped is a data key as KMS encrypted it.
type Wrapped struct {
	ID    string // the shred key id: a hash of Blob
	KeyID string // the KMS key's ARN
	Blob  []byte
}

// Errors of WrappedKeys.
var (
	ErrNoKey  = errors.New("no data key")
	ErrExists = errors.New("data key exists")
)

// Alias is the KMS alias of tenant's key.
func Alias(tenant events.TenantID) string { return "alias/tenantstream/tenant/" + string(tenant) }

// TagTenant is the tag naming a key's tenant, which the tenant role's policy
// matches against its session's TenantId tag (aws:ResourceTag/TenantId).
const TagTenant = "TenantId"

// ContextKey is the encryption-context key of every data key: the tenant id,
// which the tenant role's policy also requires (kms:EncryptionContext:tenant).
const ContextKey = "tenant"

// PendingWindowDays is how long KMS keeps an erased tenant's key, disabled,
// before deleting it: the shortest KMS allows.
const PendingWindowDays = 7

// Keyring is the shred.Keyring on AWS: one KMS key per tenant.
type Keyring struct {
	// KMS is the platform's client: it creates and erases keys.
	KMS KMS
	// TenantKMS, when set, returns the client acting with tenant's credentials
	// (decision 9d), which GenerateDataKey and Decrypt use.
	TenantKMS func(ctx context.Context, tenant events.TenantID) (KMS, error)
	Keys      WrappedKeys
}

var _ shred.Keyring = (*Keyring)(nil)

func (r *Keyring) tenantClient(ctx context.Context, tenant events.TenantID) (KMS, error) {
	if r.TenantKMS == nil {
		return r.KMS, nil
	}
	return r.TenantKMS(ctx, tenant)
}

func encryptionContext(tenant events.TenantID) map[string]string {
	return map[string]string{ContextKey: string(tenant)}
}

// Current implements shred.Keyring.
func (r *Keyring) Current(ctx context.Context, tenant events.TenantID) (shred.Key, error) {
	w, err := r.Keys.Get(ctx, tenant)
	if errors.Is(err, ErrNoKey) {
		w, err = r.create(ctx, tenant)
	}
	if err != nil {
		return shred.Key{}, err
	}
	return r.unwrap(ctx, tenant, w)
}

// Get implements shred.Keyring.
func (r *Keyring) Get(ctx context.Context, tenant events.TenantID, id string) (shred.Key, error) {
	w, err := r.Keys.Get(ctx, tenant)
	if errors.Is(err, ErrNoKey) || err == nil && w.ID != id {
		return shred.Key{}, fmt.Errorf("%w %q of %s", shred.ErrUnknownKey, id, tenant)
	}
	if err != nil {
		return shred.Key{}, err
	}
	return r.unwrap(ctx, tenant, w)
}

func (r *Keyring) unwrap(ctx context.Context, tenant events.TenantID, w Wrapped) (shred.Key, error) {
	c, err := r.tenantClient(ctx, tenant)
	if err != nil {
		return shred.Key{}, err
	}
	out, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: w.Blob, KeyId: aws.String(w.KeyID), EncryptionContext: encryptionContext(tenant)})
	if gone(err) {
		return shred.Key{}, shred.ErrErased
	}
	if err != nil {
		return shred.Key{}, fmt.Errorf("decrypt the data key of %s: %w", tenant, err)
	}
	return shred.Key{ID: w.ID, Secret: out.Plaintext}, nil
}

// gone reports whether KMS refused because the key is disabled, pending
// deletion or deleted.
func gone(err error) bool {
	var disabled *kmstypes.DisabledException
	var state *kmstypes.KMSInvalidStateException
	var missing *kmstypes.NotFoundException
	return errors.As(err, &disabled) || errors.As(err, &state) || errors.As(err, &missing)
}

// key returns the ARN of the tenant's KMS key, creating it (tagged with the
// tenant, aliased) on first use.
func (r *Keyring) key(ctx context.Context, tenant events.TenantID) (string, error) {
	d, err := r.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(Alias(tenant))})
	var missing *kmstypes.NotFoundException
	if errors.As(err, &missing) {
		out, err := r.KMS.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("tenantstream data keys of tenant " + string(tenant)),
			KeySpec: kmstypes.KeySpecSymmetricDefault, KeyUsage: kmstypes.KeyUsageTypeEncryptDecrypt,
			Tags: []kmstypes.Tag{{TagKey: aws.String(TagTenant), TagValue: aws.String(string(tenant))}}})
		if err != nil {
			return "", fmt.Errorf("create the KMS key of %s: %w", tenant, err)
		}
		_, err = r.KMS.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(Alias(tenant)), TargetKeyId: out.KeyMetadata.KeyId})
		var exists *kmstypes.AlreadyExistsException
		if err == nil {
			return aws.ToString(out.KeyMetadata.Arn), nil
		}
		if !errors.As(err, &exists) {
			return "", fmt.Errorf("alias the KMS key of %s: %w", tenant, err)
		}
		// Another instance aliased its key first: use that one (ours stays
		// unused; it costs until an operator deletes it).
		d, err = r.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(Alias(tenant))})
	}
	if err != nil {
		return "", fmt.Errorf("describe the KMS key of %s: %w", tenant, err)
	}
	if st := d.KeyMetadata.KeyState; st != kmstypes.KeyStateEnabled {
		return "", fmt.Errorf("KMS key of %s is %s: %w", tenant, st, shred.ErrErased)
	}
	return aws.ToString(d.KeyMetadata.Arn), nil
}

func (r *Keyring) create(ctx context.Context, tenant events.TenantID) (Wrapped, error) {
	arn, err := r.key(ctx, tenant)
	if err != nil {
		return Wrapped{}, err
	}
	c, err := r.tenantClient(ctx, tenant)
	if err != nil {
		return Wrapped{}, err
	}
	out, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(arn), KeySpec: kmstypes.DataKeySpecAes256,
		EncryptionContext: encryptionContext(tenant)})
	if gone(err) {
		return Wrapped{}, shred.ErrErased
	}
	if err != nil {
		return Wrapped{}, fmt.Errorf("generate the data key of %s: %w", tenant, err)
	}
	sum := sha256.Sum256(out.CiphertextBlob)
	w := Wrapped{ID: "k" + hex.EncodeToString(sum[:4]), KeyID: arn, Blob: out.CiphertextBlob}
	switch err := r.Keys.PutIfAbsent(ctx, tenant, w); {
	case err == nil:
		return w, nil
	case errors.Is(err, ErrExists):
		return r.Keys.Get(ctx, tenant) // another instance stored its key first
	default:
		return Wrapped{}, err
	}
}

// Destroy implements shred.Keyring: the erasure mark first (so no key is ever
// made for the tenant again, even after KMS deleted the old one and its
// alias), then the KMS key disabled and scheduled for deletion.
func (r *Keyring) Destroy(ctx context.Context, tenant events.TenantID) error {
	if err := r.Keys.MarkErased(ctx, tenant); err != nil {
		return err
	}
	d, err := r.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(Alias(tenant))})
	var missing *kmstypes.NotFoundException
	if errors.As(err, &missing) {
		return nil // never had a key, or already deleted
	}
	if err != nil {
		return fmt.Errorf("erase %s: %w", tenant, err)
	}
	switch d.KeyMetadata.KeyState {
	case kmstypes.KeyStatePendingDeletion:
		return nil
	case kmstypes.KeyStateEnabled:
		if _, err := r.KMS.DisableKey(ctx, &kms.DisableKeyInput{KeyId: d.KeyMetadata.KeyId}); err != nil {
			return fmt.Errorf("erase %s: disable the KMS key: %w", tenant, err)
		}
	}
	if _, err := r.KMS.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: d.KeyMetadata.KeyId, PendingWindowInDays: aws.Int32(PendingWindowDays)}); err != nil {
		return fmt.Errorf("erase %s: schedule the KMS key's deletion: %w", tenant, err)
	}
	return nil
}
