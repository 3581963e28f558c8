// Command billing-close-worker is the billing-close-worker Lambda function; configuration comes from the environment (docs/aws.md).
package main

import (
	"context"
	"log"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/tenantstream/tenantstream/cmd/internal/wire"
)

func main() {
	h, err := wire.BillingCloseWorker(context.Background(), wire.FromEnv())
	if err != nil {
		log.Fatalf("billing-close-worker: %v", err)
	}
	lambda.Start(h)
}
