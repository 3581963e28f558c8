package sns

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	snsapi "github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/tenantstream/tenantstream/domain/billing"
	"github.com/tenantstream/tenantstream/domain/member"
	"github.com/tenantstream/tenantstream/domain/tenant"
	"github.com/tenantstream/tenantstream/projections"
)

// Message attributes set on every notification, for subscription filter policies.
const (
	AttrTenantID  = "tenant_id"
	AttrEventType = "event_type"
)

// ErrNoTopic is returned for a notification type without a configured topic.
var ErrNoTopic = errors.New("sns: no topic for notification type")

// Topics are the topic ARNs notifications go to.
type Topics struct {
	Invoices string
	// Onboarding receives onboardings, suspensions and reactivations.
	Onboarding string
	// Members receives invitations and password resets (their one-time
	// tokens included: subscribe only what delivers them to the person).
	Members string
}

// topicFor routes by the notification's event type.
func (t Topics) topicFor(eventType string) string {
	switch eventType {
	case billing.TypeInvoiceIssued, billing.TypeThresholdReached:
		return t.Invoices // billing: invoices and usage alerts
	case tenant.TypeOnboarded, tenant.TypeSuspended, tenant.TypeReactivated:
		// The account's lifecycle: a suspension and its end go where the
		// onboarding went, to the tenant's admins (docs/lifecycle.md).
		return t.Onboarding
	case member.TypeInvitationCreated, member.TypeResetRequested:
		return t.Members
	}
	return ""
}

// Publisher publishes projections.Notification values. The message body is the
// notification's JSON, as the webhook delivers it, so a subscriber can handle
// both the same way. On FIFO topics the event id is the deduplication id (SNS
// drops a repeat within 5 minutes, so a redelivered outbox entry is sent once)
// and the tenant is the message group, keeping each tenant's notifications in order.
type Publisher struct {
	Client *snsapi.Client
	Topics Topics
	// Enrich, when set, completes each notification before it is published:
	// the composition root adds the one-time tokens of invitations and resets
	// (commands.Service.EnrichNotification), which the outbox never holds.
	Enrich func(projections.Notification) projections.Notification
}

// Publish sends n to its topic and returns the SNS message id.
// Errors: ErrNoTopic, or the wrapped SNS error.
func (p *Publisher) Publish(ctx context.Context, n projections.Notification) (string, error) {
	arn := p.Topics.topicFor(n.Type)
	if arn == "" {
		return "", fmt.Errorf("publish notification %s: %w %q", n.ID, ErrNoTopic, n.Type)
	}
	if p.Enrich != nil {
		n = p.Enrich(n)
	}
	body, err := json.Marshal(n)
	if err != nil {
		return "", fmt.Errorf("publish notification %s: %w", n.ID, err)
	}
	in := &snsapi.PublishInput{
		TopicArn: aws.String(arn),
		Message:  aws.String(string(body)),
		MessageAttributes: map[string]types.MessageAttributeValue{
			AttrTenantID:  {DataType: aws.String("String"), StringValue: aws.String(n.TenantID)},
			AttrEventType: {DataType: aws.String("String"), StringValue: aws.String(n.Type)},
		},
	}
	if IsFIFO(arn) {
		in.MessageDeduplicationId = aws.String(n.ID)
		in.MessageGroupId = aws.String(n.TenantID)
	}
	out, err := p.Client.Publish(ctx, in)
	if err != nil {
		return "", fmt.Errorf("publish notification %s to %s: %w", n.ID, arn, err)
	}
	return aws.ToString(out.MessageId), nil
}

// IsFIFO reports whether a topic ARN names a FIFO topic (its name ends in .fifo).
func IsFIFO(topicARN string) bool { return strings.HasSuffix(topicARN, ".fifo") }

// CreateTopics creates (or finds, CreateTopic being idempotent) the invoices,
// onboarding and members topics named prefix-invoices, prefix-onboarding and
// prefix-members, as FIFO topics
// when fifo is set. Infrastructure normally owns the topics; this serves tests
// and development.
func CreateTopics(ctx context.Context, client *snsapi.Client, prefix string, fifo bool) (Topics, error) {
	create := func(name string) (string, error) {
		in := &snsapi.CreateTopicInput{Name: aws.String(prefix + "-" + name)}
		if fifo {
			in.Name = aws.String(*in.Name + ".fifo")
			in.Attributes = map[string]string{"FifoTopic": "true"}
		}
		out, err := client.CreateTopic(ctx, in)
		if err != nil {
			return "", fmt.Errorf("create topic %s: %w", aws.ToString(in.Name), err)
		}
		return aws.ToString(out.TopicArn), nil
	}
	var t Topics
	var err error
	if t.Invoices, err = create("invoices"); err != nil {
		return Topics{}, err
	}
	if t.Onboarding, err = create("onboarding"); err != nil {
		return Topics{}, err
	}
	if t.Members, err = create("members"); err != nil {
		return Topics{}, err
	}
	return t, nil
}
