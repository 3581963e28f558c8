// Package eventbridge decodes the events an EventBridge Pipe puts on the bus from the event table's DynamoDB stream, and runs that pipe locally.
package eventbridge
