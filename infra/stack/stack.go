package stack

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/tenantstream/tenantstream/handlers/httpapi"
	"github.com/tenantstream/tenantstream/projections"
)

// Function names: `make lambda` builds dist/<name>.zip for each, from cmd/lambda/<name>.
const (
	FnAPI                = "api"
	FnProjector          = "projector"
	FnBillingClose       = "billing-close"
	FnBillingCloseWorker = "billing-close-worker"
	// FnPreToken is the user pool's pre token generation trigger (V2_0).
	FnPreToken = "pre-token"
)

// Functions lists every function's code name.
var Functions = []string{FnAPI, FnProjector, FnBillingClose, FnBillingCloseWorker, FnPreToken}

// Props configures New. Projections and Routes default to the code's own
// registry and route list, so the stack follows the code without edits here.
type Props struct {
	StackProps  *awscdk.StackProps
	Config      Config
	Projections []projections.Projection
	Routes      []httpapi.Route
	// Code returns a function's code; nil uses Config (the zips, or a placeholder).
	Code func(fn string) (awslambda.Code, error)
}

// Stack is the synthesized stack plus the names tests and outputs refer to.
type Stack struct {
	awscdk.Stack
	PipeName string
}

// New builds the whole platform: data, feed, API, identity, billing close,
// notifications and operations.
func New(scope constructs.Construct, id string, props Props) (*Stack, error) {
	if props.Projections == nil {
		props.Projections = projections.Registered()
	}
	if props.Routes == nil {
		props.Routes = httpapi.Routes()
	}
	if props.Code == nil {
		code, err := codeFromConfig(props.Config)
		if err != nil {
			return nil, err
		}
		props.Code = code
	}
	cfg := props.Config
	s := &Stack{Stack: awscdk.NewStack(scope, jsii.String(id), props.StackProps), PipeName: PipeNameFor(cfg)}
	b := &builder{cfg: cfg, stack: s.Stack, code: props.Code}

	b.data()
	b.notifications()
	if err := b.functions(props.Projections); err != nil {
		return nil, err
	}
	b.identity()
	b.cursorKey()
	if cfg.Feed == FeedKinesis {
		b.kinesisFeed(props.Projections)
	} else {
		b.feed(s.PipeName, props.Projections)
	}
	if err := b.api(props.Routes); err != nil {
		return nil, err
	}
	b.billingClose()
	b.backup()
	b.operations(s.PipeName, props.Projections)
	if b.err != nil {
		return nil, b.err
	}
	return s, nil
}

// PipeNameFor is the change-feed pipe's name: <prefix>-events, or with
// eventsStreamArn <prefix>-events-<8 hex digits of the ARN's SHA-256>. A pipe's
// source cannot change in place, and CloudFormation cannot replace a resource
// whose name stays the same, so re-attaching the feed to a restored table's
// stream creates a pipe of a new name and then deletes the old one (docs/aws.md,
// "Restoring a table").
func PipeNameFor(cfg Config) string {
	name := cfg.Prefix + "-events"
	if cfg.EventsStreamARN != "" {
		sum := sha256.Sum256([]byte(cfg.EventsStreamARN))
		name += "-" + hex.EncodeToString(sum[:4])
	}
	return name
}

// codeFromConfig returns the zips of `make lambda`, or a placeholder when
// Config.PlaceholderCode is set (tests and cfn-lint need no cross-compiled build).
func codeFromConfig(cfg Config) (func(fn string) (awslambda.Code, error), error) {
	if cfg.PlaceholderCode {
		dir, err := PlaceholderDir()
		if err != nil {
			return nil, err
		}
		return func(string) (awslambda.Code, error) { return awslambda.Code_FromAsset(jsii.String(dir), nil), nil }, nil
	}
	var missing []string
	for _, fn := range Functions {
		if _, err := os.Stat(filepath.Join(cfg.LambdaDist, fn+".zip")); err != nil {
			missing = append(missing, fn+".zip")
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("lambda code: %s missing in %s: run `make lambda` first (or set context placeholderCode=true to synthesize without it)", strings.Join(missing, ", "), cfg.LambdaDist)
	}
	if err := checkCatalogZips(cfg); err != nil {
		return nil, err
	}
	return func(fn string) (awslambda.Code, error) {
		return awslambda.Code_FromAsset(jsii.String(filepath.Join(cfg.LambdaDist, fn+".zip")), nil), nil
	}, nil
}

// PlaceholderDir writes a directory holding a bootstrap that only fails, so a
// stack synthesized from it is complete but cannot be mistaken for a working one.
func PlaceholderDir() (string, error) {
	dir := filepath.Join(os.TempDir(), "tenantstream-lambda-placeholder")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("placeholder code: %w", err)
	}
	script := "#!/bin/sh\necho 'placeholder: deploy the output of make lambda' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte(script), 0o755); err != nil {
		return "", fmt.Errorf("placeholder code: %w", err)
	}
	return dir, nil
}

// builder holds the constructs the parts of the stack wire together.
type builder struct {
	cfg   Config
	stack awscdk.Stack
	code  func(fn string) (awslambda.Code, error)
	err   error

	res resources
}

func (b *builder) fail(err error) {
	if b.err == nil {
		b.err = err
	}
}

func (b *builder) removalPolicy() awscdk.RemovalPolicy {
	if b.cfg.Retain {
		return awscdk.RemovalPolicy_RETAIN
	}
	return awscdk.RemovalPolicy_DESTROY
}
