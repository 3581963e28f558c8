package awstest

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// LeadingKeys plays the tenant role's IAM policy on DynamoDB calls, which moto
// does not evaluate (docs/ARCHITECTURE.md, decision 9d; the role is in infra/stack/identity.go).
// A call made with a tenant's credentials is allowed only when
//
//   - its action is one the role grants (GetItem, BatchGetItem, Query, PutItem,
//     UpdateItem, DeleteItem, BatchWriteItem; TransactWriteItems and
//     TransactGetItems as their item actions, ConditionCheckItem included), on a
//     table of Resources, or Query on an index of Resources;
//   - every partition key it touches (dynamodb:LeadingKeys: the table's key of each
//     item, or the index's partition key in a query's key condition) starts with
//     T#<tenant>#.
//
// Anything else fails with an AccessDeniedException before it is sent. Every
// call is recorded, so a test can also count which credentials served a request.
// It is safe for concurrent use.
type LeadingKeys struct {
	// Resources maps each table the role may use, and each index it may query as
	// "<table>/index/<name>", to its partition-key attribute.
	Resources map[string]string

	mu    sync.Mutex
	calls []Call
}

// Call is one DynamoDB call that went through a LeadingKeys middleware.
type Call struct {
	// Tenant is the session's TenantId tag; "" for a call of the execution role
	// (Observe), which the policy does not restrict.
	Tenant    string
	Operation string
	// Resources are the tables or indexes it names; Keys the partition-key values
	// it touches (every item's, or the key condition's for a query).
	Resources []string
	Keys      []string
	// Denied says why the policy refused the call; "" when it was allowed.
	Denied string
}

// Middleware returns an SDK option (for aws.Config.APIOptions or
// dynamodb.Options.APIOptions) that authorizes every call of the clients built
// with it as a call made with tenant's credentials.
func (l *LeadingKeys) Middleware(tenant string) func(*middleware.Stack) error {
	return l.middleware(func(params any) error { return l.Authorize(tenant, params) })
}

// Observe returns an SDK option that records every call of the clients built with
// it as the execution role's (Tenant ""), without restricting them.
func (l *LeadingKeys) Observe() func(*middleware.Stack) error {
	return l.middleware(func(params any) error {
		op, res, keys, _ := l.inspect(params)
		l.record(Call{Operation: op, Resources: res, Keys: keys})
		return nil
	})
}

func (l *LeadingKeys) middleware(check func(params any) error) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("awstest.LeadingKeys",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if err := check(in.Parameters); err != nil {
					return middleware.InitializeOutput{}, middleware.Metadata{}, err
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	}
}

// Authorize decides a call with input params (a *dynamodb.<Operation>Input) made
// with tenant's credentials, records it, and returns an AccessDeniedException when
// the policy refuses it.
func (l *LeadingKeys) Authorize(tenant string, params any) error {
	op, res, keys, why := l.inspect(params)
	if why == "" {
		prefix := "T#" + tenant + "#"
		for _, k := range keys {
			if !strings.HasPrefix(k, prefix) {
				why = fmt.Sprintf("leading key %q does not start with %q", k, prefix)
				break
			}
		}
	}
	l.record(Call{Tenant: tenant, Operation: op, Resources: res, Keys: keys, Denied: why})
	if why == "" {
		return nil
	}
	return &smithy.GenericAPIError{Code: "AccessDeniedException", Fault: smithy.FaultClient, Message: fmt.Sprintf(
		"User: assumed-role/tenant/tenant-%s is not authorized to perform: dynamodb:%s on resource: %s because no identity-based policy allows it (%s)",
		tenant, op, strings.Join(res, ","), why)}
}

func (l *LeadingKeys) record(c Call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, c)
}

// Calls returns every call recorded so far, in order.
func (l *LeadingKeys) Calls() []Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

// Denied returns the calls the policy refused.
func (l *LeadingKeys) Denied() []Call {
	var out []Call
	for _, c := range l.Calls() {
		if c.Denied != "" {
			out = append(out, c)
		}
	}
	return out
}

// inspect names the call's operation and returns the resources and partition keys
// it touches, or why the role cannot allow it whatever the keys.
func (l *LeadingKeys) inspect(params any) (op string, resources, keys []string, denied string) {
	var v keyVisitor
	v.l = l
	switch in := params.(type) {
	case *ddb.GetItemInput:
		op = "GetItem"
		v.item(in.TableName, in.Key)
	case *ddb.PutItemInput:
		op = "PutItem"
		v.item(in.TableName, in.Item)
	case *ddb.UpdateItemInput:
		op = "UpdateItem"
		v.item(in.TableName, in.Key)
	case *ddb.DeleteItemInput:
		op = "DeleteItem"
		v.item(in.TableName, in.Key)
	case *ddb.QueryInput:
		op = "Query"
		v.query(in)
	case *ddb.BatchGetItemInput:
		op = "BatchGetItem"
		for table, ka := range in.RequestItems {
			for _, k := range ka.Keys {
				v.item(&table, k)
			}
		}
	case *ddb.BatchWriteItemInput:
		op = "BatchWriteItem"
		for table, reqs := range in.RequestItems {
			for _, r := range reqs {
				switch {
				case r.PutRequest != nil:
					v.item(&table, r.PutRequest.Item)
				case r.DeleteRequest != nil:
					v.item(&table, r.DeleteRequest.Key)
				}
			}
		}
	case *ddb.TransactWriteItemsInput:
		op = "TransactWriteItems"
		for _, ti := range in.TransactItems {
			switch {
			case ti.Put != nil:
				v.item(ti.Put.TableName, ti.Put.Item)
			case ti.Update != nil:
				v.item(ti.Update.TableName, ti.Update.Key)
			case ti.Delete != nil:
				v.item(ti.Delete.TableName, ti.Delete.Key)
			case ti.ConditionCheck != nil:
				v.item(ti.ConditionCheck.TableName, ti.ConditionCheck.Key)
			}
		}
	case *ddb.TransactGetItemsInput:
		op = "TransactGetItems"
		for _, ti := range in.TransactItems {
			if ti.Get != nil {
				v.item(ti.Get.TableName, ti.Get.Key)
			}
		}
	default:
		op = strings.TrimSuffix(strings.TrimPrefix(fmt.Sprintf("%T", params), "*dynamodb."), "Input")
		v.deny("the tenant role grants no %s", op)
	}
	return op, v.resources, v.keys, v.denied
}

// keyVisitor collects the resources and leading keys of one call.
type keyVisitor struct {
	l         *LeadingKeys
	resources []string
	keys      []string
	denied    string
}

func (v *keyVisitor) deny(format string, args ...any) {
	if v.denied == "" {
		v.denied = fmt.Sprintf(format, args...)
	}
}

func (v *keyVisitor) resource(name string) (string, bool) {
	if !slices.Contains(v.resources, name) {
		v.resources = append(v.resources, name)
	}
	attr, ok := v.l.Resources[name]
	if !ok {
		v.deny("resource %s is not in the tenant role's policy", name)
	}
	return attr, ok
}

func (v *keyVisitor) key(av ddbtypes.AttributeValue, attr string) {
	s, ok := av.(*ddbtypes.AttributeValueMemberS)
	if !ok {
		v.deny("no string partition key %s", attr)
		return
	}
	v.keys = append(v.keys, s.Value)
}

func (v *keyVisitor) item(table *string, item map[string]ddbtypes.AttributeValue) {
	name := ""
	if table != nil {
		name = *table
	}
	if attr, ok := v.resource(name); ok {
		v.key(item[attr], attr)
	}
}

var (
	andRE      = regexp.MustCompile(`(?i)\s+AND\s+`)
	equalityRE = regexp.MustCompile(`^\(?\s*(#?[A-Za-z0-9_.]+)\s*=\s*(:[A-Za-z0-9_]+)\s*\)?$`)
)

// query finds the partition key in the key condition: the clause "<key> = :v"
// on the table's (or the index's) partition-key attribute.
func (v *keyVisitor) query(in *ddb.QueryInput) {
	name := ""
	if in.TableName != nil {
		name = *in.TableName
	}
	if in.IndexName != nil {
		name += "/index/" + *in.IndexName
	}
	attr, ok := v.resource(name)
	if !ok {
		return
	}
	if in.KeyConditionExpression == nil {
		v.deny("a query without a KeyConditionExpression is not modelled")
		return
	}
	for _, part := range andRE.Split(*in.KeyConditionExpression, -1) {
		m := equalityRE.FindStringSubmatch(strings.TrimSpace(part))
		if m == nil {
			continue
		}
		field := m[1]
		if strings.HasPrefix(field, "#") {
			field = in.ExpressionAttributeNames[field]
		}
		if field == attr {
			v.key(in.ExpressionAttributeValues[m[2]], attr)
			return
		}
	}
	v.deny("no equality on the partition key %s in %q", attr, *in.KeyConditionExpression)
}
