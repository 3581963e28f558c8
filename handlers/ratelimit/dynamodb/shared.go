package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tenantstream/tenantstream/domain/clock"
	"github.com/tenantstream/tenantstream/handlers/ratelimit"
)

// Client is the part of the DynamoDB API the buckets use; *dynamodb.Client
// satisfies it.
type Client interface {
	UpdateItem(ctx context.Context, in *ddb.UpdateItemInput, opts ...func(*ddb.Options)) (*ddb.UpdateItemOutput, error)
}

var _ Client = (*ddb.Client)(nil)

// Item attributes. The item lives in the read-model table under the tenant's
// own key prefix, so the tenant's STS session can write it (decision 9d) and
// the projections' scans, which select by projection, never see it.
const (
	attrPK       = "PK"
	attrSK       = "SK"
	attrTAT      = "tat" // the GCRA time, Unix milliseconds
	attrInterval = "iv"  // the interval it was taken at, milliseconds
)

// leaseShare is the part of a burst one instance leases at once: at most a
// tenth of the burst sits unused in an instance, and a request writes 1/k of
// an item on average.
const leaseShare = 10

// maxLeases bounds the leases an instance keeps (then it starts over: a lost
// lease only wastes what it held).
const maxLeases = 100_000

// Shared is a tenant limiter whose buckets every instance shares. An instance
// leases k = max(1, burst/10) requests at once from the tenant's item with one
// conditional UpdateItem and serves them from memory; a refusal is remembered
// until its Retry-After, so a flood costs no write per refused request. When
// DynamoDB fails, Local answers (the per-instance limit), never nobody.
type Shared struct {
	Table   string
	Clients func(ctx context.Context, tenant string) (Client, error)
	Clock   clock.Clock
	Local   *ratelimit.Keyed
	Log     *slog.Logger

	mu     sync.Mutex
	leases map[string]*lease
}

// lease is what an instance holds of one bucket: requests it may still serve
// until the lease's time is up, or a refusal until a time.
type lease struct {
	left     int
	until    time.Time     // the lease's requests are spent by then
	interval time.Duration // the rate it was taken at
	full     time.Time     // the shared bucket is full again then
	refused  time.Time     // refused until then (no lease)
}

// TakeTenant takes one request of tenant's policy bucket at rate r.
func (s *Shared) TakeTenant(ctx context.Context, tenant, policy string, r ratelimit.Rate) ratelimit.Decision {
	if r.Off() {
		return ratelimit.Decision{Allowed: true}
	}
	interval := max(r.Per/time.Duration(r.N), time.Millisecond)
	burst := max(r.Burst, 1)
	key := tenant + "\x00" + policy
	now := s.Clock.Now()

	s.mu.Lock()
	if s.leases == nil || len(s.leases) >= maxLeases {
		s.leases = map[string]*lease{}
	}
	l := s.leases[key]
	if l != nil && l.interval == interval {
		switch {
		case l.left > 0 && now.Before(l.until):
			l.left--
			d := ratelimit.Decision{Allowed: true, Remaining: l.left + room(l.full, now, interval, burst), Full: max(l.full.Sub(now), 0)}
			s.mu.Unlock()
			return d
		case now.Before(l.refused):
			d := ratelimit.Decision{RetryAfter: l.refused.Sub(now), Full: max(l.full.Sub(now), 0)}
			s.mu.Unlock()
			return d
		}
	}
	// What this instance last saw of the bucket: refilled by now, the fresh
	// start is the write that will succeed, so it goes first.
	refilled := l == nil || l.interval != interval || !l.full.After(now)
	s.mu.Unlock()

	k := max(1, min(burst/leaseShare, burst))
	got, tat, err := s.lease(ctx, tenant, policy, now, interval, burst, k, refilled)
	if err == nil && got == 0 && k > 1 {
		got, tat, err = s.lease(ctx, tenant, policy, now, interval, burst, 1, false)
	}
	if err != nil {
		s.Log.WarnContext(ctx, "shared rate limit unavailable: limiting on this instance", "tenant_id", tenant, "policy", policy, "error", err)
		return s.Local.TakeTenant(ctx, tenant, policy, r)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if got == 0 {
		// tat is the bucket's time: one more request fits once tat+interval-burst has passed.
		retry := max(tat.Add(interval).Add(-time.Duration(burst)*interval).Sub(now), time.Millisecond)
		s.leases[key] = &lease{interval: interval, full: tat, refused: now.Add(retry)}
		return ratelimit.Decision{RetryAfter: retry, Full: max(tat.Sub(now), 0)}
	}
	// A lease is good for one burst's time: held longer, the leases of many
	// instances could all be spent in one later moment, beyond the burst.
	s.leases[key] = &lease{left: got - 1, until: now.Add(time.Duration(burst) * interval), interval: interval, full: tat}
	return ratelimit.Decision{Allowed: true, Remaining: got - 1 + room(tat, now, interval, burst), Full: max(tat.Sub(now), 0)}
}

// room is how many more requests the shared bucket would take now.
func room(tat, now time.Time, interval time.Duration, burst int) int {
	free := time.Duration(burst)*interval - max(tat.Sub(now), 0)
	if free <= 0 {
		return 0
	}
	return int(free / interval)
}

// lease takes k requests from the bucket item: a bucket in use at this rate
// moves its time on by k intervals if that stays within the burst; a bucket
// that has refilled, was never used, or was used at another rate (a plan
// change: it starts full at the new one) starts from now. It returns how many
// it took (k or 0) and the bucket's time after (before, when it took none).
func (s *Shared) lease(ctx context.Context, tenant, policy string, now time.Time, interval time.Duration, burst, k int, freshFirst bool) (int, time.Time, error) {
	c, err := s.Clients(ctx, tenant)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("client for tenant %s: %w", tenant, err)
	}
	nowMS, ivMS := now.UnixMilli(), interval.Milliseconds()
	cost := int64(k) * ivMS
	key := map[string]types.AttributeValue{attrPK: str("T#" + tenant + "#RL"), attrSK: str(policy)}
	names := map[string]string{"#tat": attrTAT, "#iv": attrInterval}
	inUse := &ddb.UpdateItemInput{
		TableName: aws.String(s.Table), Key: key,
		UpdateExpression:         aws.String("SET #tat = #tat + :cost"),
		ConditionExpression:      aws.String("#iv = :iv AND #tat BETWEEN :now AND :last"),
		ExpressionAttributeNames: names,
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":cost": num(cost), ":iv": num(ivMS), ":now": num(nowMS), ":last": num(nowMS + int64(burst)*ivMS - cost)},
		ReturnValues:                        types.ReturnValueUpdatedNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	fresh := &ddb.UpdateItemInput{
		TableName: aws.String(s.Table), Key: key,
		UpdateExpression:         aws.String("SET #tat = :start, #iv = :iv"),
		ConditionExpression:      aws.String("attribute_not_exists(#tat) OR #tat < :now OR #iv <> :iv"),
		ExpressionAttributeNames: names,
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":start": num(nowMS + cost), ":iv": num(ivMS), ":now": num(nowMS)},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	var failed *types.ConditionalCheckFailedException
	tryFresh := func() (int, time.Time, bool, error) {
		_, err := c.UpdateItem(ctx, fresh)
		switch {
		case err == nil:
			return k, time.UnixMilli(nowMS + cost), true, nil
		case errors.As(err, &failed):
			return 0, tatOf(failed.Item), false, nil // in use at this rate
		}
		return 0, time.Time{}, false, fmt.Errorf("lease %s/%s: %w", tenant, policy, err)
	}
	if freshFirst {
		if n, tat, ok, err := tryFresh(); ok || err != nil {
			return n, tat, err
		}
	}
	out, err := c.UpdateItem(ctx, inUse)
	if err == nil {
		return k, tatOf(out.Attributes), nil
	}
	if !errors.As(err, &failed) {
		return 0, time.Time{}, fmt.Errorf("lease %s/%s: %w", tenant, policy, err)
	}
	old := tatOf(failed.Item)
	if freshFirst || failed.Item != nil && ivOf(failed.Item) == ivMS && old.After(now.Add(-time.Millisecond)) {
		return 0, old, nil // in use at this rate and too full for k more
	}
	n, tat, _, err := tryFresh()
	return n, tat, err
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }
func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func numOf(item map[string]types.AttributeValue, name string) int64 {
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0
	}
	n, _ := strconv.ParseInt(v.Value, 10, 64)
	return n
}

func tatOf(item map[string]types.AttributeValue) time.Time {
	return time.UnixMilli(numOf(item, attrTAT))
}

func ivOf(item map[string]types.AttributeValue) int64 { return numOf(item, attrInterval) }
