package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/spf13/cobra"

	"github.com/tenantstream/tenantstream/cmd/internal/wire"
	"github.com/tenantstream/tenantstream/events/eventbridge"
	"github.com/tenantstream/tenantstream/projections"
)

// redriveCmd is `projections redrive`: the runbook's last step (docs/aws.md,
// "Redrive runbook"). On AWS each projection's rule delivers to an SQS queue
// whose dead-letter queue keeps what its projector failed maxReceiveCount
// times; once the cause is fixed, this moves those messages back to the queue,
// and the projector applies them (skipping what it already applied, decision 4
// in docs/ARCHITECTURE.md). Locally the feed reads the store, so nothing is
// ever dead-lettered and there is nothing to redrive.
//
// With --feed kinesis (the stack deployed with context feed=kinesis) the
// dead-letter queue is the event source mapping's on-failure destination,
// whose messages name a shard and a sequence range, not events: the records
// are read back from the stream and the projector function is invoked with
// them (wire.RedriveKinesis).
func redriveCmd() *cobra.Command {
	var backend, region, endpoint, prefix, feed string
	var dryRun bool
	var limit int
	c := &cobra.Command{
		Use:   "redrive NAME|--all --backend dynamodb [--dry-run]",
		Short: "Move a projection's dead-lettered events back to its queue (AWS)",
		Long: "Move the messages of a projection's dead-letter queue (<prefix>-projection-<name>-dlq) back to its queue\n" +
			"(<prefix>-projection-<name>), where the projector function applies them. Fix the cause first: a message that\n" +
			"fails again returns to the dead-letter queue after maxReceiveCount receives. --dry-run only counts.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if backend != backendDynamoDB {
				return usageError{fmt.Errorf("redrive needs --backend %s: locally the feed reads the store and nothing is dead-lettered", backendDynamoDB)}
			}
			all, _ := cmd.Flags().GetBool("all")
			var names []string
			switch {
			case all && len(args) == 0:
				for _, p := range projections.Registered() {
					names = append(names, p.Name())
				}
			case !all && len(args) == 1:
				if _, ok := projections.Lookup(args[0]); !ok {
					return usageError{fmt.Errorf("%q: %w", args[0], projections.ErrUnknownProjection)}
				}
				names = args
			default:
				return usageError{errors.New("name one projection or pass --all")}
			}
			if limit < 0 {
				return usageError{errors.New("--max must not be negative")}
			}
			if feed != wire.FeedSQS && feed != wire.FeedKinesis {
				return usageError{fmt.Errorf("--feed %q: want %s or %s", feed, wire.FeedSQS, wire.FeedKinesis)}
			}
			cfg, err := wire.LoadAWS(cmd.Context(), wire.Env{Region: region, EndpointURL: endpoint})
			if err != nil {
				return err
			}
			if cfg.Region == "" {
				return usageError{errors.New("no AWS region: pass --region or set AWS_REGION (or a region in the AWS profile)")}
			}
			if feed == wire.FeedKinesis {
				return redriveKinesis(cmd, sqs.NewFromConfig(cfg), kinesis.NewFromConfig(cfg), wire.LambdaInvoker(lambda.NewFromConfig(cfg)), prefix, names, dryRun, limit)
			}
			return redrive(cmd, sqs.NewFromConfig(cfg), prefix, names, dryRun, limit)
		},
	}
	f := c.Flags()
	f.StringVar(&backend, "backend", backendSQLite, "must be dynamodb: the dead-letter queues exist on AWS only")
	f.StringVar(&region, "region", os.Getenv("AWS_REGION"), "AWS region (default $AWS_REGION, else the AWS profile's)")
	f.StringVar(&endpoint, "endpoint-url", os.Getenv("AWS_ENDPOINT_URL"), "send AWS calls to this URL, such as moto (default $AWS_ENDPOINT_URL)")
	prefixDefault := os.Getenv("TENANTSTREAM_PREFIX")
	if prefixDefault == "" {
		prefixDefault = "tenantstream"
	}
	f.StringVar(&prefix, "prefix", prefixDefault, "the stack's prefix (CDK context key prefix) the queues are named with (default $TENANTSTREAM_PREFIX, else tenantstream)")
	feedDefault := os.Getenv("TENANTSTREAM_FEED")
	if feedDefault == "" {
		feedDefault = wire.FeedSQS
	}
	f.StringVar(&feed, "feed", feedDefault, "the stack's change feed (CDK context key feed): sqs, or kinesis (default $TENANTSTREAM_FEED, else sqs)")
	f.BoolVar(&dryRun, "dry-run", false, "count the dead-lettered messages, move nothing")
	f.IntVar(&limit, "max", 0, "move (with --feed kinesis: redrive) at most this many messages per projection (0: all)")
	f.Bool("all", false, "every registered projection")
	return c
}

// redrive counts, and unless dryRun moves, each projection's dead-lettered
// messages. SQS's counts are approximate (docs/aws.md); the moved count is exact.
func redrive(cmd *cobra.Command, q wire.RedriveSQS, prefix string, names []string, dryRun bool, limit int) error {
	ctx, out := cmd.Context(), cmd.OutOrStdout()
	for _, n := range names {
		pq, err := wire.FindProjectionQueues(ctx, q, prefix, n)
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		d, err := wire.Depth(ctx, q, pq.DLQURL)
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		if dryRun {
			fmt.Fprintf(out, "%s: %d messages in the dead-letter queue (%d in flight); dry run, nothing moved\n", n, d.Visible, d.InFlight)
			continue
		}
		moved, err := wire.Redrive(ctx, q, pq, wire.RedriveOptions{WaitSeconds: 2, Max: limit})
		fmt.Fprintf(out, "%s: moved %d messages back to its queue\n", n, moved)
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
	}
	return nil
}

// redriveKinesis counts, and unless dryRun redrives, each projection's
// discarded batches on the Kinesis feed (docs/aws.md, "The Kinesis feed").
func redriveKinesis(cmd *cobra.Command, q wire.RedriveSQS, k wire.KinesisReader, invoke wire.KinesisInvoker, prefix string, names []string, dryRun bool, limit int) error {
	ctx, out := cmd.Context(), cmd.OutOrStdout()
	for _, n := range names {
		name := eventbridge.ProjectionDLQName(prefix, n)
		u, err := q.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
		var missing *sqstypes.QueueDoesNotExist
		if errors.As(err, &missing) {
			return fmt.Errorf("%s: queue %s not found (is the stack's prefix %q, and the region right?)", n, name, prefix)
		}
		if err != nil {
			return fmt.Errorf("%s: queue %s: %w", n, name, err)
		}
		url := aws.ToString(u.QueueUrl)
		d, err := wire.Depth(ctx, q, url)
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		if dryRun {
			fmt.Fprintf(out, "%s: %d discarded batches in the dead-letter queue (%d in flight); dry run, nothing redriven\n", n, d.Visible, d.InFlight)
			continue
		}
		st, err := wire.RedriveKinesis(ctx, q, k, invoke, url, wire.RedriveOptions{WaitSeconds: 2, Max: limit})
		fmt.Fprintf(out, "%s: redrove %d discarded batches (%d records read back from the stream)\n", n, st.Batches, st.Records)
		if errors.Is(err, wire.ErrRangeExpired) {
			return fmt.Errorf("%s: %w; rebuild it from the store: tenantstream projections rebuild --backend dynamodb %s", n, err, n)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
	}
	return nil
}
