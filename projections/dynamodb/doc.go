// Package dynamodb stores projection read models, checkpoints, generations and parked events in one DynamoDB table.
package dynamodb
