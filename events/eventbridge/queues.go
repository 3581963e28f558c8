package eventbridge

// The queue each projection's rule delivers to and its dead-letter queue
// (docs/aws.md, "Delivery that cannot drop an event"). infra names the queues
// with these, and `tenantstream projections redrive` finds them by them.

// ProjectionQueueName is the SQS queue of projection in the stack named prefix.
func ProjectionQueueName(prefix, projection string) string {
	return prefix + "-projection-" + projection
}

// ProjectionDLQName is the dead-letter queue of ProjectionQueueName.
func ProjectionDLQName(prefix, projection string) string {
	return ProjectionQueueName(prefix, projection) + "-dlq"
}
