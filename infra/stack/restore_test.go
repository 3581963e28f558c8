package stack_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/infra/stack"
)

// TestFeedReattachesToARestoredStream: with eventsStreamArn (a table restored
// under the stack's table name gets a new stream, docs/aws.md "Restoring a
// table"), the pipe reads that stream, its role may read only that stream, and the
// pipe takes a new name so CloudFormation can replace it; the rules, the pipe
// alarms and the output follow the name. Nothing else changes.
func TestFeedReattachesToARestoredStream(t *testing.T) {
	const arn = "arn:aws:dynamodb:eu-west-1:111122223333:table/TenantStream-EventsTable-ABC/stream/2026-12-03T10:00:00.000"
	// The registry the shared stack was built from: the variant adds one later.
	s, err := synth(map[string]any{"eventsStreamArn": arn}, stack.Props{Projections: registered})
	require.NoError(t, err)
	defer os.RemoveAll(s.outdir)

	name := s.stack.PipeName
	assert.True(t, strings.HasPrefix(name, "tenantstream-events-") && len(name) == len("tenantstream-events-")+8, name)
	assert.Equal(t, name, stack.PipeNameFor(stack.Config{Prefix: "tenantstream", EventsStreamARN: arn}), "stable for the same stream")
	assert.NotEqual(t, name, stack.PipeNameFor(stack.Config{Prefix: "tenantstream", EventsStreamARN: arn + "1"}), "a later restore gets another pipe")

	pipes := s.ofType("AWS::Pipes::Pipe")
	require.Len(t, pipes, 1)
	for pid, p := range pipes {
		assert.Equal(t, name, p.Properties["Name"])
		assert.Equal(t, arn, p.Properties["Source"])
		assert.Contains(t, shared.resources, pid, "the same logical id: CloudFormation replaces the pipe")
	}
	// The pipe role reads the restored stream, not the one CloudFormation recorded.
	role := s.logicalID(t, "AWS::IAM::Policy", "PipeRoleDefaultPolicy")
	policy := stringify(s.resources[role].Properties)
	assert.Contains(t, policy, arn)
	assert.NotContains(t, policy, "StreamArn")

	for id, r := range s.ofType("AWS::Events::Rule") {
		assert.Contains(t, stringify(r.Properties["EventPattern"]), "source:Pipe "+name+";", id)
	}
	var pipeAlarms int
	for _, metric := range []string{"ExecutionFailed", "TargetStageFailed"} {
		pipeAlarms += len(alarmsOn(s, metric, "PipeName", name))
	}
	assert.Equal(t, 2, pipeAlarms)
	// Without the key the pipe keeps its name and the table's own stream.
	assert.Equal(t, "tenantstream-events", shared.stack.PipeName)
	assert.Len(t, s.resources, len(shared.resources), "nothing added or removed")
}

// TestStackAdoptsARestoredEventsTable: with eventsTableName (a table restored under
// a new name) the stack creates no events table of its own and points the
// functions, the tenant role, the pipe, the alarms and the backups at the restored
// one (docs/aws.md, "Restoring a table").
func TestStackAdoptsARestoredEventsTable(t *testing.T) {
	const name = "tenantstream-events-restored-20261203"
	const arn = "arn:aws:dynamodb:eu-west-1:111122223333:table/" + name + "/stream/2026-12-03T11:00:00.000"
	s, err := synth(map[string]any{"eventsTableName": name, "eventsStreamArn": arn}, stack.Props{Projections: registered})
	require.NoError(t, err)
	defer os.RemoveAll(s.outdir)

	tables := s.ofType("AWS::DynamoDB::Table")
	require.Len(t, tables, 1, "only the read-model table is the stack's")
	for id := range tables {
		assert.True(t, strings.HasPrefix(id, "ReadModelsTable"), id)
	}
	for id, fn := range s.ofType("AWS::Lambda::Function") {
		if strings.HasPrefix(id, "PreToken") {
			continue // the user pool's trigger reads no table
		}
		assert.Equal(t, name, envVars(fn)["TENANTSTREAM_EVENTS_TABLE"], id)
	}
	var tenantPolicy string
	for id, p := range s.ofType("AWS::IAM::Policy") {
		if strings.HasPrefix(id, "TenantRole") {
			tenantPolicy += stringify(p.Properties)
		}
	}
	assert.Contains(t, tenantPolicy, "table/"+name, "the tenant role reaches the restored table")
	for _, sel := range s.ofType("AWS::Backup::BackupSelection") {
		assert.Contains(t, stringify(sel.Properties), "table/"+name, "the restored table is backed up")
	}
	for _, p := range s.ofType("AWS::Pipes::Pipe") {
		assert.Equal(t, arn, p.Properties["Source"])
	}
	assert.Len(t, alarmsOn(s, "TransactionConflict", "TableName", name), 1)
	assert.Len(t, alarmsOn(s, "ThrottledRequests", "TableName", name), 1)
	assertCDK(t, "output", func() {
		s.template.HasOutput(strp("EventsTableName"), map[string]any{"Value": name})
	})
}
