// Package awstest starts moto_server for tests that need real AWS APIs, and gives them SDK configs pointing at it.
package awstest
