package logsfake_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"go.uber.org/goleak"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/logshipper"
	"github.com/deployerhq/deployer/test/awsfake/logsfake"
)

// TestMain checks that the subscriptions' delivery goroutines end with
// their fakes. Idle keep-alive connections to closed test servers go
// away on their own.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

const lambdaARN = "arn:aws:lambda:us-east-1:123456789012:function:deployer-logshipper"

// lambda is a destination that decodes what it receives as the
// logshipper does, and records it.
type lambda struct {
	mu        sync.Mutex
	got       []events.CloudwatchLogsData
	fail      int // invocations still to fail
	failCalls int
}

func (l *lambda) handle(_ context.Context, ev events.CloudwatchLogsEvent) error {
	d, err := logshipper.DecodeSubscription(ev.AWSLogs.Data)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail > 0 && d.MessageType == logshipper.MessageData {
		l.fail--
		l.failCalls++
		return errors.New("injected failure")
	}
	l.got = append(l.got, d)
	return nil
}

func (l *lambda) deliveries() []events.CloudwatchLogsData {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.got)
}

// messages are the data messages' events' messages, in delivery order.
func (l *lambda) messages() []string {
	var out []string
	for _, d := range l.deliveries() {
		if d.MessageType != logshipper.MessageData {
			continue
		}
		for _, e := range d.LogEvents {
			out = append(out, e.Message)
		}
	}
	return out
}

func subscribed(t *testing.T, d logsfake.Delivery, pattern string) (*env, *lambda) {
	t.Helper()
	fake, url := logsfake.Start(t)
	fake.SetDelivery(d)
	l := &lambda{}
	fake.SetDestination(lambdaARN, l.handle)
	e := newEnv(t, url, fake)
	if _, err := e.client.PutSubscriptionFilter(t.Context(), &cloudwatchlogs.PutSubscriptionFilterInput{
		LogGroupName: aws.String(e.group), FilterName: aws.String("deployer-logshipper"),
		FilterPattern: aws.String(pattern), DestinationArn: aws.String(lambdaARN),
	}); err != nil {
		t.Fatal(err)
	}
	return e, l
}

func put(t *testing.T, e *env, stream string, msgs ...string) {
	t.Helper()
	_, err := e.client.CreateLogStream(t.Context(), &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(e.group), LogStreamName: aws.String(stream)})
	if err != nil && awsx.Code(err) != "ResourceAlreadyExistsException" {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	evs := make([]types.InputLogEvent, len(msgs))
	for i, m := range msgs {
		evs[i] = types.InputLogEvent{Message: aws.String(m), Timestamp: aws.Int64(now)}
	}
	if _, err := e.client.PutLogEvents(t.Context(), &cloudwatchlogs.PutLogEventsInput{LogGroupName: aws.String(e.group), LogStreamName: aws.String(stream), LogEvents: evs}); err != nil {
		t.Fatal(err)
	}
}

func waitDelivered(t *testing.T, e *env) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := e.fake.WaitDelivered(ctx); err != nil {
		t.Fatalf("deliveries still pending: %+v", e.fake.DeliveryStats())
	}
}

// A subscription filter is put, described and deleted with AWS's shapes;
// putting it sends the destination a CONTROL_MESSAGE; a group takes two.
func TestSubscriptionFilterAPI(t *testing.T) {
	e, l := subscribed(t, logsfake.Delivery{}, "")
	if d := l.deliveries(); len(d) != 1 || d[0].MessageType != logshipper.MessageControl || d[0].Owner != "CloudwatchLogs" ||
		len(d[0].LogEvents) != 1 || d[0].LogEvents[0].Message != logsfake.ControlMessage {
		t.Fatalf("deliveries on put: %+v, want one control message", d)
	}
	out, err := e.client.DescribeSubscriptionFilters(t.Context(), &cloudwatchlogs.DescribeSubscriptionFiltersInput{LogGroupName: aws.String(e.group)})
	if err != nil || len(out.SubscriptionFilters) != 1 {
		t.Fatalf("DescribeSubscriptionFilters: %+v, %v", out, err)
	}
	sf := out.SubscriptionFilters[0]
	if aws.ToString(sf.FilterName) != "deployer-logshipper" || aws.ToString(sf.DestinationArn) != lambdaARN ||
		aws.ToString(sf.LogGroupName) != e.group || sf.Distribution != types.DistributionByLogStream || aws.ToInt64(sf.CreationTime) == 0 {
		t.Errorf("filter %+v", sf)
	}
	putFilter := func(name, group, dest string) error {
		_, err := e.client.PutSubscriptionFilter(t.Context(), &cloudwatchlogs.PutSubscriptionFilterInput{
			LogGroupName: aws.String(group), FilterName: aws.String(name), FilterPattern: aws.String(""), DestinationArn: aws.String(dest)})
		return err
	}
	if err := putFilter("deployer-logshipper", e.group, lambdaARN); err != nil {
		t.Errorf("putting the filter again (an update): %v", err)
	}
	if err := putFilter("second", e.group, lambdaARN); err != nil {
		t.Errorf("a second filter: %v", err)
	}
	if err := putFilter("third", e.group, lambdaARN); awsx.Code(err) != "LimitExceededException" {
		t.Errorf("a third filter: %v, want LimitExceededException", err)
	}
	if err := putFilter("second", e.group, "arn:aws:lambda:us-east-1:123456789012:function:nope"); awsx.Code(err) != "InvalidParameterException" {
		t.Errorf("a destination that cannot be invoked: %v, want InvalidParameterException", err)
	}
	if err := putFilter("x", "/no/such/group", lambdaARN); awsx.Code(err) != "ResourceNotFoundException" {
		t.Errorf("a missing group: %v, want ResourceNotFoundException", err)
	}
	if _, err := e.client.DeleteSubscriptionFilter(t.Context(), &cloudwatchlogs.DeleteSubscriptionFilterInput{
		LogGroupName: aws.String(e.group), FilterName: aws.String("second")}); err != nil {
		t.Errorf("DeleteSubscriptionFilter: %v", err)
	}
	if _, err := e.client.DeleteSubscriptionFilter(t.Context(), &cloudwatchlogs.DeleteSubscriptionFilterInput{
		LogGroupName: aws.String(e.group), FilterName: aws.String("second")}); awsx.Code(err) != "ResourceNotFoundException" {
		t.Errorf("deleting a deleted filter: %v, want ResourceNotFoundException", err)
	}
	if st := e.fake.DeliveryStats(); st.Control != 3 {
		t.Errorf("control messages %d, want one per put (3)", st.Control)
	}
}

// Events of the group reach the destination once, in order, in batches
// of one log stream, with the ids FilterLogEvents gives them, whether
// they were put through the API or appended by another fake; the filter
// pattern is honoured.
func TestSubscriptionDeliversInOrder(t *testing.T) {
	e, l := subscribed(t, logsfake.Delivery{MaxBatchEvents: 7}, "keep")
	var want []string
	for i := range 20 {
		msg := fmt.Sprintf("keep %d", i)
		want = append(want, msg)
		put(t, e, "a/b/task1", msg, fmt.Sprintf("drop %d", i))
	}
	e.fake.Append(e.group, "a/b/task2", logsfake.Event{Time: time.Now(), Message: "keep appended"})
	waitDelivered(t, e)
	var task1 []string
	ids := map[string]string{}
	for _, d := range l.deliveries()[1:] {
		if d.LogGroup != e.group || d.Owner != logsfake.Account || !slices.Equal(d.SubscriptionFilters, []string{"deployer-logshipper"}) {
			t.Errorf("delivery %+v", d)
		}
		if len(d.LogEvents) > 7 {
			t.Errorf("a batch of %d events, more than MaxBatchEvents", len(d.LogEvents))
		}
		for _, ev := range d.LogEvents {
			ids[ev.Message] = ev.ID
			if d.LogStream == "a/b/task1" {
				task1 = append(task1, ev.Message)
			}
		}
	}
	if !slices.Equal(task1, want) {
		t.Fatalf("task1's delivered events %q, want %q", task1, want)
	}
	if _, ok := ids["keep appended"]; !ok {
		t.Errorf("the appended event was not delivered")
	}
	fl, err := e.client.FilterLogEvents(t.Context(), &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(e.group), FilterPattern: aws.String("keep")})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range fl.Events {
		if ids[aws.ToString(ev.Message)] != aws.ToString(ev.EventId) {
			t.Errorf("event %q: delivered with id %s, FilterLogEvents says %s", aws.ToString(ev.Message), ids[aws.ToString(ev.Message)], aws.ToString(ev.EventId))
		}
	}
	if st := e.fake.DeliveryStats(); st.Events != 21 || st.Duplicated+st.Reordered+st.Late+st.Retries+st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
}

// Duplicated, reordered and late deliveries: every event arrives, some
// more than once, some after later ones.
func TestSubscriptionDeliveryFaults(t *testing.T) {
	t.Run("duplicated", func(t *testing.T) {
		e, l := subscribed(t, logsfake.Delivery{Duplicate: 1, Seed: 1}, "")
		for i := range 5 {
			put(t, e, "a/b/t", fmt.Sprint(i))
			waitDelivered(t, e) // one batch per put
		}
		if got := l.messages(); len(got) != 10 || !slices.Equal(dedupe(got), []string{"0", "1", "2", "3", "4"}) {
			t.Errorf("delivered %q, want each of 0..4 twice", got)
		}
		if st := e.fake.DeliveryStats(); st.Duplicated != 5 || st.Batches != 10 {
			t.Errorf("stats %+v", st)
		}
	})
	t.Run("late", func(t *testing.T) {
		const lateBy = 300 * time.Millisecond
		e, l := subscribed(t, logsfake.Delivery{Late: 1, LateBy: lateBy, Seed: 2}, "")
		begin := time.Now()
		put(t, e, "a/b/t", "late")
		waitDelivered(t, e)
		if d := time.Since(begin); d < lateBy {
			t.Errorf("a late batch delivered after %s, before %s", d, lateBy)
		}
		if got := l.messages(); !slices.Equal(got, []string{"late"}) {
			t.Errorf("delivered %q", got)
		}
	})
	t.Run("reordered", func(t *testing.T) {
		// One event a batch, half of them held back up to 200ms.
		e, l := subscribed(t, logsfake.Delivery{MaxBatchEvents: 1, Reorder: 0.5, ReorderBy: 200 * time.Millisecond, Seed: 3}, "")
		var want []string
		for i := range 20 {
			want = append(want, fmt.Sprintf("%02d", i))
		}
		put(t, e, "a/b/t", want...)
		waitDelivered(t, e)
		got := l.messages()
		if slices.Equal(got, want) || !slices.Equal(slices.Sorted(slices.Values(got)), want) {
			t.Errorf("delivered %q: want all of them, not in order", got)
		}
		if st := e.fake.DeliveryStats(); st.Reordered == 0 || st.Batches != 20 {
			t.Errorf("stats %+v", st)
		}
	})
}

func dedupe(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// A failed invocation is retried twice, as Lambda retries an asynchronous
// one, then dropped.
func TestSubscriptionRetries(t *testing.T) {
	e, l := subscribed(t, logsfake.Delivery{RetryDelay: time.Millisecond}, "")
	l.fail = 2
	put(t, e, "a/b/t", "third time lucky")
	waitDelivered(t, e)
	if got := l.messages(); !slices.Equal(got, []string{"third time lucky"}) {
		t.Errorf("delivered %q", got)
	}
	l.mu.Lock()
	l.fail = 3
	l.mu.Unlock()
	put(t, e, "a/b/t", "never")
	waitDelivered(t, e)
	if st := e.fake.DeliveryStats(); st.Retries != 4 || st.Dropped != 1 || st.Batches != 1 {
		t.Errorf("stats %+v, want 4 retries, 1 dropped, 1 delivered", st)
	}
}
