// Package kinesis decodes the records a DynamoDB table's Kinesis streaming destination writes, as the projector's Kinesis event source mapping delivers them (docs/aws.md, "The Kinesis feed").
package kinesis
