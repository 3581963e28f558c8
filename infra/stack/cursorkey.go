package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"

	"github.com/tenantstream/tenantstream/projections"
)

// cursorKey creates the secret the api function seals event-log cursors with
// (commands/cursorseal; read once per cold start by cmd/internal/wire), so
// every instance opens the cursors any other handed out: 64 generated
// alphanumeric characters (about 380 bits), from which the function derives
// its AES-256 key. Only the api function and the outbox projector (which
// derives the one-time tokens of invitations and resets from it when it
// publishes them, docs/ARCHITECTURE.md decision 15) may read it.
func (b *builder) cursorKey() {
	api := b.res.fns[FnAPI]
	secret := awssecretsmanager.NewSecret(b.stack, jsii.String("CursorKey"), &awssecretsmanager.SecretProps{
		Description: jsii.String("Key material of the event-log cursors of the " + b.cfg.Prefix + " api function"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength:     jsii.Number(64),
			ExcludePunctuation: jsii.Bool(true),
			IncludeSpace:       jsii.Bool(false),
		},
		RemovalPolicy: b.removalPolicy(),
	})
	suppress(secret, "AwsSolutions-SMG4", "Rotated by hand (docs/aws.md): a new value, then a configuration update so every api instance cold-starts with it and with AWSPREVIOUS; "+
		"a scheduled rotation would change the value under warm instances, which would keep sealing with the old key.")
	secret.GrantRead(api, nil)
	api.AddEnvironment(jsii.String(EnvCursorKeySecretARN), secret.SecretArn(), nil)
	if outbox := b.res.projectors[projections.Outbox{}.Name()]; outbox != nil {
		secret.GrantRead(outbox, nil)
		outbox.AddEnvironment(jsii.String(EnvCursorKeySecretARN), secret.SecretArn(), nil)
	}
	out(b.stack, "CursorKeySecretArn", secret.SecretArn())
}
