package ddblane_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/oklog/ulid/v2"
	"go.uber.org/goleak"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/internal/lane"
	"github.com/deployerhq/deployer/internal/lane/ddblane"
	"github.com/deployerhq/deployer/internal/lane/lanetest"
	"github.com/deployerhq/deployer/test/awsfake"
	"github.com/deployerhq/deployer/test/awsfake/ddbfake"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

// tableName returns a fresh table name.
func tableName() string { return "ddblane-test-" + strings.ToLower(ulid.Make().String()) }

// fakeEndpoint serves a ddbfake on a server whose Hook is hook (may be
// nil) and returns the fake and URL.
func fakeEndpoint(t *testing.T, opts ddbfake.Options, hook func(target string, body []byte) error) (*ddbfake.Fake, string) {
	t.Helper()
	f := ddbfake.New(opts)
	s := &awsfake.Server{Hook: hook}
	s.Add(f.Service())
	return f, ddbfake.Serve(t, s)
}

// op names an operation as awsx.CountingTransport counts it.
func op(name string) string {
	r, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, "http://localhost/", nil)
	r.Header.Set("X-Amz-Target", ddbfake.TargetPrefix+"."+name)
	return awsx.Operation(r)
}

// client returns a DynamoDB client for endpoint, counting calls.
func client(t *testing.T, endpoint string, optFns ...func(*dynamodb.Options)) (*dynamodb.Client, *awsx.CountingTransport) {
	t.Helper()
	ct := &awsx.CountingTransport{Next: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(ct.Next.(*http.Transport).CloseIdleConnections)
	return dynamodb.NewFromConfig(awstest.Config(t, endpoint, &http.Client{Transport: ct, Timeout: time.Minute}), optFns...), ct
}

// newLimiter returns a limiter over a fresh table it creates with
// EnsureTable and deletes when t ends.
func newLimiter(t *testing.T, c *dynamodb.Client, opts ddblane.Options) *ddblane.Limiter {
	t.Helper()
	if opts.Table == "" {
		opts.Table = tableName()
	}
	l, err := ddblane.New(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.EnsureTable(t.Context()); err != nil {
		t.Fatalf("EnsureTable: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := l.DeleteTable(ctx); err != nil {
			t.Errorf("DeleteTable: %v", err)
		}
	})
	return l
}

func TestConformanceFake(t *testing.T) {
	_, url := fakeEndpoint(t, ddbfake.Options{}, nil)
	c, _ := client(t, url)
	l := newLimiter(t, c, ddblane.Options{})
	lanetest.Run(t, func(t *testing.T) lane.Limiter { return l })
}

// TestConformanceFakeCrossHandle alternates, call by call, between two
// Limiters on one table, as two workers do: neither's slot cache may
// stand in for the table.
func TestConformanceFakeCrossHandle(t *testing.T) {
	_, url := fakeEndpoint(t, ddbfake.Options{}, nil)
	c, _ := client(t, url)
	a := newLimiter(t, c, ddblane.Options{})
	b, err := ddblane.New(c, ddblane.Options{Table: a.Table()})
	if err != nil {
		t.Fatal(err)
	}
	lanetest.Run(t, func(t *testing.T) lane.Limiter { return &alternate{l: [2]lane.Limiter{a, b}} })
}

func TestConformanceMoto(t *testing.T) {
	ep := awstest.Endpoint(t, "dynamodb")
	c, _ := client(t, ep, func(o *dynamodb.Options) {
		// moto sends no X-Amz-Crc32; the SDK then checks bodies against 0
		// and logs a mismatch for every response.
		o.DisableValidateResponseChecksum = true
	})
	l := newLimiter(t, c, ddblane.Options{})
	lanetest.Run(t, func(t *testing.T) lane.Limiter { return l })
}

func attrDefs(name, typ string) []types.AttributeDefinition {
	return []types.AttributeDefinition{{AttributeName: &name, AttributeType: types.ScalarAttributeType(typ)}}
}

func keySchema(name string) []types.KeySchemaElement {
	return []types.KeySchemaElement{{AttributeName: &name, KeyType: types.KeyTypeHash}}
}

type alternate struct {
	l [2]lane.Limiter
	n atomic.Uint64
}

func (a *alternate) next() lane.Limiter { return a.l[a.n.Add(1)%2] }

func (a *alternate) Acquire(ctx context.Context, ln string, limit int, holder string, ttl time.Duration) (bool, error) {
	return a.next().Acquire(ctx, ln, limit, holder, ttl)
}

func (a *alternate) Renew(ctx context.Context, ln, holder string, ttl time.Duration) error {
	return a.next().Renew(ctx, ln, holder, ttl)
}

func (a *alternate) Release(ctx context.Context, ln, holder string) error {
	return a.next().Release(ctx, ln, holder)
}

func (a *alternate) Transfer(ctx context.Context, ln, from, to string, ttl time.Duration) error {
	return a.next().Transfer(ctx, ln, from, to, ttl)
}

func (a *alternate) Leases(ctx context.Context, ln string) ([]lane.Lease, error) {
	return a.next().Leases(ctx, ln)
}

func mustAcquire(t *testing.T, l lane.Limiter, ln string, limit int, holder string, want bool) {
	t.Helper()
	ok, err := l.Acquire(t.Context(), ln, limit, holder, time.Minute)
	if err != nil || ok != want {
		t.Fatalf("Acquire(%s, %d, %s) = %v, %v; want %v", ln, limit, holder, ok, err, want)
	}
}

// backends runs fn with a client of the fake and, when
// DEPLOYER_TEST_AWS_ENDPOINT provides dynamodb, of that endpoint.
func backends(t *testing.T, fn func(t *testing.T, c *dynamodb.Client)) {
	t.Run("fake", func(t *testing.T) {
		_, url := fakeEndpoint(t, ddbfake.Options{}, nil)
		c, _ := client(t, url)
		fn(t, c)
	})
	t.Run("external", func(t *testing.T) {
		c, _ := client(t, awstest.Endpoint(t, "dynamodb"), func(o *dynamodb.Options) {
			o.DisableValidateResponseChecksum = true // moto sends no X-Amz-Crc32
		})
		fn(t, c)
	})
}

func TestExpiryByClock(t *testing.T) { backends(t, testExpiryByClock) }

func testExpiryByClock(t *testing.T, c *dynamodb.Client) {
	var now atomic.Int64
	now.Store(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli())
	l := newLimiter(t, c, ddblane.Options{Now: func() time.Time { return time.UnixMilli(now.Load()) }})
	ctx := t.Context()
	mustAcquire(t, l, "ami", 1, "a", true)
	now.Add((59 * time.Second).Milliseconds())
	mustAcquire(t, l, "ami", 1, "b", false)
	now.Add(time.Second.Milliseconds())
	if err := l.Renew(ctx, "ami", "a", time.Minute); !errors.Is(err, lane.ErrNotHeld) {
		t.Fatalf("Renew at expiry: %v, want lane.ErrNotHeld", err)
	}
	mustAcquire(t, l, "ami", 1, "b", true)
	// a's re-Acquire after losing the slot is a fresh attempt: the lane is full.
	mustAcquire(t, l, "ami", 1, "a", false)
}

// holderSlots reads which holder is in which slot of the lane.
func holderSlots(f *ddbfake.Fake, table, ln string) map[string]string {
	out := map[string]string{}
	for _, it := range f.Items(table) {
		if *it["lane"].S == ln {
			out[*it["holder"].S] = *it["slot"].N
		}
	}
	return out
}

func TestLoweredLimit(t *testing.T) {
	f, url := fakeEndpoint(t, ddbfake.Options{}, nil)
	c, _ := client(t, url)
	table := tableName()
	l := newLimiter(t, c, ddblane.Options{Table: table})
	const ln = "ami"
	for _, h := range []string{"a", "b", "c"} {
		mustAcquire(t, l, ln, 3, h, true)
	}
	// The limit drops to 1: all three are still live, so nobody new gets in.
	mustAcquire(t, l, ln, 1, "d", false)
	slots := holderSlots(f, table, ln)
	var low string
	var high []string
	for h, s := range slots {
		if s == "0" {
			low = h
		} else {
			high = append(high, h)
		}
	}
	if low == "" || len(high) != 2 {
		t.Fatalf("slots %v: want one holder in slot 0 and two above", slots)
	}
	// A holder above the new limit asking again does not count as holding:
	// slot 0 is taken, so it gets false and its stray lease goes.
	mustAcquire(t, l, ln, 1, high[0], false)
	if _, still := holderSlots(f, table, ln)[high[0]]; still {
		t.Fatalf("%s still has a lease above the limit after a refused Acquire", high[0])
	}
	// The holder of slot 0 renews by acquiring.
	mustAcquire(t, l, ln, 1, low, true)
	if err := l.Release(t.Context(), ln, low); err != nil {
		t.Fatal(err)
	}
	// Slot 0 is free: exactly one newcomer gets it, although high[1] is
	// still live in slot 1 or 2.
	mustAcquire(t, l, ln, 1, "d", true)
	mustAcquire(t, l, ln, 1, "e", false)
	if got := holderSlots(f, table, ln)["d"]; got != "0" {
		t.Fatalf("d took slot %s, want 0", got)
	}
	// high[1] moves into a slot below the limit when there is one.
	mustAcquire(t, l, ln, 2, high[1], true)
	if got := holderSlots(f, table, ln)[high[1]]; got != "1" {
		t.Fatalf("%s is in slot %s at limit 2, want 1", high[1], got)
	}
}

func TestBadArguments(t *testing.T) {
	_, url := fakeEndpoint(t, ddbfake.Options{}, nil)
	c, _ := client(t, url)
	l := newLimiter(t, c, ddblane.Options{})
	for _, tc := range []struct {
		lane, holder string
		limit        int
		ttl          time.Duration
	}{
		{"", "h", 1, time.Minute},
		{"l", "", 1, time.Minute},
		{"l", "h", 0, time.Minute},
		{"l", "h", 1, 0},
	} {
		if _, err := l.Acquire(t.Context(), tc.lane, tc.limit, tc.holder, tc.ttl); err == nil {
			t.Errorf("Acquire(%+v) succeeded, want an error", tc)
		}
	}
	if _, err := ddblane.New(c, ddblane.Options{}); err == nil {
		t.Error("New without a table succeeded")
	}
	if _, err := ddblane.New(nil, ddblane.Options{Table: "x"}); err == nil {
		t.Error("New without a client succeeded")
	}
}

// TestCallsPerOperation pins the API calls of the common path: Acquire is
// one Query and one PutItem, Renew one UpdateItem, Release one Query and
// one DeleteItem.
func TestCallsPerOperation(t *testing.T) {
	_, url := fakeEndpoint(t, ddbfake.Options{}, nil)
	c, ct := client(t, url)
	l := newLimiter(t, c, ddblane.Options{})
	ctx := t.Context()
	before := ct.Counts()
	diff := func() map[string]int {
		now := ct.Counts()
		out := map[string]int{}
		for k, v := range now {
			if d := v - before[k]; d != 0 {
				out[k] = d
			}
		}
		before = now
		return out
	}
	want := func(what string, got map[string]int, exp map[string]int) {
		t.Helper()
		if len(got) != len(exp) {
			t.Fatalf("%s made calls %v, want %v", what, got, exp)
		}
		for k, v := range exp {
			if got[k] != v {
				t.Fatalf("%s made calls %v, want %v", what, got, exp)
			}
		}
	}
	mustAcquire(t, l, "x", 3, "a", true)
	want("Acquire", diff(), map[string]int{op("Query"): 1, op("PutItem"): 1})
	if err := l.Renew(ctx, "x", "a", time.Minute); err != nil {
		t.Fatal(err)
	}
	want("Renew", diff(), map[string]int{op("UpdateItem"): 1})
	mustAcquire(t, l, "x", 3, "a", true)
	want("re-Acquire", diff(), map[string]int{op("Query"): 1, op("UpdateItem"): 1})
	if err := l.Release(ctx, "x", "a"); err != nil {
		t.Fatal(err)
	}
	want("Release", diff(), map[string]int{op("Query"): 1, op("DeleteItem"): 1})
	t.Logf("calls: Acquire 2, Renew 1, re-Acquire 2, Release 2")
}

func TestEnsureTableWaitsForActive(t *testing.T) {
	_, url := fakeEndpoint(t, ddbfake.Options{CreatingDescribes: 3}, nil)
	c, ct := client(t, url)
	l := newLimiter(t, c, ddblane.Options{})
	// 1 to find it missing, 3 CREATING, 1 ACTIVE.
	if n := ct.Counts()[op("DescribeTable")]; n != 5 {
		t.Fatalf("EnsureTable made %d DescribeTable calls, want 5", n)
	}
	mustAcquire(t, l, "x", 1, "a", true)
	// Again, on an existing ACTIVE table: no CreateTable.
	if err := l.EnsureTable(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := ct.Counts()[op("CreateTable")]; n != 1 {
		t.Fatalf("%d CreateTable calls, want 1", n)
	}
}

func TestEnsureTableTimesOut(t *testing.T) {
	_, url := fakeEndpoint(t, ddbfake.Options{CreatingDescribes: 1 << 30}, nil)
	c, ct := client(t, url)
	table := tableName()
	// The table exists but never turns ACTIVE.
	if _, err := c.CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName: &table, BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: append(attrDefs("lane", "S"), attrDefs("slot", "N")...),
		KeySchema:            append(keySchema("lane"), types.KeySchemaElement{AttributeName: aws.String("slot"), KeyType: types.KeyTypeRange}),
	}); err != nil {
		t.Fatal(err)
	}
	l, err := ddblane.New(c, ddblane.Options{Table: table, EnsureTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = l.EnsureTable(t.Context())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("EnsureTable on a table stuck CREATING: %v, want a deadline error", err)
	}
	if n := ct.Counts()[op("DescribeTable")]; n < 3 {
		t.Fatalf("EnsureTable gave up after %d DescribeTable calls, want it to poll", n)
	}
}

func TestEnsureTableRefusesOtherSchema(t *testing.T) {
	_, url := fakeEndpoint(t, ddbfake.Options{}, nil)
	c, _ := client(t, url)
	table := tableName()
	_, err := c.CreateTable(t.Context(), &dynamodb.CreateTableInput{
		TableName:            &table,
		BillingMode:          "PAY_PER_REQUEST",
		AttributeDefinitions: attrDefs("id", "S"),
		KeySchema:            keySchema("id"),
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := ddblane.New(c, ddblane.Options{Table: table})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.EnsureTable(t.Context()); err == nil || !strings.Contains(err.Error(), "key schema") {
		t.Fatalf("EnsureTable over a table keyed on id: %v, want a key schema error", err)
	}
}

func TestMissingTable(t *testing.T) { backends(t, testMissingTable) }

func testMissingTable(t *testing.T, c *dynamodb.Client) {
	l, err := ddblane.New(c, ddblane.Options{Table: "no-such-table"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	_, acqErr := l.Acquire(ctx, "x", 1, "a", time.Minute)
	renewErr := l.Renew(ctx, "x", "a", time.Minute)
	relErr := l.Release(ctx, "x", "a")
	for name, err := range map[string]error{"Acquire": acqErr, "Renew": renewErr, "Release": relErr} {
		if err == nil || !strings.Contains(err.Error(), `"no-such-table" does not exist`) {
			t.Errorf("%s on a missing table: %v, want an error naming the table", name, err)
		}
		if errors.Is(err, lane.ErrNotHeld) || awsx.Throttled(err) {
			t.Errorf("%s on a missing table: %v is classified as not-held or throttled", name, err)
		}
	}
}

// throttler answers DynamoDB's throttling errors to the first n item
// operations, then lets requests through.
func throttler(code string, n int64) (func(string, []byte) error, *atomic.Int64) {
	var count atomic.Int64
	return func(target string, _ []byte) error {
		if strings.HasSuffix(target, "Table") {
			return nil
		}
		if count.Add(1) > n {
			return nil
		}
		return awsfake.ClientError(code, "throttled by the test")
	}, &count
}

func TestThrottlingRetried(t *testing.T) {
	for _, code := range []string{"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"} {
		t.Run(code, func(t *testing.T) {
			hook, count := throttler(code, 2)
			_, url := fakeEndpoint(t, ddbfake.Options{}, hook)
			c, _ := client(t, url)
			l := newLimiter(t, c, ddblane.Options{})
			mustAcquire(t, l, "x", 1, "a", true)
			if n := count.Load(); n != 4 { // 2 throttled, then Query and PutItem
				t.Fatalf("%d item requests, want 4 (2 throttled and retried)", n)
			}
		})
	}
}

func TestThrottlingExhausted(t *testing.T) {
	for _, code := range []string{"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"} {
		t.Run(code, func(t *testing.T) {
			hook, _ := throttler(code, 1<<40)
			_, url := fakeEndpoint(t, ddbfake.Options{}, hook)
			c, _ := client(t, url)
			l := newLimiter(t, c, ddblane.Options{})
			_, err := l.Acquire(t.Context(), "x", 1, "a", time.Minute)
			if !awsx.Throttled(err) {
				t.Fatalf("Acquire under throttling: %v, want an error awsx.Throttled recognises", err)
			}
			if err := l.Renew(t.Context(), "x", "a", time.Minute); !awsx.Throttled(err) || errors.Is(err, lane.ErrNotHeld) {
				t.Fatalf("Renew under throttling: %v, want throttled, not ErrNotHeld", err)
			}
		})
	}
}

// TestLostAnswers drops the answers of a third of the writes after the
// fake applied them (connection resets): the SDK retries, and a retried
// PutItem must not leave its holder with two slots.
func TestLostAnswers(t *testing.T) {
	f, url := fakeEndpoint(t, ddbfake.Options{}, nil)
	ft := &awsx.FaultTransport{Next: http.DefaultTransport.(*http.Transport).Clone(), ResetAfter: 0.35, Seed: 7,
		Only: []string{op("PutItem"), op("UpdateItem"), op("DeleteItem")}}
	t.Cleanup(ft.Next.(*http.Transport).CloseIdleConnections)
	c := dynamodb.NewFromConfig(awstest.Config(t, url, &http.Client{Transport: ft, Timeout: time.Minute}))
	table := tableName()
	l := newLimiter(t, c, ddblane.Options{Table: table})
	ctx := t.Context()
	const limit = 4
	for i := range 40 {
		holder := "h" + strconv.Itoa(i)
		ok, err := l.Acquire(ctx, "x", limit, holder, time.Minute)
		if err != nil {
			t.Fatalf("Acquire %s: %v", holder, err)
		}
		if !ok {
			t.Fatalf("Acquire %s = false on a lane with a free slot; slots %v", holder, holderSlots(f, table, "x"))
		}
		if err := l.Renew(ctx, "x", holder, time.Minute); err != nil {
			t.Fatalf("Renew %s: %v", holder, err)
		}
		if got := len(f.Items(table)); got > limit {
			t.Fatalf("%d lease items after %s acquired, want at most %d: %v", got, holder, limit, holderSlots(f, table, "x"))
		}
		if i%limit == limit-1 { // the lane is full: free it
			for j := i - limit + 1; j <= i; j++ {
				if err := l.Release(ctx, "x", "h"+strconv.Itoa(j)); err != nil {
					t.Fatal(err)
				}
			}
			if got := len(f.Items(table)); got != 0 {
				t.Fatalf("%d lease items left after every holder released: %v", got, holderSlots(f, table, "x"))
			}
		}
	}
	if ft.Faults()["reset_after"] == 0 {
		t.Fatal("no answer was lost: the test proved nothing")
	}
	t.Logf("faults: %v", ft.Faults())
}

// TestLanesDoNotStarve has 50 AMI builds, from 5 workers at once, fight
// for a lane of 3 while a deploy takes its own lane: exactly 3 builds get
// in, and the deploy is not held up.
func TestLanesDoNotStarve(t *testing.T) {
	f, url := fakeEndpoint(t, ddbfake.Options{}, nil)
	c, ct := client(t, url)
	table := tableName()
	first := newLimiter(t, c, ddblane.Options{Table: table})
	workers := []*ddblane.Limiter{first}
	for range 4 {
		w, err := ddblane.New(c, ddblane.Options{Table: table})
		if err != nil {
			t.Fatal(err)
		}
		workers = append(workers, w)
	}
	ctx := t.Context()
	start := make(chan struct{})
	var won atomic.Int64
	errs := make(chan error, 50)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			<-start
			ok, err := workers[i%len(workers)].Acquire(ctx, "ami", 3, "ami-build-"+strconv.Itoa(i), time.Hour)
			if err != nil {
				errs <- err
			}
			if ok {
				won.Add(1)
			}
		})
	}
	before := ct.Total()
	close(start)
	ok, err := workers[1].Acquire(ctx, "deploy", 1, "deploy-1", time.Hour)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Acquire: %v", err)
	}
	if err != nil || !ok {
		t.Fatalf("deploy Acquire beside 50 AMI builds = %v, %v; want true", ok, err)
	}
	if n := won.Load(); n != 3 {
		t.Fatalf("%d of 50 AMI builds got a lane of 3, want 3", n)
	}
	if got := len(holderSlots(f, table, "ami")); got != 3 {
		t.Fatalf("%d AMI lease items, want 3", got)
	}
	t.Logf("51 concurrent Acquires: %d API calls (%.1f per Acquire)", ct.Total()-before, float64(ct.Total()-before)/51)
}
