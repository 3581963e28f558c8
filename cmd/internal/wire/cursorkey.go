package wire

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/tenantstream/tenantstream/commands/cursorseal"
)

// cursorSealer returns the sealer of the api function's event-log cursors.
// Every instance must use the same key, or a cursor one instance hands out is
// a 400 on the next: it is read once, at cold start, from the Secrets Manager
// secret TENANTSTREAM_CURSOR_KEY_SECRET_ARN names (infra creates it). Its
// AWSCURRENT version seals and opens; AWSPREVIOUS, the value a rotation
// replaced, still opens (docs/aws.md). Without the variable the in-memory
// store (tests) gets a random key; DynamoDB refuses to start.
func cursorSealer(ctx context.Context, env Env, cfg aws.Config) (*cursorseal.Sealer, error) {
	if env.CursorKeySecretARN == "" {
		if env.Store == StoreDynamoDB {
			return nil, errors.New("TENANTSTREAM_CURSOR_KEY_SECRET_ARN is required with TENANTSTREAM_STORE=dynamodb: every instance must seal event-log cursors with the same key")
		}
		return cursorseal.Ephemeral(), nil
	}
	client := secretsmanager.NewFromConfig(cfg)
	current, err := cursorKey(ctx, client, env.CursorKeySecretARN, "AWSCURRENT")
	if err != nil {
		return nil, err
	}
	previous, err := cursorKey(ctx, client, env.CursorKeySecretARN, "AWSPREVIOUS")
	var nf *smtypes.ResourceNotFoundException
	switch {
	case err == nil:
		return cursorseal.New(current, previous), nil
	case errors.As(err, &nf):
		return cursorseal.New(current), nil // never rotated
	}
	return nil, err
}

func cursorKey(ctx context.Context, client *secretsmanager.Client, arn, stage string) (cursorseal.Key, error) {
	out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn), VersionStage: aws.String(stage)})
	if err != nil {
		return cursorseal.Key{}, fmt.Errorf("TENANTSTREAM_CURSOR_KEY_SECRET_ARN: read %s: %w", stage, err)
	}
	k, err := cursorseal.NewKey(aws.ToString(out.SecretString))
	if err != nil {
		return cursorseal.Key{}, fmt.Errorf("TENANTSTREAM_CURSOR_KEY_SECRET_ARN %s: %w", stage, err)
	}
	return k, nil
}
