package stack_test

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/stretchr/testify/assert"
)

// TestNagAwsSolutions: the AwsSolutions pack ran over the stack and found nothing
// unsuppressed.
func TestNagAwsSolutions(t *testing.T) {
	match := assertions.Match_StringLikeRegexp(strp("AwsSolutions-.*"))
	for _, s := range []*synthesized{shared, variant(t), kinesisVariant(t)} {
		errs := s.annotations.FindError(strp("*"), match)
		warns := s.annotations.FindWarning(strp("*"), match)
		for _, m := range *errs {
			raw, _ := json.Marshal(m)
			t.Errorf("cdk-nag error: %s", raw)
		}
		for _, m := range *warns {
			raw, _ := json.Marshal(m)
			t.Errorf("cdk-nag warning: %s", raw)
		}
	}
}

// TestNagSuppressionsCarryReasons reads every suppression back from the template.
func TestNagSuppressionsCarryReasons(t *testing.T) {
	var n int
	for id, r := range shared.resources {
		nag, ok := r.Metadata["cdk_nag"].(map[string]any)
		if !ok {
			continue
		}
		for _, s := range nag["rules_to_suppress"].([]any) {
			rule := s.(map[string]any)
			n++
			reason, _ := rule["reason"].(string)
			assert.GreaterOrEqual(t, len(reason), 20, "%s: suppression of %v needs a real reason", id, rule["id"])
		}
	}
	assert.Positive(t, n, "the stack's suppressions are found")
}
