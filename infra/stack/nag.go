package stack

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// minReasonLength is cdk-nag's own minimum; shorter reasons are refused at synth.
const minReasonLength = 10

// suppress records why a cdk-nag rule does not apply to c. A suppression without
// a reason is a programming error.
func suppress(c constructs.IConstruct, rule, reason string) {
	if len(reason) < minReasonLength {
		panic(fmt.Sprintf("nag suppression %s on %s needs a reason", rule, *c.Node().Path()))
	}
	cdknag.NagSuppressions_AddResourceSuppressions(c, &[]*cdknag.NagPackSuppression{{Id: jsii.String(rule), Reason: jsii.String(reason)}}, jsii.Bool(true))
}

// suppressFinding is suppress for findings limited to some resources of a policy
// (cdk-nag's appliesTo), such as the "<arn>/index/*" of a grant.
func suppressFinding(c constructs.IConstruct, rule, reason string, appliesTo ...any) {
	if len(reason) < minReasonLength {
		panic(fmt.Sprintf("nag suppression %s on %s needs a reason", rule, *c.Node().Path()))
	}
	applies := append([]any(nil), appliesTo...)
	cdknag.NagSuppressions_AddResourceSuppressions(c, &[]*cdknag.NagPackSuppression{{Id: jsii.String(rule), Reason: jsii.String(reason), AppliesTo: &applies}}, jsii.Bool(true))
}

// regex is an appliesTo pattern, for findings naming a logical id CDK derives.
func regex(pattern string) any { return map[string]any{"regex": "/" + pattern + "/"} }

// AddChecks runs cdk-nag's AwsSolutions pack over everything in app at synth.
func AddChecks(app awscdk.App) {
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}

// SynthErrors returns the error annotations (cdk-nag findings among them) that a
// synthesis wrote to the cloud assembly in dir, as one error, or nil.
func SynthErrors(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.metadata.json"))
	if err != nil {
		return fmt.Errorf("read synth messages: %w", err)
	}
	var found []string
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("read synth messages: %w", err)
		}
		var md map[string][]struct {
			Type string `json:"type"`
			Data any    `json:"data"`
		}
		if err := json.Unmarshal(raw, &md); err != nil {
			return fmt.Errorf("read synth messages %s: %w", f, err)
		}
		for path, entries := range md {
			for _, e := range entries {
				if e.Type == "aws:cdk:error" {
					found = append(found, fmt.Sprintf("%s: %v", path, e.Data))
				}
			}
		}
	}
	if len(found) > 0 {
		sort.Strings(found)
		return fmt.Errorf("%d synthesis errors:\n%s", len(found), strings.Join(found, "\n"))
	}
	return nil
}
