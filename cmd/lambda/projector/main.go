// Command projector is the projector Lambda function; configuration comes from the environment (docs/aws.md).
package main

import (
	"context"
	"log"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/tenantstream/tenantstream/cmd/internal/wire"
)

func main() {
	env := wire.FromEnv()
	switch env.Feed {
	case "", wire.FeedSQS:
		h, err := wire.Projector(context.Background(), env)
		if err != nil {
			log.Fatalf("projector: %v", err)
		}
		lambda.Start(h)
	case wire.FeedKinesis:
		// The events table's Kinesis data stream (docs/aws.md, "The Kinesis feed").
		h, err := wire.KinesisProjector(context.Background(), env)
		if err != nil {
			log.Fatalf("projector: %v", err)
		}
		lambda.Start(h)
	default:
		log.Fatalf("projector: TENANTSTREAM_FEED=%q: want %q or %q", env.Feed, wire.FeedSQS, wire.FeedKinesis)
	}
}
