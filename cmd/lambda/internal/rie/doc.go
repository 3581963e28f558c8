// Package rie runs Lambda function binaries behind the AWS Lambda Runtime Interface Emulator for tests.
package rie
