package dynamodb

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tenantstream/tenantstream/events"
)

const defaultLimit = 1000

// Load implements events.Store.
func (s *Store) Load(ctx context.Context, tenant events.TenantID, stream events.StreamID, from int64) ([]events.Event, error) {
	if err := s.check(ctx); err != nil {
		return nil, fmt.Errorf("load %s: %w", stream, err)
	}
	if err := tenant.Validate(); err != nil {
		return nil, fmt.Errorf("load %s: %w", stream, err)
	}
	if err := stream.Validate(); err != nil {
		return nil, fmt.Errorf("load %s: %w", stream, err)
	}
	c, err := s.clientFor(ctx, tenant)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", stream, err)
	}
	from = max(from, 1)
	// A read from past version 1 also asks for the version before it, so that
	// one Query shows the stream exists: the usual read of a cache (the
	// roster, the price book) asks for the events after the version it holds
	// and would otherwise cost a second Query for the head whenever there are none.
	ask := from
	if from > 1 {
		ask = from - 1
	}
	evs, err := s.loadRange(ctx, c, tenant, stream, ask, 0)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", stream, err)
	}
	if n := len(evs); n > 0 {
		s.heads.note(tenant, stream, evs[n-1].Version, evs[n-1].RecordedAt.UnixMicro())
	}
	if ask < from && len(evs) > 0 {
		return evs[1:], nil // versions have no gaps: evs[0] is version from-1
	}
	if len(evs) == 0 {
		exists := from > 1
		if exists {
			v, _, err := s.head(ctx, c, tenant, stream)
			if err != nil {
				return nil, fmt.Errorf("load %s: %w", stream, err)
			}
			exists = v > 0
		}
		if !exists {
			return nil, fmt.Errorf("load %s: %w", stream, events.ErrNotFound)
		}
	}
	return evs, nil
}

// loadRange reads versions from..to of a stream (to 0: to the end), strongly consistent.
func (s *Store) loadRange(ctx context.Context, c Client, tenant events.TenantID, stream events.StreamID, from, to int64) ([]events.Event, error) {
	in := &ddb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("PK = :pk AND SK >= :from"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{
			":pk": str(streamPK(tenant, stream)), ":from": num(from),
		},
		ConsistentRead: aws.Bool(true),
	}
	if to > 0 {
		in.KeyConditionExpression = aws.String("PK = :pk AND SK BETWEEN :from AND :to")
		in.ExpressionAttributeValues[":to"] = num(to)
	}
	out := []events.Event{}
	for {
		page, err := c.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("query stream: %w", err)
		}
		for _, it := range page.Items {
			e, err := decodeEvent(it)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// ReadTenant implements events.Store.
func (s *Store) ReadTenant(ctx context.Context, tenant events.TenantID, after events.Cursor, opts events.ReadOptions) (events.Page, error) {
	if err := s.check(ctx); err != nil {
		return events.Page{}, fmt.Errorf("read tenant %s: %w", tenant, err)
	}
	if err := tenant.Validate(); err != nil {
		return events.Page{}, fmt.Errorf("read tenant %s: %w", tenant, err)
	}
	c, err := s.clientFor(ctx, tenant)
	if err != nil {
		return events.Page{}, fmt.Errorf("read tenant %s: %w", tenant, err)
	}
	cur, err := parseTenantCursor(after)
	if err != nil {
		return events.Page{}, fmt.Errorf("read tenant %s: %w", tenant, err)
	}
	limit := opts.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	evs, more, err := s.readTenant(ctx, c, tenant, &cur, limit, opts.Types)
	if err != nil {
		return events.Page{}, fmt.Errorf("read tenant %s: %w", tenant, err)
	}
	return events.Page{Events: evs, Next: formatTenantCursor(cur), More: more}, nil
}

// ReadAll implements events.Store: each registered tenant's history in turn, with a
// cursor per tenant so that later appends to any tenant are picked up. It is
// platform work: a context scoped to a tenant gets events.ErrOutOfScope.
func (s *Store) ReadAll(ctx context.Context, after events.Cursor, opts events.ReadOptions) (events.Page, error) {
	if err := s.check(ctx); err != nil {
		return events.Page{}, fmt.Errorf("read all: %w", err)
	}
	if err := events.CheckUnscoped(ctx, "read all"); err != nil {
		return events.Page{}, err
	}
	cur, err := parseAllCursor(after)
	if err != nil {
		return events.Page{}, fmt.Errorf("read all: %w", err)
	}
	limit := opts.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	tenants, err := s.listTenants(ctx)
	if err != nil {
		return events.Page{}, fmt.Errorf("read all: %w", err)
	}
	page := events.Page{Events: []events.Event{}}
	for _, t := range tenants {
		if err := ctx.Err(); err != nil {
			return events.Page{}, fmt.Errorf("read all: %w", err)
		}
		tc := cur.Tenants[t]
		if len(page.Events) == limit {
			page.More = true
			break
		}
		evs, more, err := s.readTenant(ctx, s.client, events.TenantID(t), &tc, limit-len(page.Events), opts.Types)
		if err != nil {
			return events.Page{}, fmt.Errorf("read all: %w", err)
		}
		cur.Tenants[t] = tc
		page.Events = append(page.Events, evs...)
		if more {
			page.More = true
			break
		}
	}
	page.Next = formatAllCursor(cur)
	return page, nil
}

// listTenants returns the registered tenants in id order.
func (s *Store) listTenants(ctx context.Context) ([]string, error) {
	in := &ddb.QueryInput{
		TableName:                 &s.table,
		IndexName:                 aws.String(TenantIndex),
		KeyConditionExpression:    aws.String("GSI1PK = :pk"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": str(registryPK)},
	}
	var out []string
	for {
		page, err := s.client.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list tenants: %w", err)
		}
		for _, it := range page.Items {
			if t, ok := getS(it, attrTenant); ok {
				out = append(out, t)
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	slices.Sort(out)
	return out, nil
}

// readTenant reads up to limit events of the tenant's history after cur and advances
// cur past everything it examined. more reports that events follow the page.
func (s *Store) readTenant(ctx context.Context, c Client, tenant events.TenantID, cur *tenantCursor, limit int, types []string) ([]events.Event, bool, error) {
	delivered := make(map[uint64]bool, len(cur.Seen))
	for _, e := range cur.Seen {
		delivered[e[1]] = true
	}
	in := &ddb.QueryInput{
		TableName:                 &s.table,
		IndexName:                 aws.String(TenantIndex),
		KeyConditionExpression:    aws.String("GSI1PK = :pk"),
		ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": str(historyPK(tenant))},
		Limit:                     aws.Int32(int32(min(limit+len(cur.Seen)+1, defaultLimit))),
	}
	if cur.Low != "" {
		in.KeyConditionExpression = aws.String("GSI1PK = :pk AND GSI1SK > :low")
		in.ExpressionAttributeValues[":low"] = str(cur.Low)
	}
	out := []events.Event{}
	more := false
	lastExamined := ""
	var examined [][2]uint64
scan:
	for {
		page, err := c.Query(ctx, in)
		if err != nil {
			return nil, false, fmt.Errorf("query history: %w", err)
		}
		for _, it := range page.Items {
			sk, _ := getS(it, attrGSI1SK)
			h := hashKey(sk)
			if delivered[h] {
				continue
			}
			if len(out) == limit {
				more = true
				break scan
			}
			e, err := decodeEvent(it)
			if err != nil {
				return nil, false, err
			}
			lastExamined = sk
			examined = append(examined, [2]uint64{uint64(e.RecordedAt.UnixMicro()), h})
			if len(types) > 0 && !slices.Contains(types, e.Type) {
				continue
			}
			out = append(out, e)
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}

	// Everything at or below the new low mark has been examined, and anything not
	// yet visible was stamped after now minus the settle window.
	low := historyLow(s.clock.Now().Add(-s.settle).UnixMicro())
	if more && lastExamined < low {
		low = lastExamined
	}
	low = max(low, cur.Low)
	lowMicros := lowMicros(low)
	seen := cur.Seen[:0:0]
	for _, e := range append(cur.Seen, examined...) {
		if int64(e[0]) >= lowMicros {
			seen = append(seen, e)
		}
	}
	cur.Low, cur.Seen = low, seen
	return out, more, nil
}

func historyLow(micros int64) string { return fmt.Sprintf("%016d", max(micros, 0)) }

func lowMicros(low string) int64 {
	ts, _, _ := strings.Cut(low, "#")
	n, _ := strconv.ParseInt(ts, 10, 64)
	return n
}
