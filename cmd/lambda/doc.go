// Package lambda holds the end-to-end test of the Lambda functions on the AWS adapters; the functions are its subdirectories.
package lambda
