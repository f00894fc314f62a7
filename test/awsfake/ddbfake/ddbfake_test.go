package ddbfake_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	"github.com/oklog/ulid/v2"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/test/awsfake"
	"github.com/deployerhq/deployer/test/awsfake/ddbfake"
)

// backends runs fn against the fake and, when DEPLOYER_TEST_AWS_ENDPOINT
// provides dynamodb, against that endpoint too, so the fake's behaviour is
// checked against another implementation. moto is true for the latter.
func backends(t *testing.T, fn func(t *testing.T, c *dynamodb.Client, moto bool)) {
	t.Run("fake", func(t *testing.T) {
		_, url := ddbfake.Start(t, ddbfake.Options{})
		fn(t, dynamodb.NewFromConfig(awstest.Config(t, url, nil)), false)
	})
	t.Run("external", func(t *testing.T) {
		ep := awstest.Endpoint(t, "dynamodb")
		fn(t, dynamodb.NewFromConfig(awstest.Config(t, ep, nil), func(o *dynamodb.Options) {
			// moto sends no X-Amz-Crc32; the SDK then checks bodies against 0
			// and logs a mismatch for every response.
			o.DisableValidateResponseChecksum = true
		}), true)
	})
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

// createTable makes a fresh lane/slot table deleted when t ends.
func createTable(t *testing.T, c *dynamodb.Client) string {
	t.Helper()
	name := "ddbfake-test-" + strings.ToLower(ulid.Make().String())
	_, err := c.CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("lane"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("slot"), AttributeType: types.ScalarAttributeTypeN},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("lane"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("slot"), KeyType: types.KeyTypeRange},
		},
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)}); err != nil {
			t.Errorf("DeleteTable: %v", err)
		}
	})
	return name
}

func wantCode(t *testing.T, err error, code, msg string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("got %v, want %s", err, code)
	}
	if !strings.Contains(ae.ErrorMessage(), msg) {
		t.Fatalf("message %q does not contain %q", ae.ErrorMessage(), msg)
	}
}

func TestTables(t *testing.T) {
	backends(t, func(t *testing.T, c *dynamodb.Client, _ bool) {
		ctx := t.Context()
		name := createTable(t, c)
		d, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		if d.Table.TableStatus != types.TableStatusActive || aws.ToString(d.Table.TableName) != name ||
			len(d.Table.KeySchema) != 2 || d.Table.BillingModeSummary == nil ||
			d.Table.BillingModeSummary.BillingMode != types.BillingModePayPerRequest ||
			!strings.HasSuffix(aws.ToString(d.Table.TableArn), ":table/"+name) {
			t.Fatalf("DescribeTable: %+v", d.Table)
		}
		_, err = c.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest,
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("lane"), AttributeType: types.ScalarAttributeTypeS}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("lane"), KeyType: types.KeyTypeHash}},
		})
		var inUse *types.ResourceInUseException
		if !errors.As(err, &inUse) {
			t.Fatalf("CreateTable of an existing table: %v, want ResourceInUseException", err)
		}

		missing := "ddbfake-missing-" + strings.ToLower(ulid.Make().String())
		var nf *types.ResourceNotFoundException
		_, err = c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(missing)})
		if !errors.As(err, &nf) {
			t.Fatalf("DescribeTable of a missing table: %v, want ResourceNotFoundException", err)
		}
		_, err = c.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(missing)})
		if !errors.As(err, &nf) {
			t.Fatalf("DeleteTable of a missing table: %v, want ResourceNotFoundException", err)
		}
		_, err = c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(missing), Item: map[string]types.AttributeValue{"lane": s("x"), "slot": n("0")}})
		if !errors.As(err, &nf) {
			t.Fatalf("PutItem into a missing table: %v, want ResourceNotFoundException", err)
		}
		_, err = c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String(missing), KeyConditionExpression: aws.String("#l = :l"),
			ExpressionAttributeNames: map[string]string{"#l": "lane"}, ExpressionAttributeValues: map[string]types.AttributeValue{":l": s("x")}})
		if !errors.As(err, &nf) {
			t.Fatalf("Query of a missing table: %v, want ResourceNotFoundException", err)
		}
	})
}

func TestItems(t *testing.T) {
	backends(t, func(t *testing.T, c *dynamodb.Client, _ bool) {
		ctx := t.Context()
		table := aws.String(createTable(t, c))
		names := map[string]string{"#l": "lane", "#e": "expires_at"}
		put := func(slot, holder, exp string) error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{
				TableName:                 table,
				Item:                      map[string]types.AttributeValue{"lane": s("ami"), "slot": n(slot), "holder": s(holder), "expires_at": n(exp)},
				ConditionExpression:       aws.String("attribute_not_exists(#l) OR #e < :now"),
				ExpressionAttributeNames:  names,
				ExpressionAttributeValues: map[string]types.AttributeValue{":now": n("100")},
			})
			return err
		}
		if err := put("0", "a", "50"); err != nil {
			t.Fatal(err)
		}
		// Expired (50 < 100): b may overwrite it. 0.0 names the same slot as 0.
		if err := put("0.0", "b", "500"); err != nil {
			t.Fatal(err)
		}
		var ccf *types.ConditionalCheckFailedException
		if err := put("0", "c", "500"); !errors.As(err, &ccf) {
			t.Fatalf("PutItem over a live slot: %v, want ConditionalCheckFailedException", err)
		}
		got, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, ConsistentRead: aws.Bool(true),
			Key: map[string]types.AttributeValue{"lane": s("ami"), "slot": n("0")}})
		if err != nil {
			t.Fatal(err)
		}
		if h := got.Item["holder"].(*types.AttributeValueMemberS).Value; h != "b" {
			t.Fatalf("slot 0 holder %q, want b", h)
		}
		got, err = c.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: map[string]types.AttributeValue{"lane": s("ami"), "slot": n("9")}})
		if err != nil || got.Item != nil {
			t.Fatalf("GetItem of a missing item: %v, %v", got.Item, err)
		}

		// UpdateItem conditioned on the holder; it never creates an item
		// whose condition fails.
		upd := func(slot, holder string) (*dynamodb.UpdateItemOutput, error) {
			return c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
				TableName:                 table,
				Key:                       map[string]types.AttributeValue{"lane": s("ami"), "slot": n(slot)},
				UpdateExpression:          aws.String("SET #e = :e"),
				ConditionExpression:       aws.String("#h = :h AND #e > :now"),
				ExpressionAttributeNames:  map[string]string{"#h": "holder", "#e": "expires_at"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":h": s(holder), ":e": n("900"), ":now": n("100")},
				ReturnValues:              types.ReturnValueAllNew,
			})
		}
		out, err := upd("0", "b")
		if err != nil {
			t.Fatal(err)
		}
		if e := out.Attributes["expires_at"].(*types.AttributeValueMemberN).Value; e != "900" {
			t.Fatalf("ALL_NEW expires_at %s, want 900", e)
		}
		if _, err := upd("0", "a"); !errors.As(err, &ccf) {
			t.Fatalf("UpdateItem by another holder: %v, want ConditionalCheckFailedException", err)
		}
		if _, err := upd("5", "a"); !errors.As(err, &ccf) {
			t.Fatalf("UpdateItem of a missing item: %v, want ConditionalCheckFailedException", err)
		}
		// An unconditioned update of a missing item creates it.
		if _, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: table, Key: map[string]types.AttributeValue{"lane": s("ami"), "slot": n("7")},
			UpdateExpression:          aws.String("SET holder = :h"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":h": s("z")},
		}); err != nil {
			t.Fatal(err)
		}
		// Key attributes cannot be updated.
		_, err = c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: table, Key: map[string]types.AttributeValue{"lane": s("ami"), "slot": n("7")},
			UpdateExpression:          aws.String("SET #l = :l"),
			ExpressionAttributeNames:  map[string]string{"#l": "lane"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":l": s("other")},
		})
		wantCode(t, err, "ValidationException", "This attribute is part of the key")

		del := func(slot, holder string) error {
			_, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{
				TableName: table, Key: map[string]types.AttributeValue{"lane": s("ami"), "slot": n(slot)},
				ConditionExpression: aws.String("#h = :h"), ExpressionAttributeNames: map[string]string{"#h": "holder"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":h": s(holder)},
			})
			return err
		}
		// A missing attribute is not equal to anything: <> holds.
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: map[string]types.AttributeValue{"lane": s("ami"), "slot": n("8")}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{
			TableName: table, Key: map[string]types.AttributeValue{"lane": s("ami"), "slot": n("8")},
			ConditionExpression: aws.String("holder <> :h"), ExpressionAttributeValues: map[string]types.AttributeValue{":h": s("a")},
		}); err != nil {
			t.Fatalf("DeleteItem conditioned on <> over a missing attribute: %v", err)
		}
		if err := del("0", "a"); !errors.As(err, &ccf) {
			t.Fatalf("DeleteItem by another holder: %v, want ConditionalCheckFailedException", err)
		}
		if err := del("0", "b"); err != nil {
			t.Fatal(err)
		}
		if err := del("0", "b"); !errors.As(err, &ccf) {
			t.Fatalf("DeleteItem of a deleted item: %v, want ConditionalCheckFailedException", err)
		}
	})
}

func TestQuery(t *testing.T) {
	backends(t, func(t *testing.T, c *dynamodb.Client, _ bool) {
		ctx := t.Context()
		table := aws.String(createTable(t, c))
		for _, ln := range []string{"ami", "deploy"} {
			for _, slot := range []string{"0", "1", "2", "10", "11"} {
				if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: table,
					Item: map[string]types.AttributeValue{"lane": s(ln), "slot": n(slot), "holder": s(ln + slot)}}); err != nil {
					t.Fatal(err)
				}
			}
		}
		query := func(in dynamodb.QueryInput) []string {
			t.Helper()
			in.TableName = table
			in.ConsistentRead = aws.Bool(true)
			var out []string
			p := dynamodb.NewQueryPaginator(c, &in)
			for p.HasMorePages() {
				page, err := p.NextPage(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, it := range page.Items {
					out = append(out, it["slot"].(*types.AttributeValueMemberN).Value)
				}
			}
			return out
		}
		names := map[string]string{"#l": "lane", "#s": "slot"}
		for _, tc := range []struct {
			name string
			in   dynamodb.QueryInput
			want string
		}{
			{"all, in numeric order", dynamodb.QueryInput{KeyConditionExpression: aws.String("#l = :l"),
				ExpressionAttributeNames: map[string]string{"#l": "lane"}, ExpressionAttributeValues: map[string]types.AttributeValue{":l": s("ami")}}, "0 1 2 10 11"},
			{"paged by 2", dynamodb.QueryInput{KeyConditionExpression: aws.String("#l = :l"), Limit: aws.Int32(2),
				ExpressionAttributeNames: map[string]string{"#l": "lane"}, ExpressionAttributeValues: map[string]types.AttributeValue{":l": s("ami")}}, "0 1 2 10 11"},
			{"backwards", dynamodb.QueryInput{KeyConditionExpression: aws.String("#l = :l"), ScanIndexForward: aws.Bool(false),
				ExpressionAttributeNames: map[string]string{"#l": "lane"}, ExpressionAttributeValues: map[string]types.AttributeValue{":l": s("ami")}}, "11 10 2 1 0"},
			{"sort key range", dynamodb.QueryInput{KeyConditionExpression: aws.String("#l = :l AND #s BETWEEN :a AND :b"),
				ExpressionAttributeNames: names, ExpressionAttributeValues: map[string]types.AttributeValue{":l": s("ami"), ":a": n("1"), ":b": n("10")}}, "1 2 10"},
			{"sort key below", dynamodb.QueryInput{KeyConditionExpression: aws.String("#l = :l AND #s < :a"),
				ExpressionAttributeNames: names, ExpressionAttributeValues: map[string]types.AttributeValue{":l": s("deploy"), ":a": n("2")}}, "0 1"},
			{"filtered", dynamodb.QueryInput{KeyConditionExpression: aws.String("#l = :l"), FilterExpression: aws.String("holder <> :h"),
				ExpressionAttributeNames: map[string]string{"#l": "lane"}, ExpressionAttributeValues: map[string]types.AttributeValue{":l": s("ami"), ":h": s("ami10")}}, "0 1 2 11"},
			{"empty lane", dynamodb.QueryInput{KeyConditionExpression: aws.String("#l = :l"),
				ExpressionAttributeNames: map[string]string{"#l": "lane"}, ExpressionAttributeValues: map[string]types.AttributeValue{":l": s("none")}}, ""},
		} {
			if got := strings.Join(query(tc.in), " "); got != tc.want {
				t.Errorf("%s: slots %q, want %q", tc.name, got, tc.want)
			}
		}
	})
}

// TestValidation checks requests DynamoDB refuses are refused, with its
// error code, by the fake and the external endpoint alike.
func TestValidation(t *testing.T) {
	backends(t, func(t *testing.T, c *dynamodb.Client, moto bool) {
		ctx := t.Context()
		table := aws.String(createTable(t, c))
		key := map[string]types.AttributeValue{"lane": s("ami"), "slot": n("0")}
		tests := []struct {
			name   string
			call   func() error
			msg    string
			noMoto string // why moto does not check this, if it does not
		}{
			{"unused value", func() error {
				_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: key, ConditionExpression: aws.String("attribute_not_exists(#l)"),
					ExpressionAttributeNames: map[string]string{"#l": "lane"}, ExpressionAttributeValues: map[string]types.AttributeValue{":x": s("x")}})
				return err
			}, "unused in expressions", "moto 5.2.1 accepts unused ExpressionAttributeValues in PutItem"},
			{"undefined value", func() error {
				_, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: table, Key: key, ConditionExpression: aws.String("holder = :h")})
				return err
			}, "", "moto 5.2.1 answers 500 (KeyError: ':h') to an undefined value placeholder"},
			{"reserved word", func() error {
				_, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: table, Key: key, ConditionExpression: aws.String("name = :h"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":h": s("x")}})
				return err
			}, "reserved keyword", ""},
			{"syntax", func() error {
				_, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: table, Key: key, ConditionExpression: aws.String("holder = = :h"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":h": s("x")}})
				return err
			}, "Syntax error", "moto 5.2.1 answers 500 (ValueError: Bad comparison) to a condition syntax error"},
			{"missing key", func() error {
				_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: map[string]types.AttributeValue{"lane": s("ami")}})
				return err
			}, "", ""},
			{"key type", func() error {
				_, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: table, Key: map[string]types.AttributeValue{"lane": s("ami"), "slot": s("0")}})
				return err
			}, "", "moto 5.2.1 accepts an S value for an N key in GetItem"},
			{"empty key string", func() error {
				_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: map[string]types.AttributeValue{"lane": s(""), "slot": n("0")}})
				return err
			}, "empty string", ""},
			{"key condition OR", func() error {
				_, err := c.Query(ctx, &dynamodb.QueryInput{TableName: table, KeyConditionExpression: aws.String("#l = :l OR #s = :s"),
					ExpressionAttributeNames:  map[string]string{"#l": "lane", "#s": "slot"},
					ExpressionAttributeValues: map[string]types.AttributeValue{":l": s("ami"), ":s": n("1")}})
				return err
			}, "", "moto 5.2.1 answers 500 (AssertionError) to OR in a KeyConditionExpression"},
			{"key condition without hash key", func() error {
				_, err := c.Query(ctx, &dynamodb.QueryInput{TableName: table, KeyConditionExpression: aws.String("#s = :s"),
					ExpressionAttributeNames:  map[string]string{"#s": "slot"},
					ExpressionAttributeValues: map[string]types.AttributeValue{":s": n("1")}})
				return err
			}, "", ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if moto && tc.noMoto != "" {
					t.Skip(tc.noMoto)
				}
				wantCode(t, tc.call(), "ValidationException", tc.msg)
			})
		}
	})
}

func TestCreatingTable(t *testing.T) {
	_, url := ddbfake.Start(t, ddbfake.Options{CreatingDescribes: 2})
	c := dynamodb.NewFromConfig(awstest.Config(t, url, nil))
	ctx := t.Context()
	table := createTable(t, c)
	// Item operations on a CREATING table answer ResourceNotFoundException.
	var nf *types.ResourceNotFoundException
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{"lane": s("a"), "slot": n("0")}}); !errors.As(err, &nf) {
		t.Fatalf("PutItem into a CREATING table: %v, want ResourceNotFoundException", err)
	}
	for _, want := range []types.TableStatus{types.TableStatusCreating, types.TableStatusCreating, types.TableStatusActive} {
		d, err := c.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil || d.Table.TableStatus != want {
			t.Fatalf("DescribeTable: %v, %v; want %s", d, err, want)
		}
	}
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{"lane": s("a"), "slot": n("0")}}); err != nil {
		t.Fatal(err)
	}
}

// TestThrottlingRetried checks the fake's errors go through the SDK's
// retryer like DynamoDB's: throttling codes are retried, then surface as
// errors awsx.Throttled recognises.
func TestThrottlingRetried(t *testing.T) {
	f := ddbfake.New(ddbfake.Options{})
	var throttle atomic.Int64
	srv := &awsfake.Server{Hook: func(target string, _ []byte) error {
		if strings.HasSuffix(target, ".GetItem") && throttle.Add(-1) >= 0 {
			return awsfake.ClientError("ProvisionedThroughputExceededException", "The level of configured provisioned throughput for the table was exceeded.")
		}
		return nil
	}}
	srv.Add(f.Service())
	ct := &awsx.CountingTransport{}
	c := dynamodb.NewFromConfig(awstest.Config(t, ddbfake.Serve(t, srv), &http.Client{Transport: ct}))
	table := createTable(t, c)
	get := func() error {
		_, err := c.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String(table),
			Key: map[string]types.AttributeValue{"lane": s("a"), "slot": n("0")}})
		return err
	}
	throttle.Store(3)
	if err := get(); err != nil {
		t.Fatalf("GetItem after 3 throttles: %v", err)
	}
	if got := ct.Total(); got < 4 {
		t.Fatalf("%d requests, want the 3 throttled ones retried", got)
	}
	throttle.Store(1000)
	err := get()
	var pte *types.ProvisionedThroughputExceededException
	if !errors.As(err, &pte) || !awsx.Throttled(err) {
		t.Fatalf("GetItem throttled throughout: %v, want ProvisionedThroughputExceededException", err)
	}
}
