package awstest

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// KMSTenantKeys plays the tenant role's KMS statement, which moto does not
// evaluate (docs/data-protection.md, "On AWS"; the role is in
// infra/stack/identity.go):
//
//	Allow kms:GenerateDataKey, kms:Decrypt on * when
//	  aws:ResourceTag/TenantId == ${aws:PrincipalTag/TenantId} and
//	  kms:EncryptionContext:tenant == ${aws:PrincipalTag/TenantId}
//
// A call made with a tenant's credentials is allowed only when it is one of
// those two actions, names its key (KeyId: a Decrypt without one is refused
// here, since the emulator cannot read the key out of the ciphertext as KMS
// does), that key is tagged TenantId=<tenant>, and its encryption context's
// "tenant" is the tenant. Anything else fails with an AccessDeniedException
// before it is sent. Tags are looked up with Admin, the platform's client.
type KMSTenantKeys struct {
	Admin *kms.Client

	mu     sync.Mutex
	denied []string
}

// Middleware returns an SDK option for the clients acting with tenant's credentials.
func (k *KMSTenantKeys) Middleware(tenant string) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("awstest.KMSTenantKeys",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if err := k.Authorize(ctx, tenant, in.Parameters); err != nil {
					return middleware.InitializeOutput{}, middleware.Metadata{}, err
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	}
}

// Denied returns why each refused call was refused.
func (k *KMSTenantKeys) Denied() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.denied...)
}

// Authorize decides one call made with tenant's credentials.
func (k *KMSTenantKeys) Authorize(ctx context.Context, tenant string, params any) error {
	var op string
	var keyID *string
	var encCtx map[string]string
	switch in := params.(type) {
	case *kms.GenerateDataKeyInput:
		op, keyID, encCtx = "GenerateDataKey", in.KeyId, in.EncryptionContext
	case *kms.DecryptInput:
		op, keyID, encCtx = "Decrypt", in.KeyId, in.EncryptionContext
	default:
		return k.deny(tenant, fmt.Sprintf("%T", params), "no statement allows this action")
	}
	if encCtx["tenant"] != tenant {
		return k.deny(tenant, op, fmt.Sprintf("kms:EncryptionContext:tenant is %q", encCtx["tenant"]))
	}
	if aws.ToString(keyID) == "" {
		return k.deny(tenant, op, "no KeyId")
	}
	d, err := k.Admin.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: keyID})
	if err != nil {
		return k.deny(tenant, op, "unknown key: "+err.Error())
	}
	tags, err := k.Admin.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: d.KeyMetadata.KeyId})
	if err != nil {
		return k.deny(tenant, op, "tags: "+err.Error())
	}
	for _, t := range tags.Tags {
		if aws.ToString(t.TagKey) == "TenantId" && aws.ToString(t.TagValue) == tenant {
			return nil
		}
	}
	return k.deny(tenant, op, "aws:ResourceTag/TenantId of "+aws.ToString(d.KeyMetadata.KeyId)+" is not the tenant")
}

func (k *KMSTenantKeys) deny(tenant, op, why string) error {
	k.mu.Lock()
	k.denied = append(k.denied, op+": "+why)
	k.mu.Unlock()
	return &smithy.GenericAPIError{Code: "AccessDeniedException", Fault: smithy.FaultClient, Message: fmt.Sprintf(
		"User: assumed-role/tenant/tenant-%s is not authorized to perform: kms:%s because no identity-based policy allows it (%s)", tenant, op, why)}
}
