package awstest

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Region is the region tests use; moto accepts any.
const Region = "us-east-1"

// Config returns an SDK config that sends every service's calls to m with
// static test credentials.
func (m *Moto) Config() aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", "testing"),
		BaseEndpoint: aws.String(m.Endpoint),
		// Retries must not hide moto errors in tests.
		RetryMaxAttempts: 2,
	}
}
