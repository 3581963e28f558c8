// Package wire builds the AWS wiring (store, read models, engine, commands) from configuration, for the Lambda functions and the CLI's --backend dynamodb.
package wire
