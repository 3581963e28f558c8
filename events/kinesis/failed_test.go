package kinesis_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tenantstream/tenantstream/events/kinesis"
)

func TestParseFailedBatch(t *testing.T) {
	t.Parallel()
	fb, err := kinesis.ParseFailedBatch(read(t, "failed-batch.json"))
	require.NoError(t, err)
	assert.Equal(t, "shardId-000000000002", fb.KinesisBatchInfo.ShardID)
	assert.Equal(t, "arn:aws:lambda:eu-west-1:111122223333:function:TenantStream-Projectoritems", fb.RequestContext.FunctionARN)
	assert.Equal(t, 1, fb.KinesisBatchInfo.BatchSize)

	for name, edit := range map[string][2]string{
		"a bus event":       {`"KinesisBatchInfo"`, `"detail"`},
		"no function":       {`"functionArn": "arn:aws:lambda:eu-west-1:111122223333:function:TenantStream-Projectoritems"`, `"functionArn": ""`},
		"range backwards":   {`"startSequenceNumber": "49657426282539584592836178936582376124545282113431044098"`, `"startSequenceNumber": "59657426282539584592836178936582376124545282113431044098"`},
		"not a number":      {`"endSequenceNumber": "49657426282539584592836178936582376124545282113431044098"`, `"endSequenceNumber": "-1"`},
		"not a JSON object": {`{`, `[`},
	} {
		raw := string(read(t, "failed-batch.json"))
		require.Contains(t, raw, edit[0], name)
		_, err := kinesis.ParseFailedBatch([]byte(strings.Replace(raw, edit[0], edit[1], 1)))
		assert.Error(t, err, name)
	}
}

// FuzzParseFailedBatch: what it accepts names a shard, a function and an
// ordered range of sequence numbers.
func FuzzParseFailedBatch(f *testing.F) {
	f.Add(read(f, "failed-batch.json"))
	f.Add([]byte(`{"requestContext":{"functionArn":"f"},"KinesisBatchInfo":{"shardId":"s","streamArn":"a","startSequenceNumber":"1","endSequenceNumber":"2"}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		fb, err := kinesis.ParseFailedBatch(raw)
		if err != nil {
			return
		}
		bi := fb.KinesisBatchInfo
		require.NotEmpty(t, bi.ShardID)
		require.NotEmpty(t, fb.RequestContext.FunctionARN)
		start, ok := kinesis.ParseSequence(bi.StartSequenceNumber)
		require.True(t, ok)
		end, ok := kinesis.ParseSequence(bi.EndSequenceNumber)
		require.True(t, ok)
		require.LessOrEqual(t, start.Cmp(end), 0)
	})
}
