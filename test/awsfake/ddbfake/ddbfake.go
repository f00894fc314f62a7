package ddbfake

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/deployerhq/deployer/test/awsfake"
)

// TargetPrefix is DynamoDB's X-Amz-Target prefix.
const TargetPrefix = "DynamoDB_20120810"

// ContentType is the awsJson1_0 content type DynamoDB answers with.
const ContentType = "application/x-amz-json-1.0"

// Options tune the fake. The zero value is ready to use.
type Options struct {
	// CreatingDescribes is how many DescribeTable calls see a new table
	// CREATING before it turns ACTIVE (item operations on a CREATING table
	// answer ResourceNotFoundException, as DynamoDB does). Defaults to 0:
	// tables are ACTIVE at once.
	CreatingDescribes int
	// Region and Account make table ARNs. Default to us-east-1 and
	// 123456789012.
	Region, Account string
}

// Fake is an in-memory DynamoDB. One mutex serialises every operation,
// so it is linearizable and every read is strongly consistent.
type Fake struct {
	opts Options

	mu     sync.Mutex
	tables map[string]*table
	nextID int
}

// New returns an empty fake.
func New(opts Options) *Fake {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.Account == "" {
		opts.Account = "123456789012"
	}
	return &Fake{opts: opts, tables: map[string]*table{}}
}

// Start serves a new fake on a loopback server closed when t ends and
// returns the fake and the endpoint URL.
func Start(t testing.TB, opts Options) (*Fake, string) {
	t.Helper()
	f := New(opts)
	s := &awsfake.Server{}
	s.Add(f.Service())
	return f, Serve(t, s)
}

// Serve serves s (an awsfake.Server hosting the fake, perhaps with other
// services or a fault Hook) on a loopback server closed when t ends,
// wrapped in CRC32, and returns its URL.
func Serve(t testing.TB, s *awsfake.Server) string {
	t.Helper()
	ts := httptest.NewServer(CRC32(s))
	t.Cleanup(ts.Close)
	return ts.URL
}

// CRC32 wraps h so that every response carries the X-Amz-Crc32 header
// DynamoDB sends (the CRC-32 of the body). The SDK checks every response
// body against it and, when it is missing, logs a checksum mismatch.
func CRC32(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}

// Service returns the fake's operations, to add to an awsfake.Server.
func (f *Fake) Service() *awsfake.Service {
	return &awsfake.Service{
		TargetPrefix: TargetPrefix,
		ContentType:  ContentType,
		Operations: map[string]awsfake.Operation{
			"CreateTable":   f.createTable,
			"DescribeTable": f.describeTable,
			"DeleteTable":   f.deleteTable,
			"PutItem":       f.putItem,
			"GetItem":       f.getItem,
			"UpdateItem":    f.updateItem,
			"DeleteItem":    f.deleteItem,
			"Query":         f.query,
		},
	}
}

// Items returns a copy of a table's items in key order, for tests.
func (f *Fake) Items(tableName string) []Item {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tables[tableName]
	if t == nil {
		return nil
	}
	out := make([]Item, 0, len(t.items))
	for _, it := range t.sorted() {
		out = append(out, it.clone())
	}
	return out
}

func validation(format string, args ...any) error {
	return awsfake.ClientError("ValidationException", format, args...)
}

func notFound(name string) error {
	return awsfake.ClientError("ResourceNotFoundException", "Requested resource not found: Table: %s not found", name)
}

var (
	errConditionFailed = awsfake.ClientError("ConditionalCheckFailedException", "The conditional request failed")
	errItemNotFound    = awsfake.ClientError("ResourceNotFoundException", "Requested resource not found")
)

type keySchemaElement struct {
	AttributeName string `json:"AttributeName"`
	KeyType       string `json:"KeyType"`
}

type attributeDefinition struct {
	AttributeName string `json:"AttributeName"`
	AttributeType string `json:"AttributeType"`
}

type throughput struct {
	ReadCapacityUnits  *int64 `json:"ReadCapacityUnits,omitempty"`
	WriteCapacityUnits *int64 `json:"WriteCapacityUnits,omitempty"`
}

type table struct {
	name      string
	id        string
	arn       string
	keySchema []keySchemaElement
	attrDefs  []attributeDefinition
	hash, rng string
	types     map[string]string
	billing   string
	tp        throughput
	created   time.Time
	creating  int // DescribeTable calls left before ACTIVE
	items     map[string]Item
}

func (t *table) status() string {
	if t.creating > 0 {
		return "CREATING"
	}
	return "ACTIVE"
}

// sorted returns the items ordered by hash key then range key.
func (t *table) sorted() []Item {
	out := make([]Item, 0, len(t.items))
	for _, it := range t.items {
		out = append(out, it)
	}
	slices.SortFunc(out, func(a, b Item) int {
		if c, _ := compare(a[t.hash], b[t.hash]); c != 0 {
			return c
		}
		if t.rng == "" {
			return 0
		}
		c, _ := compare(a[t.rng], b[t.rng])
		return c
	})
	return out
}

type tableDescription struct {
	TableName                 string                `json:"TableName"`
	TableStatus               string                `json:"TableStatus"`
	TableArn                  string                `json:"TableArn"`
	TableId                   string                `json:"TableId"` //nolint:revive // AWS's field name
	KeySchema                 []keySchemaElement    `json:"KeySchema"`
	AttributeDefinitions      []attributeDefinition `json:"AttributeDefinitions"`
	CreationDateTime          float64               `json:"CreationDateTime"`
	ItemCount                 int64                 `json:"ItemCount"`
	TableSizeBytes            int64                 `json:"TableSizeBytes"`
	BillingModeSummary        *billingModeSummary   `json:"BillingModeSummary,omitempty"`
	ProvisionedThroughput     provisionedDesc       `json:"ProvisionedThroughput"`
	DeletionProtectionEnabled bool                  `json:"DeletionProtectionEnabled"`
}

type billingModeSummary struct {
	BillingMode                       string  `json:"BillingMode"`
	LastUpdateToPayPerRequestDateTime float64 `json:"LastUpdateToPayPerRequestDateTime"`
}

type provisionedDesc struct {
	NumberOfDecreasesToday int64 `json:"NumberOfDecreasesToday"`
	ReadCapacityUnits      int64 `json:"ReadCapacityUnits"`
	WriteCapacityUnits     int64 `json:"WriteCapacityUnits"`
}

func (t *table) describe(status string) tableDescription {
	d := tableDescription{
		TableName:            t.name,
		TableStatus:          status,
		TableArn:             t.arn,
		TableId:              t.id,
		KeySchema:            t.keySchema,
		AttributeDefinitions: t.attrDefs,
		CreationDateTime:     float64(t.created.UnixMilli()) / 1000,
		ItemCount:            int64(len(t.items)),
	}
	for _, it := range t.items {
		data, _ := json.Marshal(it)
		d.TableSizeBytes += int64(len(data))
	}
	if t.billing == "PAY_PER_REQUEST" {
		d.BillingModeSummary = &billingModeSummary{BillingMode: t.billing, LastUpdateToPayPerRequestDateTime: d.CreationDateTime}
	} else {
		d.ProvisionedThroughput.ReadCapacityUnits = *t.tp.ReadCapacityUnits
		d.ProvisionedThroughput.WriteCapacityUnits = *t.tp.WriteCapacityUnits
	}
	return d
}

var tableNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)

func checkTableName(name string) error {
	if !tableNameRE.MatchString(name) {
		return validation("1 validation error detected: Value '%s' at 'tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+ and length between 3 and 255", name)
	}
	return nil
}

func (f *Fake) createTable(_ *http.Request, body []byte) (any, error) {
	var in struct {
		TableName              string
		KeySchema              []keySchemaElement
		AttributeDefinitions   []attributeDefinition
		BillingMode            string
		ProvisionedThroughput  *throughput
		GlobalSecondaryIndexes json.RawMessage
		LocalSecondaryIndexes  json.RawMessage
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	if err := checkTableName(in.TableName); err != nil {
		return nil, err
	}
	if in.GlobalSecondaryIndexes != nil || in.LocalSecondaryIndexes != nil {
		return nil, validation("Secondary indexes are not supported by this fake (ddbfake)")
	}
	t := &table{name: in.TableName, keySchema: in.KeySchema, attrDefs: in.AttributeDefinitions, types: map[string]string{}, items: map[string]Item{}}
	for _, d := range in.AttributeDefinitions {
		switch d.AttributeType {
		case "S", "N", "B":
		default:
			return nil, validation("1 validation error detected: Value '%s' at 'attributeDefinitions.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]", d.AttributeType)
		}
		if _, dup := t.types[d.AttributeName]; dup {
			return nil, validation("Cannot have two attributes with the same name")
		}
		t.types[d.AttributeName] = d.AttributeType
	}
	switch {
	case len(in.KeySchema) == 1 && in.KeySchema[0].KeyType == "HASH":
		t.hash = in.KeySchema[0].AttributeName
	case len(in.KeySchema) == 2 && in.KeySchema[0].KeyType == "HASH" && in.KeySchema[1].KeyType == "RANGE":
		t.hash, t.rng = in.KeySchema[0].AttributeName, in.KeySchema[1].AttributeName
	default:
		return nil, validation("1 validation error detected: Invalid KeySchema: The first KeySchemaElement is not a HASH key type, or there are more than two elements")
	}
	for _, k := range in.KeySchema {
		if _, ok := t.types[k.AttributeName]; !ok {
			return nil, validation("One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [%s], AttributeDefinitions: %v", k.AttributeName, attrNames(in.AttributeDefinitions))
		}
	}
	if len(in.AttributeDefinitions) != len(in.KeySchema) {
		return nil, validation("One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions")
	}
	switch in.BillingMode {
	case "PAY_PER_REQUEST":
		if in.ProvisionedThroughput != nil {
			return nil, validation("One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
		}
	case "", "PROVISIONED":
		if in.ProvisionedThroughput == nil || in.ProvisionedThroughput.ReadCapacityUnits == nil || in.ProvisionedThroughput.WriteCapacityUnits == nil {
			return nil, validation("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED")
		}
		in.BillingMode = "PROVISIONED"
		t.tp = *in.ProvisionedThroughput
	default:
		return nil, validation("1 validation error detected: Value '%s' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]", in.BillingMode)
	}
	t.billing = in.BillingMode

	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.tables[in.TableName]; ok {
		return nil, awsfake.ClientError("ResourceInUseException", "Table already exists: %s", in.TableName)
	}
	f.nextID++
	t.id = fmt.Sprintf("00000000-0000-4000-8000-%012d", f.nextID)
	t.arn = fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", f.opts.Region, f.opts.Account, in.TableName)
	t.created = time.Now()
	t.creating = f.opts.CreatingDescribes
	f.tables[in.TableName] = t
	return map[string]any{"TableDescription": t.describe("CREATING")}, nil
}

func attrNames(ds []attributeDefinition) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.AttributeName)
	}
	return out
}

func (f *Fake) describeTable(_ *http.Request, body []byte) (any, error) {
	var in struct{ TableName string }
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tables[in.TableName]
	if t == nil {
		return nil, notFound(in.TableName)
	}
	status := t.status()
	if t.creating > 0 {
		t.creating--
	}
	return map[string]any{"Table": t.describe(status)}, nil
}

func (f *Fake) deleteTable(_ *http.Request, body []byte) (any, error) {
	var in struct{ TableName string }
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.tables[in.TableName]
	if t == nil {
		return nil, notFound(in.TableName)
	}
	if t.status() != "ACTIVE" {
		return nil, awsfake.ClientError("ResourceInUseException", "Attempt to change a resource which is still in use: Table is being created: %s", in.TableName)
	}
	delete(f.tables, in.TableName)
	return map[string]any{"TableDescription": t.describe("DELETING")}, nil
}

// activeTable returns the named table if it exists and is ACTIVE; f.mu
// must be held.
func (f *Fake) activeTable(name string) (*table, error) {
	if name == "" {
		return nil, validation("1 validation error detected: Value null at 'tableName' failed to satisfy constraint: Member must not be null")
	}
	t := f.tables[name]
	if t == nil || t.status() != "ACTIVE" {
		// DynamoDB answers a table that is not ACTIVE yet as if it did
		// not exist.
		return nil, errItemNotFound
	}
	return t, nil
}

// keyOf checks a Key parameter (exactly the key attributes) and returns
// the item key.
func (t *table) keyOf(key Item) (string, error) {
	if len(key) != len(t.keySchema) {
		return "", validation("The provided key element does not match the schema")
	}
	for _, k := range t.keySchema {
		v, ok := key[k.AttributeName]
		if !ok {
			return "", validation("The provided key element does not match the schema")
		}
		if err := t.checkKeyValue(k.AttributeName, v); err != nil {
			return "", err
		}
	}
	return t.itemKey(key), nil
}

func (t *table) checkKeyValue(name string, v Value) error {
	if err := v.validate(); err != nil {
		return err
	}
	typ, _ := v.typ()
	if typ != t.types[name] {
		return validation("One or more parameter values were invalid: Type mismatch for key %s expected: %s actual: %s", name, t.types[name], typ)
	}
	if (v.S != nil && *v.S == "") || (v.B != nil && len(v.B) == 0) {
		return validation("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: %s", name)
	}
	return nil
}

func (t *table) itemKey(it Item) string {
	k := keyString(it[t.hash])
	if t.rng != "" {
		k += "\x00" + keyString(it[t.rng])
	}
	return k
}

// checkItem validates a whole item for PutItem.
func (t *table) checkItem(it Item) error {
	for _, k := range t.keySchema {
		v, ok := it[k.AttributeName]
		if !ok {
			return validation("One or more parameter values were invalid: Missing the key %s in the item", k.AttributeName)
		}
		if err := t.checkKeyValue(k.AttributeName, v); err != nil {
			return err
		}
	}
	for _, v := range it {
		if err := v.validate(); err != nil {
			return err
		}
	}
	return nil
}

// common is the expression part of the item operations' inputs.
type common struct {
	TableName                           string
	ConditionExpression                 *string
	ExpressionAttributeNames            map[string]string
	ExpressionAttributeValues           map[string]Value
	ReturnValues                        string
	ReturnValuesOnConditionCheckFailure string
	Expected                            json.RawMessage
	ConditionalOperator                 json.RawMessage
}

func (c *common) prepare() (*exprCtx, cond, error) {
	if c.Expected != nil || c.ConditionalOperator != nil {
		return nil, nil, validation("The legacy parameters Expected and ConditionalOperator are not supported by this fake (ddbfake)")
	}
	if c.ReturnValuesOnConditionCheckFailure == "ALL_OLD" {
		return nil, nil, validation("ReturnValuesOnConditionCheckFailure ALL_OLD is not supported by this fake (ddbfake)")
	}
	for k, v := range c.ExpressionAttributeValues {
		if err := v.validate(); err != nil {
			return nil, nil, validation("ExpressionAttributeValues contains invalid value: %s for key %s", msgOf(err), k)
		}
	}
	x := newExprCtx(c.ExpressionAttributeNames, c.ExpressionAttributeValues)
	var cnd cond
	if c.ConditionExpression != nil {
		var err error
		if cnd, err = x.parseCondition(kindCondition, *c.ConditionExpression); err != nil {
			return nil, nil, err
		}
	}
	return x, cnd, nil
}

func msgOf(err error) string {
	if ae, ok := err.(*awsfake.Error); ok { //nolint:errorlint // our own unwrapped errors
		return ae.Message
	}
	return err.Error()
}

// check evaluates a condition against the current item (nil when absent).
func check(c cond, it Item) error {
	if c == nil {
		return nil
	}
	ok, err := c.eval(it)
	if err != nil {
		return validation("Invalid %s: %s", kindCondition, err.Error())
	}
	if !ok {
		return errConditionFailed
	}
	return nil
}

func (f *Fake) putItem(_ *http.Request, body []byte) (any, error) {
	var in struct {
		common
		Item Item
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	x, cnd, err := in.prepare()
	if err != nil {
		return nil, err
	}
	if err := x.finish(); err != nil {
		return nil, err
	}
	switch in.ReturnValues {
	case "", "NONE", "ALL_OLD":
	default:
		return nil, validation("ReturnValues can only be ALL_OLD or NONE")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.activeTable(in.TableName)
	if err != nil {
		return nil, err
	}
	if err := t.checkItem(in.Item); err != nil {
		return nil, err
	}
	k := t.itemKey(in.Item)
	old := t.items[k]
	if err := check(cnd, old); err != nil {
		return nil, err
	}
	t.items[k] = in.Item.clone()
	if in.ReturnValues == "ALL_OLD" && old != nil {
		return map[string]any{"Attributes": old}, nil
	}
	return struct{}{}, nil
}

func (f *Fake) getItem(_ *http.Request, body []byte) (any, error) {
	var in struct {
		TableName                string
		Key                      Item
		ConsistentRead           bool
		ProjectionExpression     *string
		AttributesToGet          json.RawMessage
		ExpressionAttributeNames map[string]string
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	if in.ProjectionExpression != nil || in.AttributesToGet != nil {
		return nil, validation("Projections are not supported by this fake (ddbfake)")
	}
	if in.ExpressionAttributeNames != nil {
		return nil, validation("ExpressionAttributeNames can only be specified when using expressions")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.activeTable(in.TableName)
	if err != nil {
		return nil, err
	}
	k, err := t.keyOf(in.Key)
	if err != nil {
		return nil, err
	}
	if it := t.items[k]; it != nil {
		return map[string]any{"Item": it.clone()}, nil
	}
	return struct{}{}, nil
}

func (f *Fake) updateItem(_ *http.Request, body []byte) (any, error) {
	var in struct {
		common
		Key              Item
		UpdateExpression *string
		AttributeUpdates json.RawMessage
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	if in.AttributeUpdates != nil {
		return nil, validation("The legacy parameter AttributeUpdates is not supported by this fake (ddbfake)")
	}
	x, cnd, err := in.prepare()
	if err != nil {
		return nil, err
	}
	var as []assignment
	if in.UpdateExpression != nil {
		if as, err = x.parseUpdate(*in.UpdateExpression); err != nil {
			return nil, err
		}
	}
	if err := x.finish(); err != nil {
		return nil, err
	}
	switch in.ReturnValues {
	case "", "NONE", "ALL_OLD", "ALL_NEW", "UPDATED_OLD", "UPDATED_NEW":
	default:
		return nil, validation("1 validation error detected: Value '%s' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: [ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]", in.ReturnValues)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.activeTable(in.TableName)
	if err != nil {
		return nil, err
	}
	k, err := t.keyOf(in.Key)
	if err != nil {
		return nil, err
	}
	for _, a := range as {
		if _, isKey := t.types[a.name]; isKey {
			return nil, validation("One or more parameter values were invalid: Cannot update attribute %s. This attribute is part of the key", a.name)
		}
	}
	old := t.items[k]
	if err := check(cnd, old); err != nil {
		return nil, err
	}
	base := old
	if base == nil {
		base = in.Key.clone()
	}
	updated, err := apply(base, as)
	if err != nil {
		return nil, err
	}
	for _, v := range updated {
		if err := v.validate(); err != nil {
			return nil, err
		}
	}
	t.items[k] = updated
	var attrs Item
	switch in.ReturnValues {
	case "ALL_OLD":
		attrs = old.clone()
	case "ALL_NEW":
		attrs = updated.clone()
	case "UPDATED_OLD", "UPDATED_NEW":
		src := updated
		if in.ReturnValues == "UPDATED_OLD" {
			src = old
		}
		attrs = Item{}
		for _, a := range as {
			if v, ok := src[a.name]; ok {
				attrs[a.name] = v
			}
		}
		attrs = attrs.clone()
	}
	if len(attrs) > 0 {
		return map[string]any{"Attributes": attrs}, nil
	}
	return struct{}{}, nil
}

func (f *Fake) deleteItem(_ *http.Request, body []byte) (any, error) {
	var in struct {
		common
		Key Item
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	x, cnd, err := in.prepare()
	if err != nil {
		return nil, err
	}
	if err := x.finish(); err != nil {
		return nil, err
	}
	switch in.ReturnValues {
	case "", "NONE", "ALL_OLD":
	default:
		return nil, validation("ReturnValues can only be ALL_OLD or NONE")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.activeTable(in.TableName)
	if err != nil {
		return nil, err
	}
	k, err := t.keyOf(in.Key)
	if err != nil {
		return nil, err
	}
	old := t.items[k]
	if err := check(cnd, old); err != nil {
		return nil, err
	}
	delete(t.items, k)
	if in.ReturnValues == "ALL_OLD" && old != nil {
		return map[string]any{"Attributes": old}, nil
	}
	return struct{}{}, nil
}

func (f *Fake) query(_ *http.Request, body []byte) (any, error) {
	var in struct {
		TableName                 string
		IndexName                 *string
		KeyConditionExpression    *string
		FilterExpression          *string
		ProjectionExpression      *string
		Select                    string
		ExpressionAttributeNames  map[string]string
		ExpressionAttributeValues map[string]Value
		ConsistentRead            bool
		ScanIndexForward          *bool
		Limit                     *int
		ExclusiveStartKey         Item
		KeyConditions             json.RawMessage
		QueryFilter               json.RawMessage
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	switch {
	case in.IndexName != nil:
		return nil, validation("Secondary indexes are not supported by this fake (ddbfake)")
	case in.KeyConditions != nil || in.QueryFilter != nil:
		return nil, validation("The legacy parameters KeyConditions and QueryFilter are not supported by this fake (ddbfake)")
	case in.ProjectionExpression != nil || (in.Select != "" && in.Select != "ALL_ATTRIBUTES"):
		return nil, validation("Projections and Select are not supported by this fake (ddbfake)")
	case in.KeyConditionExpression == nil:
		return nil, validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
	case in.Limit != nil && *in.Limit < 1:
		return nil, validation("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1", *in.Limit)
	}
	for k, v := range in.ExpressionAttributeValues {
		if err := v.validate(); err != nil {
			return nil, validation("ExpressionAttributeValues contains invalid value: %s for key %s", msgOf(err), k)
		}
	}
	x := newExprCtx(in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	kc, err := x.parseCondition(kindKey, *in.KeyConditionExpression)
	if err != nil {
		return nil, err
	}
	var filter cond
	if in.FilterExpression != nil {
		if filter, err = x.parseCondition(kindFilter, *in.FilterExpression); err != nil {
			return nil, err
		}
	}
	if err := x.finish(); err != nil {
		return nil, err
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.activeTable(in.TableName)
	if err != nil {
		return nil, err
	}
	hashVal, rangeCond, err := t.keyCondition(kc)
	if err != nil {
		return nil, err
	}
	if err := t.checkKeyValue(t.hash, hashVal); err != nil {
		return nil, err
	}
	var start string
	if in.ExclusiveStartKey != nil {
		if start, err = t.keyOf(in.ExclusiveStartKey); err != nil {
			return nil, validation("The provided starting key is invalid: %s", msgOf(err))
		}
	}
	all := t.sorted()
	if in.ScanIndexForward != nil && !*in.ScanIndexForward {
		slices.Reverse(all)
	}
	items := []Item{}
	scanned := 0
	var last Item
	started := start == ""
	for _, it := range all {
		if !equal(it[t.hash], hashVal) {
			continue
		}
		if !started {
			started = t.itemKey(it) == start
			continue
		}
		if rangeCond != nil {
			ok, err := rangeCond.eval(it)
			if err != nil {
				return nil, validation("Invalid %s: %s", kindKey, err.Error())
			}
			if !ok {
				continue
			}
		}
		scanned++
		keep := true
		if filter != nil {
			if keep, err = filter.eval(it); err != nil {
				return nil, validation("Invalid %s: %s", kindFilter, err.Error())
			}
		}
		if keep {
			items = append(items, it.clone())
		}
		if in.Limit != nil && scanned == *in.Limit {
			last = Item{t.hash: it[t.hash]}
			if t.rng != "" {
				last[t.rng] = it[t.rng]
			}
			break
		}
	}
	out := map[string]any{"Items": items, "Count": len(items), "ScannedCount": scanned}
	if last != nil {
		out["LastEvaluatedKey"] = last.clone()
	}
	return out, nil
}

// keyCondition checks a parsed KeyConditionExpression has DynamoDB's
// shape — hash key equality, AND at most one sort-key condition — and
// returns the hash value and the sort-key condition.
func (t *table) keyCondition(c cond) (Value, cond, error) {
	parts := []cond{c}
	if a, ok := c.(andCond); ok {
		parts = []cond{a.l, a.r}
	}
	var (
		hash    *Value
		rangeC  cond
		invalid = func(format string, args ...any) error {
			return validation("Invalid %s: "+format, append([]any{kindKey}, args...)...)
		}
	)
	for _, p := range parts {
		var name string
		switch p := p.(type) {
		case cmpCond:
			if p.op == "<>" {
				return Value{}, nil, invalid("Invalid operator used in KeyConditionExpression: <>")
			}
			if p.l.value != nil || p.r.value == nil {
				return Value{}, nil, invalid("The key condition must compare an attribute to a value")
			}
			name = p.l.name
			if name == t.hash {
				if p.op != "=" {
					return Value{}, nil, validation("Query key condition not supported")
				}
				if hash != nil {
					return Value{}, nil, validation("KeyConditionExpressions must only contain one condition per key")
				}
				hash = p.r.value
				continue
			}
		case betweenCond:
			if p.v.value != nil || p.lo.value == nil || p.hi.value == nil {
				return Value{}, nil, invalid("The key condition must compare an attribute to a value")
			}
			name = p.v.name
		case beginsCond:
			if p.v.value != nil || p.prefix.value == nil {
				return Value{}, nil, invalid("The key condition must compare an attribute to a value")
			}
			name = p.v.name
		case andCond:
			return Value{}, nil, validation("Conditions can be of length 1 or 2 only")
		case orCond:
			return Value{}, nil, invalid("Invalid operator used in KeyConditionExpression: OR")
		case notCond:
			return Value{}, nil, invalid("Invalid operator used in KeyConditionExpression: NOT")
		case existsCond:
			return Value{}, nil, invalid("Invalid operator used in KeyConditionExpression: attribute_exists")
		default:
			return Value{}, nil, validation("Query key condition not supported")
		}
		if name != t.rng || name == "" {
			return Value{}, nil, validation("Query condition missed key schema element")
		}
		if rangeC != nil {
			return Value{}, nil, validation("KeyConditionExpressions must only contain one condition per key")
		}
		rangeC = p
	}
	if hash == nil {
		return Value{}, nil, validation("Query condition missed key schema element: %s", t.hash)
	}
	return *hash, rangeC, nil
}
