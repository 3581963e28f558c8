package dynamodb_test

import (
	"cmp"
	"context"
	"maps"
	"math/big"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// fakeDynamo is the smallest in-process DynamoDB that runs the store: one table with
// the key schema and index CreateTable builds, and exactly the expressions the store
// sends (anything else is an error, so a change to the store cannot pass unnoticed).
// Every operation holds one lock, so conditional transactions are serializable, as
// DynamoDB's are: moto's race and minidyn v0.8.2 orders number sort keys as strings.
type fakeDynamo struct {
	mu    sync.Mutex
	items map[[2]string]map[string]ddbtypes.AttributeValue // (PK, SK) -> item
}

type item = map[string]ddbtypes.AttributeValue

func newFakeDynamo() *fakeDynamo { return &fakeDynamo{items: map[[2]string]item{}} }

func sval(it item, name string) (string, bool) {
	v, ok := it[name].(*ddbtypes.AttributeValueMemberS)
	if !ok {
		return "", false
	}
	return v.Value, true
}

func nval(it item, name string) (*big.Rat, bool) {
	v, ok := it[name].(*ddbtypes.AttributeValueMemberN)
	if !ok {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(v.Value)
	return r, ok
}

func itemKey(it item) ([2]string, error) {
	pk, ok1 := sval(it, "PK")
	sk, ok2 := nval(it, "SK")
	if !ok1 || !ok2 {
		return [2]string{}, validation("item key needs PK (S) and SK (N)")
	}
	return [2]string{pk, sk.RatString()}, nil
}

func validation(msg string) error {
	return &smithy.GenericAPIError{Code: "ValidationException", Message: msg}
}

// condition evaluates the condition expressions the store writes.
func condition(expr string, vals item, current item) (bool, error) {
	switch expr {
	case "":
		return true, nil
	case "attribute_not_exists(PK)":
		return current == nil, nil
	case "attribute_exists(PK) AND recorded_at <= :ra":
		if current == nil {
			return false, nil
		}
		have, ok1 := nval(current, "recorded_at")
		limit, ok2 := nval(vals, ":ra")
		return ok1 && ok2 && have.Cmp(limit) <= 0, nil
	case "attribute_not_exists(PK) OR expires_at < :now":
		if current == nil {
			return true, nil
		}
		have, ok1 := nval(current, "expires_at")
		now, ok2 := nval(vals, ":now")
		return ok1 && ok2 && have.Cmp(now) < 0, nil
	case "attribute_not_exists(PK) OR recorded_at <= :forgotten":
		if current == nil {
			return true, nil
		}
		have, ok1 := nval(current, "recorded_at")
		limit, ok2 := nval(vals, ":forgotten")
		return ok1 && ok2 && have.Cmp(limit) <= 0, nil
	}
	return false, validation("fake: unsupported condition " + expr)
}

func (f *fakeDynamo) CreateTable(ctx context.Context, in *ddb.CreateTableInput, _ ...func(*ddb.Options)) (*ddb.CreateTableOutput, error) {
	return &ddb.CreateTableOutput{TableDescription: &ddbtypes.TableDescription{TableName: in.TableName, TableStatus: ddbtypes.TableStatusActive}}, nil
}

func (f *fakeDynamo) DescribeTable(ctx context.Context, in *ddb.DescribeTableInput, _ ...func(*ddb.Options)) (*ddb.DescribeTableOutput, error) {
	return &ddb.DescribeTableOutput{Table: &ddbtypes.TableDescription{TableName: in.TableName, TableStatus: ddbtypes.TableStatusActive}}, nil
}

func (f *fakeDynamo) GetItem(ctx context.Context, in *ddb.GetItemInput, _ ...func(*ddb.Options)) (*ddb.GetItemOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k, err := itemKey(in.Key)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return &ddb.GetItemOutput{Item: maps.Clone(f.items[k])}, nil
}

func (f *fakeDynamo) PutItem(ctx context.Context, in *ddb.PutItemInput, _ ...func(*ddb.Options)) (*ddb.PutItemOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k, err := itemKey(in.Item)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	ok, err := condition(aws.ToString(in.ConditionExpression), in.ExpressionAttributeValues, f.items[k])
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, &ddbtypes.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
	}
	f.items[k] = maps.Clone(in.Item)
	return &ddb.PutItemOutput{}, nil
}

func (f *fakeDynamo) TransactWriteItems(ctx context.Context, in *ddb.TransactWriteItemsInput, _ ...func(*ddb.Options)) (*ddb.TransactWriteItemsOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(in.TransactItems) > 100 {
		return nil, validation("Member must have length less than or equal to 100")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	type op struct {
		key  [2]string
		put  item
		cond string
		vals item
	}
	ops := make([]op, len(in.TransactItems))
	seen := map[[2]string]bool{}
	for i, ti := range in.TransactItems {
		var o op
		var err error
		switch {
		case ti.Put != nil:
			o.key, err = itemKey(ti.Put.Item)
			o.put, o.cond, o.vals = ti.Put.Item, aws.ToString(ti.Put.ConditionExpression), ti.Put.ExpressionAttributeValues
		case ti.ConditionCheck != nil:
			o.key, err = itemKey(ti.ConditionCheck.Key)
			o.cond, o.vals = aws.ToString(ti.ConditionCheck.ConditionExpression), ti.ConditionCheck.ExpressionAttributeValues
		default:
			err = validation("fake: only Put and ConditionCheck are supported")
		}
		if err != nil {
			return nil, err
		}
		if seen[o.key] {
			return nil, validation("Transaction request cannot include multiple operations on one item")
		}
		seen[o.key] = true
		ops[i] = o
	}
	// Like DynamoDB, report every failed condition, then write all or nothing.
	reasons := make([]ddbtypes.CancellationReason, len(ops))
	failed := false
	for i, o := range ops {
		ok, err := condition(o.cond, o.vals, f.items[o.key])
		if err != nil {
			return nil, err
		}
		reasons[i].Code = aws.String("None")
		if !ok {
			reasons[i].Code, failed = aws.String("ConditionalCheckFailed"), true
		}
	}
	if failed {
		return nil, &ddbtypes.TransactionCanceledException{Message: aws.String("Transaction cancelled"), CancellationReasons: reasons}
	}
	for _, o := range ops {
		if o.put != nil {
			f.items[o.key] = maps.Clone(o.put)
		}
	}
	return &ddb.TransactWriteItemsOutput{}, nil
}

// Query supports the key conditions the store uses, on the table (PK, SK numbers)
// and on the tenant-history index (GSI1PK, GSI1SK strings).
func (f *fakeDynamo) Query(ctx context.Context, in *ddb.QueryInput, _ ...func(*ddb.Options)) (*ddb.QueryOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v := in.ExpressionAttributeValues
	str := func(name string) string { s, _ := sval(v, name); return s }
	num := func(name string) *big.Rat { r, _ := nval(v, name); return r }
	index := aws.ToString(in.IndexName)
	pkName, skName := "PK", "SK"
	if index != "" {
		if index != "tenant-history" {
			return nil, validation("fake: no index " + index)
		}
		pkName, skName = "GSI1PK", "GSI1SK"
	}
	var match func(it item) bool
	switch expr := aws.ToString(in.KeyConditionExpression); {
	case expr == "PK = :pk" && index == "", expr == "GSI1PK = :pk" && index != "":
		match = func(item) bool { return true }
	case expr == "PK = :pk AND SK >= :from" && index == "":
		match = func(it item) bool { n, _ := nval(it, "SK"); return n.Cmp(num(":from")) >= 0 }
	case expr == "PK = :pk AND SK BETWEEN :from AND :to" && index == "":
		match = func(it item) bool {
			n, _ := nval(it, "SK")
			return n.Cmp(num(":from")) >= 0 && n.Cmp(num(":to")) <= 0
		}
	case expr == "GSI1PK = :pk AND GSI1SK > :low" && index != "":
		match = func(it item) bool { s, _ := sval(it, "GSI1SK"); return s > str(":low") }
	default:
		return nil, validation("fake: unsupported key condition " + expr)
	}

	f.mu.Lock()
	var rows []item
	for _, it := range f.items {
		if pk, ok := sval(it, pkName); ok && pk == str(":pk") && it[skName] != nil && match(it) {
			rows = append(rows, it)
		}
	}
	f.mu.Unlock()

	// The index orders by its sort key, then by the table key, like DynamoDB's
	// index (whose order among equal sort keys is unspecified).
	compare := func(a, b item) int {
		if index == "" {
			x, _ := nval(a, "SK")
			y, _ := nval(b, "SK")
			return x.Cmp(y)
		}
		x, _ := sval(a, "GSI1SK")
		y, _ := sval(b, "GSI1SK")
		ka, _ := itemKey(a)
		kb, _ := itemKey(b)
		return cmp.Or(cmp.Compare(x, y), cmp.Compare(ka[0], kb[0]), cmp.Compare(ka[1], kb[1]))
	}
	slices.SortFunc(rows, compare)
	if in.ScanIndexForward != nil && !*in.ScanIndexForward {
		slices.Reverse(rows)
	}
	if len(in.ExclusiveStartKey) > 0 {
		start := in.ExclusiveStartKey
		i := slices.IndexFunc(rows, func(it item) bool {
			c := compare(it, start)
			if in.ScanIndexForward != nil && !*in.ScanIndexForward {
				c = -c
			}
			return c > 0
		})
		if i < 0 {
			i = len(rows)
		}
		rows = rows[i:]
	}
	out := &ddb.QueryOutput{}
	limit := int(aws.ToInt32(in.Limit))
	if limit > 0 && len(rows) > limit {
		rows = rows[:limit]
		last := rows[limit-1]
		out.LastEvaluatedKey = item{"PK": last["PK"], "SK": last["SK"]}
		if index != "" {
			out.LastEvaluatedKey["GSI1PK"], out.LastEvaluatedKey["GSI1SK"] = last["GSI1PK"], last["GSI1SK"]
		}
	}
	for _, it := range rows {
		out.Items = append(out.Items, maps.Clone(it))
	}
	out.Count = int32(len(out.Items))
	return out, nil
}
