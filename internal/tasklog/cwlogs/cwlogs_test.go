package cwlogs_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/oklog/ulid/v2"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/internal/tasklog"
	"github.com/deployerhq/deployer/internal/tasklog/cwlogs"
	"github.com/deployerhq/deployer/internal/tasklog/tasklogtest"
	"github.com/deployerhq/deployer/schemas"
	"github.com/deployerhq/deployer/test/awsfake"
	"github.com/deployerhq/deployer/test/awsfake/logsfake"
)

const prefix = "deployer/deployer/"

// backend is a CloudWatch Logs endpoint with a log group for the test.
type backend struct {
	fake    *logsfake.Fake // nil for an external endpoint
	client  *cloudwatchlogs.Client
	counter *awsx.CountingTransport
	group   string
}

func newBackend(tb testing.TB, endpoint string, fake *logsfake.Fake) *backend {
	tb.Helper()
	counter := &awsx.CountingTransport{}
	cfg := awstest.Config(tb, endpoint, &http.Client{Transport: counter, Timeout: time.Minute})
	b := &backend{
		fake:    fake,
		client:  cloudwatchlogs.NewFromConfig(cfg),
		counter: counter,
		group:   "/deployer/tasks-" + ulid.Make().String(),
	}
	if _, err := b.client.CreateLogGroup(context.Background(), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String(b.group)}); err != nil {
		tb.Fatalf("creating log group: %v", err)
	}
	tb.Cleanup(func() {
		_, _ = b.client.DeleteLogGroup(context.Background(), &cloudwatchlogs.DeleteLogGroupInput{LogGroupName: aws.String(b.group)})
	})
	return b
}

func fakeBackend(tb testing.TB) *backend {
	tb.Helper()
	fake, url := logsfake.Start(tb)
	return newBackend(tb, url, fake)
}

func (b *backend) source(tb testing.TB) *cwlogs.Source {
	tb.Helper()
	src, err := cwlogs.New(b.client, cwlogs.Options{LogGroup: b.group, StreamPrefix: prefix})
	if err != nil {
		tb.Fatal(err)
	}
	return src
}

// write puts lines into the task's stream the way the awslogs driver
// does: one event per line, the line's time, batches within
// PutLogEvents' limits. The message ends with a newline (which Read
// removes), so empty lines can be written too.
func (b *backend) write(ctx context.Context, taskID string, lines []schemas.LogLine) error {
	stream := prefix + taskID
	_, err := b.client.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{
		LogGroupName: aws.String(b.group), LogStreamName: aws.String(stream),
	})
	if err != nil && !awsx.HasCode(err, "ResourceAlreadyExistsException") {
		return fmt.Errorf("creating log stream %s: %w", stream, err)
	}
	const maxEvents, maxBytes, overhead = 10000, 1048576, 26
	var batch []types.InputLogEvent
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		out, err := b.client.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{
			LogGroupName: aws.String(b.group), LogStreamName: aws.String(stream), LogEvents: batch,
		})
		if err != nil {
			return fmt.Errorf("putting %d events into %s: %w", len(batch), stream, err)
		}
		if r := out.RejectedLogEventsInfo; r != nil {
			return fmt.Errorf("putting %d events into %s: rejected %+v", len(batch), stream, *r)
		}
		batch, size = nil, 0
		return nil
	}
	for _, l := range lines {
		msg := l.Text + "\n"
		n := len(msg) + overhead
		if len(batch) == maxEvents || size+n > maxBytes ||
			(len(batch) > 0 && l.Time.Sub(time.UnixMilli(*batch[0].Timestamp)) > 23*time.Hour) {
			if err := flush(); err != nil {
				return err
			}
		}
		batch = append(batch, types.InputLogEvent{Message: aws.String(msg), Timestamp: aws.Int64(l.Time.UnixMilli())})
		size += n
	}
	return flush()
}

func (b *backend) harness(t *testing.T) tasklogtest.Harness {
	return tasklogtest.Harness{Source: b.source(t), Write: b.write}
}

func TestConformanceFake(t *testing.T) {
	b := fakeBackend(t)
	tasklogtest.Run(t, b.harness)
}

// TestConformanceExternal runs the suite against DEPLOYER_TEST_AWS_ENDPOINT
// (moto, LocalStack or a real account's proxy).
func TestConformanceExternal(t *testing.T) {
	b := newBackend(t, awstest.Endpoint(t, "logs"), nil)
	tasklogtest.Run(t, b.harness)
}

func lines(from, to int) []schemas.LogLine {
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	var out []schemas.LogLine
	for s := from; s <= to; s++ {
		out = append(out, schemas.LogLine{Seq: int64(s), Time: base.Add(time.Duration(s) * time.Millisecond), Text: fmt.Sprintf("line %d", s)})
	}
	return out
}

func TestMissingGroupIsNotFound(t *testing.T) {
	b := fakeBackend(t)
	src, err := cwlogs.New(b.client, cwlogs.Options{LogGroup: "/no/such/group", StreamPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Read(t.Context(), "abc", 0, 10)
	if !errors.Is(err, tasklog.ErrNotFound) {
		t.Fatalf("Read from a missing group: %v, want tasklog.ErrNotFound", err)
	}
	if awsx.Code(err) != "ResourceNotFoundException" {
		t.Fatalf("the AWS error is not kept: %v", err)
	}
}

func TestEmptyStreamIsNotFound(t *testing.T) {
	b := fakeBackend(t)
	b.fake.Append(b.group, prefix+"empty")
	if _, err := b.source(t).Read(t.Context(), "empty", 0, 10); !errors.Is(err, tasklog.ErrNotFound) {
		t.Fatalf("Read of an empty stream: %v, want tasklog.ErrNotFound", err)
	}
}

func TestThrottling(t *testing.T) {
	b := fakeBackend(t)
	if err := b.write(t.Context(), "t1", lines(1, 5)); err != nil {
		t.Fatal(err)
	}
	src := b.source(t)

	// A burst of throttling is retried by the SDK.
	var throttles atomic.Int32
	throttles.Store(2)
	b.fake.SetHook(func(op string) error {
		if op == "GetLogEvents" && throttles.Add(-1) >= 0 {
			return logsfake.Throttling()
		}
		return nil
	})
	b.counter.Reset()
	got, err := src.Read(t.Context(), "t1", 0, 10)
	if err != nil || len(got) != 5 {
		t.Fatalf("Read through 2 throttles: %d lines, %v", len(got), err)
	}
	if n := b.counter.Total("logs:GetLogEvents"); n < 3 {
		t.Fatalf("%d GetLogEvents calls, want the 2 throttled ones retried", n)
	}

	// Throttling that outlasts the retries is ErrThrottled.
	b.fake.SetHook(func(op string) error { return logsfake.Throttling() })
	b.counter.Reset()
	_, err = src.Read(t.Context(), "t1", 0, 10)
	if !errors.Is(err, tasklog.ErrThrottled) {
		t.Fatalf("Read while throttled: %v, want tasklog.ErrThrottled", err)
	}
	if n := b.counter.Total("logs:GetLogEvents"); n < 2 {
		t.Fatalf("%d GetLogEvents calls, want retries before giving up", n)
	}
}

// TestDenied: a read IAM refuses (AccessDeniedException, as CloudWatch
// Logs answers a caller without logs:GetLogEvents) is tasklog.ErrDenied,
// not retried.
func TestDenied(t *testing.T) {
	b := fakeBackend(t)
	if err := b.write(t.Context(), "t1", lines(1, 5)); err != nil {
		t.Fatal(err)
	}
	b.fake.SetHook(func(op string) error {
		if op == "GetLogEvents" {
			return awsfake.ClientError("AccessDeniedException", "User is not authorized to perform: logs:GetLogEvents")
		}
		return nil
	})
	b.counter.Reset()
	_, err := b.source(t).Read(t.Context(), "t1", 0, 10)
	if !errors.Is(err, tasklog.ErrDenied) {
		t.Fatalf("Read refused by IAM: %v, want tasklog.ErrDenied", err)
	}
	if n := b.counter.Total("logs:GetLogEvents"); n != 1 {
		t.Fatalf("%d GetLogEvents calls, want 1: a refusal is not retried", n)
	}
}

// TestResume checks that a Read continuing where the last one stopped
// starts from the remembered token, not from the head, and that reads
// spanning several GetLogEvents pages see every line once.
func TestResume(t *testing.T) {
	b := fakeBackend(t)
	const n = 25000
	if err := b.write(t.Context(), "big", lines(1, n)); err != nil {
		t.Fatal(err)
	}
	src := b.source(t)
	calls := func() int { return b.counter.Total("logs:GetLogEvents") }

	// One read spanning three pages (10,000 events each at most).
	b.counter.Reset()
	all, err := src.Read(t.Context(), "big", 0, n+10)
	if err != nil {
		t.Fatal(err)
	}
	checkSeqs(t, all, 1, n)
	if got := calls(); got != 4 { // 10,000 + 10,000 + 5,000 + the empty page that ends the stream
		t.Fatalf("reading %d lines took %d GetLogEvents calls, want 4", n, got)
	}

	// A fresh source pages through the stream by 1000s: one call each.
	src = b.source(t)
	b.counter.Reset()
	var after int64
	for after < 5000 {
		page, err := src.Read(t.Context(), "big", after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		checkSeqs(t, page, after+1, after+1000)
		after += 1000
	}
	if got := calls(); got != 5 {
		t.Fatalf("5 reads of 1000 lines each took %d GetLogEvents calls, want 5 (resumed, not from the head)", got)
	}

	// A gap fill a little further on skips from the token, not the head.
	b.counter.Reset()
	page, err := src.Read(t.Context(), "big", 5500, 10)
	if err != nil {
		t.Fatal(err)
	}
	checkSeqs(t, page, 5501, 5510)
	if got := calls(); got != 1 {
		t.Fatalf("a gap fill after the last read took %d calls, want 1", got)
	}

	// Reading before the remembered position starts at the head and is
	// still right.
	page, err = src.Read(t.Context(), "big", 10, 5)
	if err != nil {
		t.Fatal(err)
	}
	checkSeqs(t, page, 11, 15)

	// The end of the stream: the token comes back unchanged; the lines
	// written later are read from there.
	b.counter.Reset()
	page, err = src.Read(t.Context(), "big", 5510, n)
	if err != nil {
		t.Fatal(err)
	}
	checkSeqs(t, page, 5511, n)
	if err := b.write(t.Context(), "big", lines(n+1, n+3)); err != nil {
		t.Fatal(err)
	}
	b.counter.Reset()
	page, err = src.Read(t.Context(), "big", n, 100)
	if err != nil {
		t.Fatal(err)
	}
	checkSeqs(t, page, n+1, n+3)
	if got := calls(); got != 2 { // the new events, then the unchanged token
		t.Fatalf("reading 3 new lines at the end took %d calls, want 2", got)
	}
}

func TestTaskARN(t *testing.T) {
	b := fakeBackend(t)
	if err := b.write(t.Context(), "0123abcd", lines(1, 2)); err != nil {
		t.Fatal(err)
	}
	got, err := b.source(t).Read(t.Context(), "arn:aws:ecs:us-east-1:123456789012:task/cluster/0123abcd", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	checkSeqs(t, got, 1, 2)
}

func TestTrailingNewline(t *testing.T) {
	b := fakeBackend(t)
	now := time.Now()
	b.fake.Append(b.group, prefix+"nl",
		logsfake.Event{Time: now, Message: "no newline"},
		logsfake.Event{Time: now, Message: "one\n"},
		logsfake.Event{Time: now, Message: "two\n\n"},
		logsfake.Event{Time: now, Message: "\n"},
	)
	got, err := b.source(t).Read(t.Context(), "nl", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"no newline", "one", "two\n", ""}
	if len(got) != len(want) {
		t.Fatalf("got %d lines, want %d", len(got), len(want))
	}
	for i, l := range got {
		if l.Text != want[i] {
			t.Errorf("line %d: %q, want %q", l.Seq, l.Text, want[i])
		}
	}
}

// TestTaskRecords: a stream written by deployer-task gives each record's
// own sequence number and part, the end record last; a damaged record is
// left out rather than numbered by its position; a read after a seq
// starts at the next line whatever its parts.
func TestTaskRecords(t *testing.T) {
	b := fakeBackend(t)
	const job = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"
	now := time.Now()
	var evs []logsfake.Event
	for _, r := range []schemas.TaskRecord{
		{Seq: 1, Text: "one"},
		{Seq: 2, Part: 1, More: true, Text: "t"},
		{Seq: 2, Part: 2, Text: "wo"},
		{Seq: 3, Text: "three"},
		{Seq: 4, End: &schemas.LogEnd{Lines: 3, ExitCode: new(int)}},
	} {
		r.JobID, r.Attempt, r.Time = job, 1, now
		raw, err := r.Encode()
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, logsfake.Event{Time: now, Message: string(raw) + "\n"})
		if r.Seq == 3 { // a damaged record before the third line's
			evs = append(evs[:len(evs)-1], logsfake.Event{Time: now, Message: `{"schema":"task_record/v1","seq":`}, evs[len(evs)-1])
		}
	}
	b.fake.Append(b.group, prefix+"framed", evs...)
	src := b.source(t)
	got, err := src.Read(t.Context(), "framed", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, l := range got {
		keys = append(keys, fmt.Sprintf("%d.%d:%q:%v", l.Seq, l.Part, l.Text, l.End != nil))
	}
	want := []string{`1.0:"one":false`, `2.1:"t":false`, `2.2:"wo":false`, `3.0:"three":false`, `4.0:"":true`}
	if strings.Join(keys, " ") != strings.Join(want, " ") {
		t.Fatalf("read %v, want %v", keys, want)
	}
	got, err = src.Read(t.Context(), "framed", 1, 10)
	if err != nil || len(got) != 4 || got[0].Seq != 2 || got[0].Part != 1 {
		t.Fatalf("read after seq 1: %+v, %v; want from line 2's first part", got, err)
	}
}

func TestNewValidates(t *testing.T) {
	b := fakeBackend(t)
	if _, err := cwlogs.New(b.client, cwlogs.Options{}); err == nil {
		t.Fatal("New without a log group: no error")
	}
	if _, err := cwlogs.New(nil, cwlogs.Options{LogGroup: "g"}); err == nil {
		t.Fatal("New without a client: no error")
	}
}

func checkSeqs(t *testing.T, got []schemas.LogLine, from, to int64) {
	t.Helper()
	if want := int(to - from + 1); len(got) != want {
		t.Fatalf("got %d lines, want %d (seq %d..%d)", len(got), want, from, to)
	}
	for i, l := range got {
		if l.Seq != from+int64(i) || l.Text != fmt.Sprintf("line %d", l.Seq) {
			t.Fatalf("line %d: seq %d %q, want seq %d", i, l.Seq, l.Text, from+int64(i))
		}
	}
}

// BenchmarkHistoryRead reads a 10,000-line task log from the start in
// pages of 1000 and of 10,000 lines, as "deployer logs" does, with a fresh
// Source each time, and reports the GetLogEvents calls it took.
func BenchmarkHistoryRead(b *testing.B) {
	be := fakeBackend(b)
	const n = 10000
	if err := be.write(context.Background(), "hist", lines(1, n)); err != nil {
		b.Fatal(err)
	}
	for _, limit := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("page=%d", limit), func(b *testing.B) {
			be.counter.Reset()
			reads := 0
			for b.Loop() {
				reads++
				src := be.source(b)
				var after int64
				for {
					page, err := src.Read(context.Background(), "hist", after, limit)
					if err != nil {
						b.Fatal(err)
					}
					if len(page) == 0 {
						break
					}
					after = page[len(page)-1].Seq
				}
				if after != n {
					b.Fatalf("read %d lines, want %d", after, n)
				}
			}
			b.ReportMetric(float64(be.counter.Total("logs:GetLogEvents"))/float64(reads), "GetLogEvents/10k-lines")
		})
	}
}
