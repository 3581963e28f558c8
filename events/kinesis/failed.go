package kinesis

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// FailedBatch is the record Lambda sends to a Kinesis event source mapping's
// on-failure destination when it discards a batch: metadata of the failed
// invocation and the batch's shard and sequence range, not the records (AWS
// docs: "Retain discarded batch records for a Kinesis Data Streams event
// source in Lambda"). The records stay in the stream until its retention
// drops them.
type FailedBatch struct {
	RequestContext struct {
		RequestID              string `json:"requestId"`
		FunctionARN            string `json:"functionArn"`
		Condition              string `json:"condition"`
		ApproximateInvokeCount int    `json:"approximateInvokeCount"`
	} `json:"requestContext"`
	ResponseContext *struct {
		StatusCode      int    `json:"statusCode"`
		ExecutedVersion string `json:"executedVersion"`
		FunctionError   string `json:"functionError"`
	} `json:"responseContext,omitempty"`
	Version          string    `json:"version"`
	Timestamp        string    `json:"timestamp"`
	KinesisBatchInfo BatchInfo `json:"KinesisBatchInfo"`
}

// BatchInfo is the discarded batch's place in the stream.
type BatchInfo struct {
	ShardID                         string `json:"shardId"`
	StartSequenceNumber             string `json:"startSequenceNumber"`
	EndSequenceNumber               string `json:"endSequenceNumber"`
	ApproximateArrivalOfFirstRecord string `json:"approximateArrivalOfFirstRecord"`
	ApproximateArrivalOfLastRecord  string `json:"approximateArrivalOfLastRecord"`
	BatchSize                       int    `json:"batchSize"`
	StreamARN                       string `json:"streamArn"`
}

// ParseFailedBatch reads an on-failure record and checks what a redrive
// needs: a function, a stream, a shard, and a sequence range that is two
// decimal numbers, start not after end.
func ParseFailedBatch(raw []byte) (FailedBatch, error) {
	var fb FailedBatch
	if err := json.Unmarshal(raw, &fb); err != nil {
		return fb, fmt.Errorf("decode on-failure record: %w", err)
	}
	bi := fb.KinesisBatchInfo
	switch {
	case bi.StreamARN == "" || bi.ShardID == "":
		return fb, errors.New("on-failure record: no KinesisBatchInfo stream and shard (is it a Kinesis mapping's record?)")
	case fb.RequestContext.FunctionARN == "":
		return fb, errors.New("on-failure record: no requestContext.functionArn")
	}
	start, ok1 := ParseSequence(bi.StartSequenceNumber)
	end, ok2 := ParseSequence(bi.EndSequenceNumber)
	if !ok1 || !ok2 || start.Cmp(end) > 0 {
		return fb, fmt.Errorf("on-failure record: sequence range %q to %q", bi.StartSequenceNumber, bi.EndSequenceNumber)
	}
	return fb, nil
}

// ParseSequence reads a Kinesis sequence number: a decimal string of up to
// 128 digits, compared as a number.
func ParseSequence(s string) (*big.Int, bool) {
	if s == "" || len(s) > 128 {
		return nil, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return nil, false
		}
	}
	n, ok := new(big.Int).SetString(s, 10)
	return n, ok
}
