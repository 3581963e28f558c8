// Command billing-close is the billing-close Lambda function; configuration comes from the environment (docs/aws.md).
package main

import (
	"context"
	"log"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/tenantstream/tenantstream/cmd/internal/wire"
)

func main() {
	h, err := wire.BillingClose(context.Background(), wire.FromEnv())
	if err != nil {
		log.Fatalf("billing-close: %v", err)
	}
	lambda.Start(h)
}
