package stack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events"
	"github.com/tenantstream/tenantstream/infra/stack"
	"github.com/tenantstream/tenantstream/projections"
)

// synthesized is one synthesized stack: a CDK Go synth costs seconds, so the
// default stack is built once per test binary and shared by every test.
type synthesized struct {
	stack       *stack.Stack
	template    assertions.Template
	annotations assertions.Annotations
	resources   map[string]resource // by logical id
	outdir      string
}

type resource struct {
	Type           string         `json:"Type"`
	Properties     map[string]any `json:"Properties"`
	Metadata       map[string]any `json:"Metadata"`
	DeletionPolicy string         `json:"DeletionPolicy"`
}

var (
	shared *synthesized
	// registered is the registry the shared stack was built from; the variant
	// stack adds a projection to the registry later.
	registered []projections.Projection
)

func TestMain(m *testing.M) {
	os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
	code := func() int {
		defer jsii.Close()
		var err error
		registered = projections.Registered()
		shared, err = synth(nil, stack.Props{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "synthesize the stack:", err)
			return 1
		}
		defer os.RemoveAll(shared.outdir)
		code := m.Run()
		if variantRes != nil {
			os.RemoveAll(variantRes.outdir)
		}
		if kinesisRes != nil {
			os.RemoveAll(kinesisRes.outdir)
		}
		return code
	}()
	os.Exit(code)
}

// synth builds the stack with placeholder code (tests need no `make lambda`),
// context on top of the defaults, and cdk-nag's AwsSolutions checks.
func synth(context map[string]any, props stack.Props) (*synthesized, error) {
	outdir, err := os.MkdirTemp("", "tenantstream-cdk-test-")
	if err != nil {
		return nil, err
	}
	ctx := map[string]any{"placeholderCode": "true"}
	for k, v := range context {
		ctx[k] = v
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(outdir), Context: &ctx})
	if props.Config, err = stack.ConfigFromContext(app.Node()); err != nil {
		return nil, err
	}
	st, err := stack.New(app, "TenantStream", props)
	if err != nil {
		return nil, err
	}
	stack.AddChecks(app)
	s := &synthesized{stack: st, outdir: outdir}
	s.template = assertions.Template_FromStack(st.Stack, nil)
	s.annotations = assertions.Annotations_FromStack(st.Stack)
	raw, err := json.Marshal(s.template.ToJSON())
	if err != nil {
		return nil, err
	}
	var doc struct {
		Resources map[string]resource `json:"Resources"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	s.resources = doc.Resources
	return s, nil
}

// assertCDK runs an assertions call, turning its panic (jsii raises the
// assertion's error) into a test failure with the message.
func assertCDK(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if v := recover(); v != nil {
			t.Errorf("%s: %v", what, v)
		}
	}()
	f()
}

// ofType returns the resources of a CloudFormation type, by logical id.
func (s *synthesized) ofType(typ string) map[string]resource {
	out := map[string]resource{}
	for id, r := range s.resources {
		if r.Type == typ {
			out[id] = r
		}
	}
	return out
}

// ref is what CloudFormation's {"Ref": id} and {"Fn::GetAtt": [id, attr]} name.
func refID(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	if id, ok := m["Ref"].(string); ok {
		return id
	}
	if ga, ok := m["Fn::GetAtt"].([]any); ok && len(ga) == 2 {
		return fmt.Sprint(ga[0])
	}
	return ""
}

func getAtt(id, attr string) map[string]any {
	return map[string]any{"Fn::GetAtt": []any{id, attr}}
}

// idPart is name as CDK puts it into a logical id: letters and digits only
// (a projection named last_logins makes ProjectorlastloginsRole...).
func idPart(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, name)
}

// logicalID finds the one resource of typ whose id starts with prefix.
func (s *synthesized) logicalID(t *testing.T, typ, prefix string) string {
	t.Helper()
	var found []string
	for id, r := range s.resources {
		if r.Type == typ && strings.HasPrefix(id, prefix) {
			found = append(found, id)
		}
	}
	require.Len(t, found, 1, "one %s named %s*: %v", typ, prefix, found)
	return found[0]
}

// extraProjection is a projection only the tests register, to show that the stack
// follows the registry.
type extraProjection struct{}

func (extraProjection) Name() string      { return "zz-audit-trail" }
func (extraProjection) Handles() []string { return []string{"audit.recorded", "audit.purged"} }
func (extraProjection) Apply(context.Context, projections.Tx, events.Event) error {
	return nil
}
