package logsfake_test

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/oklog/ulid/v2"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/test/awsfake/logsfake"
)

// Where moto 5.2.1 differs from AWS (checked by these tests with
// DEPLOYER_TEST_AWS_ENDPOINT pointing at moto_server; the differing
// checks are skipped under an external endpoint):
//   - PutLogEvents: no check of the 24-hour span or of the batch's size;
//     rejectedLogEventsInfo gives the index of the last too-old event
//     (AWS: one past it) and of the last too-new event (AWS: the first).
//   - PutRetentionPolicy accepts any number of days.
//   - GetLogEvents includes events at endTime (AWS excludes them), and its
//     forward token names the last event returned rather than the next.
//   - FilterLogEvents interleaves streams only when asked to (AWS always
//     has since 2019) and accepts logStreamNames with a prefix.
// None of these matter to cwlogs or cwjournal, whose suites pass on moto.

// env is one endpoint under test: the fake, or an external one (moto)
// whose known deviations from AWS are skipped.
type env struct {
	client *cloudwatchlogs.Client
	fake   *logsfake.Fake
	group  string
}

func (e *env) external() bool { return e.fake == nil }

func newEnv(t *testing.T, endpoint string, fake *logsfake.Fake) *env {
	t.Helper()
	cfg := awstest.Config(t, endpoint, &http.Client{Timeout: time.Minute})
	cfg.RetryMaxAttempts = 1
	e := &env{client: cloudwatchlogs.NewFromConfig(cfg), fake: fake, group: "/logsfake/" + ulid.Make().String()}
	if _, err := e.client.CreateLogGroup(t.Context(), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(e.group)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = e.client.DeleteLogGroup(context.Background(), &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(e.group)})
	})
	return e
}

// both runs fn against the fake and, when configured, the external
// endpoint.
func both(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Run("fake", func(t *testing.T) {
		fake, url := logsfake.Start(t)
		fn(t, newEnv(t, url, fake))
	})
	t.Run("external", func(t *testing.T) {
		fn(t, newEnv(t, awstest.Endpoint(t, "logs"), nil))
	})
}

func (e *env) stream(t *testing.T) string {
	t.Helper()
	name := "s-" + ulid.Make().String()
	if _, err := e.client.CreateLogStream(t.Context(), &cloudwatchlogs.CreateLogStreamInput{
		LogGroupName: aws.String(e.group), LogStreamName: aws.String(name),
	}); err != nil {
		t.Fatal(err)
	}
	return name
}

func (e *env) put(t *testing.T, stream string, events ...types.InputLogEvent) (*cloudwatchlogs.PutLogEventsOutput, error) {
	t.Helper()
	return e.client.PutLogEvents(t.Context(), &cloudwatchlogs.PutLogEventsInput{
		LogGroupName: aws.String(e.group), LogStreamName: aws.String(stream), LogEvents: events,
	})
}

func ev(ts time.Time, msg string) types.InputLogEvent {
	return types.InputLogEvent{Timestamp: aws.Int64(ts.UnixMilli()), Message: aws.String(msg)}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if awsx.Code(err) != code {
		t.Fatalf("got error %v, want %s", err, code)
	}
}

func TestGroupsAndStreams(t *testing.T) {
	both(t, func(t *testing.T, e *env) {
		_, err := e.client.CreateLogGroup(t.Context(), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(e.group)})
		wantCode(t, err, "ResourceAlreadyExistsException")
		s := e.stream(t)
		_, err = e.client.CreateLogStream(t.Context(), &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(e.group), LogStreamName: aws.String(s)})
		wantCode(t, err, "ResourceAlreadyExistsException")
		_, err = e.client.CreateLogStream(t.Context(), &cloudwatchlogs.CreateLogStreamInput{LogGroupName: aws.String(e.group + "-missing"), LogStreamName: aws.String(s)})
		wantCode(t, err, "ResourceNotFoundException")
		_, err = e.client.DeleteLogStream(t.Context(), &cloudwatchlogs.DeleteLogStreamInput{LogGroupName: aws.String(e.group), LogStreamName: aws.String("nope")})
		wantCode(t, err, "ResourceNotFoundException")
		_, err = e.client.DeleteLogGroup(t.Context(), &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(e.group + "-missing")})
		wantCode(t, err, "ResourceNotFoundException")

		s2 := e.stream(t)
		if _, err := e.put(t, s2, ev(time.Now(), "x")); err != nil {
			t.Fatal(err)
		}
		out, err := e.client.DescribeLogStreams(t.Context(), &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String(e.group)})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.LogStreams) != 2 || aws.ToString(out.LogStreams[0].LogStreamName) > aws.ToString(out.LogStreams[1].LogStreamName) {
			t.Fatalf("DescribeLogStreams: %d streams, want 2 in name order", len(out.LogStreams))
		}
		for _, ls := range out.LogStreams {
			if aws.ToString(ls.LogStreamName) == s2 && ls.LastEventTimestamp == nil {
				t.Fatalf("stream %s has events but no lastEventTimestamp", s2)
			}
			if !strings.Contains(aws.ToString(ls.Arn), ":log-stream:") {
				t.Fatalf("stream arn %q", aws.ToString(ls.Arn))
			}
		}
		if _, err := e.client.DeleteLogStream(t.Context(), &cloudwatchlogs.DeleteLogStreamInput{LogGroupName: aws.String(e.group), LogStreamName: aws.String(s)}); err != nil {
			t.Fatal(err)
		}
		out, err = e.client.DescribeLogStreams(t.Context(), &cloudwatchlogs.DescribeLogStreamsInput{LogGroupName: aws.String(e.group), LogStreamNamePrefix: aws.String(s[:6])})
		if err != nil {
			t.Fatal(err)
		}
		for _, ls := range out.LogStreams {
			if aws.ToString(ls.LogStreamName) == s {
				t.Fatalf("deleted stream %s still listed", s)
			}
		}

		if _, err := e.client.PutRetentionPolicy(t.Context(), &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String(e.group), RetentionInDays: aws.Int32(7)}); err != nil {
			t.Fatal(err)
		}
		if !e.external() { // moto accepts any number of days
			_, err = e.client.PutRetentionPolicy(t.Context(), &cloudwatchlogs.PutRetentionPolicyInput{LogGroupName: aws.String(e.group), RetentionInDays: aws.Int32(8)})
			wantCode(t, err, "InvalidParameterException")
		}
		groups, err := e.client.DescribeLogGroups(t.Context(), &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String(e.group)})
		if err != nil {
			t.Fatal(err)
		}
		if len(groups.LogGroups) != 1 || aws.ToInt32(groups.LogGroups[0].RetentionInDays) != 7 {
			t.Fatalf("DescribeLogGroups: %+v, want the group with 7 days' retention", groups.LogGroups)
		}
	})
}

// TestDescribeLogStreamsListing checks what cwjournal's List relies on:
// a prefix, name order both ways, paging (with streams created between
// pages), and the refusal of a prefix with orderBy LastEventTime.
func TestDescribeLogStreamsListing(t *testing.T) {
	both(t, func(t *testing.T, e *env) {
		var names []string
		for i := range 7 {
			names = append(names, fmt.Sprintf("jobs/%02d", i))
		}
		for _, n := range append(slices.Clone(names), "jobz", "job", "other/01") {
			if _, err := e.client.CreateLogStream(t.Context(), &cloudwatchlogs.CreateLogStreamInput{
				LogGroupName: aws.String(e.group), LogStreamName: aws.String(n),
			}); err != nil {
				t.Fatal(err)
			}
		}
		list := func(desc bool, limit int32, between func()) []string {
			var (
				got []string
				tok *string
			)
			for {
				out, err := e.client.DescribeLogStreams(t.Context(), &cloudwatchlogs.DescribeLogStreamsInput{
					LogGroupName: aws.String(e.group), LogStreamNamePrefix: aws.String("jobs/"),
					OrderBy: types.OrderByLogStreamName, Descending: aws.Bool(desc), Limit: aws.Int32(limit), NextToken: tok,
				})
				if err != nil {
					t.Fatal(err)
				}
				if len(out.LogStreams) > int(limit) {
					t.Fatalf("%d streams on a page of %d", len(out.LogStreams), limit)
				}
				for _, s := range out.LogStreams {
					got = append(got, aws.ToString(s.LogStreamName))
				}
				if out.NextToken == nil {
					return got
				}
				tok = out.NextToken
				if between != nil {
					between()
					between = nil
				}
			}
		}
		if got := list(false, 3, nil); !slices.Equal(got, names) {
			t.Fatalf("ascending: %q, want %q", got, names)
		}
		want := slices.Clone(names)
		slices.Reverse(want)
		if got := list(true, 50, nil); !slices.Equal(got, want) {
			t.Fatalf("descending: %q, want %q", got, want)
		}
		// A stream created before the next page, after the first page's
		// names (in descending order), turns up once; none repeats.
		got := list(true, 2, func() {
			if _, err := e.client.CreateLogStream(t.Context(), &cloudwatchlogs.CreateLogStreamInput{
				LogGroupName: aws.String(e.group), LogStreamName: aws.String("jobs/00a"),
			}); err != nil {
				t.Fatal(err)
			}
		})
		want = append(want[:len(want)-1], "jobs/00a", "jobs/00")
		if !slices.Equal(got, want) {
			t.Fatalf("descending by two, a stream created between pages: %q, want %q", got, want)
		}
		_, err := e.client.DescribeLogStreams(t.Context(), &cloudwatchlogs.DescribeLogStreamsInput{
			LogGroupName: aws.String(e.group), LogStreamNamePrefix: aws.String("jobs/"), OrderBy: types.OrderByLastEventTime,
		})
		wantCode(t, err, "InvalidParameterException")
		_, err = e.client.DescribeLogStreams(t.Context(), &cloudwatchlogs.DescribeLogStreamsInput{
			LogGroupName: aws.String(e.group), Limit: aws.Int32(51),
		})
		if err == nil {
			t.Fatal("DescribeLogStreams with limit 51: no error")
		}
	})
}

func TestPutValidation(t *testing.T) {
	both(t, func(t *testing.T, e *env) {
		s := e.stream(t)
		now := time.Now()
		_, err := e.put(t, s, ev(now, "b"), ev(now.Add(-time.Second), "a"))
		wantCode(t, err, "InvalidParameterException")
		_, err = e.put(t, "missing", ev(now, "a"))
		wantCode(t, err, "ResourceNotFoundException")

		out, err := e.put(t, s, ev(now.Add(-15*24*time.Hour), "old"), ev(now, "ok"), ev(now.Add(3*time.Hour), "new1"), ev(now.Add(4*time.Hour), "new2"))
		if err != nil {
			t.Fatal(err)
		}
		r := out.RejectedLogEventsInfo
		if r == nil || r.TooOldLogEventEndIndex == nil || r.TooNewLogEventStartIndex == nil {
			t.Fatalf("rejectedLogEventsInfo %+v, want too old and too new", r)
		}
		// moto reports the index of the last too-old event (AWS: exclusive
		// end) and of the last too-new one (AWS: the first).
		if !e.external() && (*r.TooOldLogEventEndIndex != 1 || *r.TooNewLogEventStartIndex != 2) {
			t.Fatalf("rejected too old before %d, too new from %d; want 1 and 2", *r.TooOldLogEventEndIndex, *r.TooNewLogEventStartIndex)
		}
		got, err := e.client.GetLogEvents(t.Context(), &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(e.group), LogStreamName: aws.String(s), StartFromHead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Events) != 1 || aws.ToString(got.Events[0].Message) != "ok" {
			t.Fatalf("stored %d events, want only the valid one", len(got.Events))
		}

		if e.external() {
			t.Log("moto does not check the 24-hour span or batch sizes: skipped")
			return
		}
		_, err = e.put(t, s, ev(now.Add(-25*time.Hour), "a"), ev(now, "b"))
		wantCode(t, err, "InvalidParameterException")
		_, err = e.put(t, s, ev(now, ""))
		wantCode(t, err, "InvalidParameterException")
		big := strings.Repeat("x", 200*1024)
		var evs []types.InputLogEvent
		for range 6 {
			evs = append(evs, ev(now, big))
		}
		_, err = e.put(t, s, evs...)
		wantCode(t, err, "InvalidParameterException")
		_, err = e.put(t, s, ev(now, strings.Repeat("x", logsfake.MaxEventBytes)))
		wantCode(t, err, "InvalidParameterException")
		evs = nil
		for range logsfake.MaxBatchEvents + 1 {
			evs = append(evs, ev(now, "x"))
		}
		_, err = e.put(t, s, evs...)
		wantCode(t, err, "InvalidParameterException")
	})
}

func TestGetLogEventsTokens(t *testing.T) {
	both(t, func(t *testing.T, e *env) {
		s := e.stream(t)
		base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
		var evs []types.InputLogEvent
		for i := range 25 {
			evs = append(evs, ev(base.Add(time.Duration(i)*time.Second), fmt.Sprint("m", i)))
		}
		if _, err := e.put(t, s, evs...); err != nil {
			t.Fatal(err)
		}
		get := func(in cloudwatchlogs.GetLogEventsInput) *cloudwatchlogs.GetLogEventsOutput {
			t.Helper()
			in.LogGroupName, in.LogStreamName = aws.String(e.group), aws.String(s)
			out, err := e.client.GetLogEvents(t.Context(), &in)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		msgs := func(out *cloudwatchlogs.GetLogEventsOutput) string {
			var m []string
			for _, e := range out.Events {
				m = append(m, aws.ToString(e.Message))
			}
			return strings.Join(m, " ")
		}

		// Forward from the head in pages of 10; at the end the token sent
		// comes back.
		var all []string
		var tok *string
		for calls := 0; ; calls++ {
			if calls > 5 {
				t.Fatal("paging does not end")
			}
			out := get(cloudwatchlogs.GetLogEventsInput{StartFromHead: aws.Bool(true), Limit: aws.Int32(10), NextToken: tok})
			if m := msgs(out); m != "" {
				all = append(all, m)
			}
			if !strings.HasPrefix(aws.ToString(out.NextForwardToken), "f/") || !strings.HasPrefix(aws.ToString(out.NextBackwardToken), "b/") {
				t.Fatalf("tokens %q %q", aws.ToString(out.NextForwardToken), aws.ToString(out.NextBackwardToken))
			}
			if tok != nil && aws.ToString(out.NextForwardToken) == *tok {
				if len(out.Events) != 0 {
					t.Fatal("events with an unchanged token")
				}
				break
			}
			tok = out.NextForwardToken
		}
		if got := strings.Join(all, " "); got != msgs(&cloudwatchlogs.GetLogEventsOutput{Events: outEvents(25)}) {
			t.Fatalf("paged forward: %s", got)
		}

		// Without startFromHead: the latest events; backward from there.
		out := get(cloudwatchlogs.GetLogEventsInput{Limit: aws.Int32(5)})
		if m := msgs(out); m != "m20 m21 m22 m23 m24" {
			t.Fatalf("latest 5: %s", m)
		}
		out = get(cloudwatchlogs.GetLogEventsInput{Limit: aws.Int32(5), NextToken: out.NextBackwardToken})
		if m := msgs(out); m != "m15 m16 m17 m18 m19" {
			t.Fatalf("5 before the latest: %s", m)
		}

		// A time range: startTime inclusive, endTime exclusive.
		out = get(cloudwatchlogs.GetLogEventsInput{StartFromHead: aws.Bool(true),
			StartTime: aws.Int64(base.Add(3 * time.Second).UnixMilli()), EndTime: aws.Int64(base.Add(6 * time.Second).UnixMilli())})
		want := "m3 m4 m5"
		if e.external() {
			want = "m3 m4 m5 m6" // moto includes endTime
		}
		if m := msgs(out); m != want {
			t.Fatalf("events in [3s, 6s): %s, want %s", m, want)
		}

		_, err := e.client.GetLogEvents(t.Context(), &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(e.group), LogStreamName: aws.String("missing")})
		wantCode(t, err, "ResourceNotFoundException")
		_, err = e.client.GetLogEvents(t.Context(), &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(e.group + "-missing"), LogStreamName: aws.String(s)})
		wantCode(t, err, "ResourceNotFoundException")
		_, err = e.client.GetLogEvents(t.Context(), &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(e.group), LogStreamName: aws.String(s), NextToken: aws.String("bogus")})
		wantCode(t, err, "InvalidParameterException")
	})
}

func outEvents(n int) []types.OutputLogEvent {
	var out []types.OutputLogEvent
	for i := range n {
		out = append(out, types.OutputLogEvent{Message: aws.String(fmt.Sprint("m", i))})
	}
	return out
}

func TestFilterLogEvents(t *testing.T) {
	both(t, func(t *testing.T, e *env) {
		a, b, c := e.stream(t), e.stream(t), e.stream(t)
		base := time.Now().Add(-time.Hour)
		for i, s := range []string{a, b, c} {
			if _, err := e.put(t, s, ev(base.Add(time.Duration(i)*time.Second), "first "+s), ev(base.Add(time.Duration(10+i)*time.Second), "second "+s)); err != nil {
				t.Fatal(err)
			}
		}
		var got []types.FilteredLogEvent
		var tok *string
		for {
			out, err := e.client.FilterLogEvents(t.Context(), &cloudwatchlogs.FilterLogEventsInput{
				LogGroupName: aws.String(e.group), LogStreamNames: []string{a, c}, Limit: aws.Int32(3), NextToken: tok,
			})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, out.Events...)
			if out.NextToken == nil {
				break
			}
			tok = out.NextToken
		}
		want := []string{"first " + a, "first " + c, "second " + a, "second " + c}
		if e.external() {
			// moto interleaves streams only when asked (interleaved=true);
			// AWS always has since 2019.
			slices.SortFunc(got, func(x, y types.FilteredLogEvent) int {
				return cmp.Compare(aws.ToString(x.Message), aws.ToString(y.Message))
			})
			slices.Sort(want)
		}
		if len(got) != len(want) {
			t.Fatalf("got %d events, want %d", len(got), len(want))
		}
		ids := map[string]bool{}
		for i, ev := range got {
			if aws.ToString(ev.Message) != want[i] {
				t.Fatalf("event %d: %q, want %q", i, aws.ToString(ev.Message), want[i])
			}
			if id := aws.ToString(ev.EventId); id == "" || ids[id] {
				t.Fatalf("event %d: event id %q missing or repeated", i, id)
			}
			ids[aws.ToString(ev.EventId)] = true
			if aws.ToString(ev.LogStreamName) == "" {
				t.Fatalf("event %d has no logStreamName", i)
			}
		}
		if e.external() {
			return // moto does not refuse both logStreamNames and a prefix
		}
		_, err := e.client.FilterLogEvents(t.Context(), &cloudwatchlogs.FilterLogEventsInput{
			LogGroupName: aws.String(e.group), LogStreamNames: []string{a}, LogStreamNamePrefix: aws.String("s-"),
		})
		wantCode(t, err, "InvalidParameterException")
		out, err := e.client.FilterLogEvents(t.Context(), &cloudwatchlogs.FilterLogEventsInput{
			LogGroupName: aws.String(e.group), FilterPattern: aws.String(`"second"`),
		})
		if err != nil || len(out.Events) != 3 {
			t.Fatalf("filter pattern: %d events, %v; want 3", len(out.Events), err)
		}
	})
}

func TestAppendAndHook(t *testing.T) {
	fake, url := logsfake.Start(t)
	e := newEnv(t, url, fake)
	now := time.Now().Truncate(time.Millisecond)
	fake.Append("/ecs/new-group", "task/1", logsfake.Event{Time: now.Add(time.Second), Message: "b"}, logsfake.Event{Time: now, Message: "a"})
	got := fake.Events("/ecs/new-group", "task/1")
	if len(got) != 2 || got[0].Message != "a" || !got[0].Time.Equal(now) {
		t.Fatalf("Events after Append: %+v", got)
	}
	if fake.Events("/ecs/new-group", "nope") != nil {
		t.Fatal("Events of a missing stream is not nil")
	}
	fake.SetHook(func(op string) error {
		if op == "DescribeLogGroups" {
			return logsfake.Throttling()
		}
		return nil
	})
	_, err := e.client.DescribeLogGroups(t.Context(), &cloudwatchlogs.DescribeLogGroupsInput{})
	wantCode(t, err, "ThrottlingException")
	if !awsx.Throttled(err) {
		t.Fatalf("%v is not classified as throttling", err)
	}
	fake.SetHook(nil)
	out, err := e.client.DescribeLogGroups(t.Context(), &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/ecs/")})
	if err != nil || len(out.LogGroups) != 1 {
		t.Fatalf("DescribeLogGroups after Append: %v, %v", out, err)
	}
}
