package cwjournal_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/oklog/ulid/v2"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/internal/journal/cwjournal"
	"github.com/deployerhq/deployer/internal/journal/journaltest"
	"github.com/deployerhq/deployer/schemas"
	"github.com/deployerhq/deployer/test/awsfake/logsfake"
)

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
		group:   "/deployer/journal-" + ulid.Make().String(),
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

func (b *backend) journal(tb testing.TB, o cwjournal.Options) *cwjournal.Journal {
	tb.Helper()
	if o.LogGroup == "" {
		o.LogGroup = b.group
	}
	j, err := cwjournal.New(b.client, o)
	if err != nil {
		tb.Fatal(err)
	}
	return j
}

func TestConformanceFake(t *testing.T) {
	b := fakeBackend(t)
	j := b.journal(t, cwjournal.Options{})
	journaltest.Run(t, func(*testing.T) journal.Journal { return j })
}

// TestConformanceExternal runs the suite against DEPLOYER_TEST_AWS_ENDPOINT
// (moto, LocalStack or a real account's proxy).
func TestConformanceExternal(t *testing.T) {
	b := newBackend(t, awstest.Endpoint(t, "logs"), nil)
	j := b.journal(t, cwjournal.Options{})
	journaltest.Run(t, func(*testing.T) journal.Journal { return j })
}

func event(jobID string, n int) schemas.JobEvent {
	return schemas.JobEvent{
		Schema: schemas.JobEventV1, JobID: jobID, ID: fmt.Sprintf("%s-%05d", jobID, n),
		Time: time.Now().UTC(), Type: schemas.EventHeartbeat, Source: "test",
	}
}

func events(jobID string, from, to int) []schemas.JobEvent {
	var evs []schemas.JobEvent
	for n := from; n < to; n++ {
		evs = append(evs, event(jobID, n))
	}
	return evs
}

func read(t *testing.T, j *cwjournal.Journal, jobID string) []string {
	t.Helper()
	evs, err := j.Read(t.Context(), jobID)
	if err != nil {
		t.Fatalf("Read(%s): %v", jobID, err)
	}
	ids := make([]string, len(evs))
	for i, ev := range evs {
		ids[i] = strings.TrimPrefix(ev.ID, jobID+"-")
	}
	return ids
}

func wantIDs(t *testing.T, got []string, want ...int) {
	t.Helper()
	w := make([]string, len(want))
	for i, n := range want {
		w[i] = fmt.Sprintf("%05d", n)
	}
	if strings.Join(got, ",") != strings.Join(w, ",") {
		t.Fatalf("events %v, want %v", got, w)
	}
}

// TestEqualTimestamps checks the order of events whose clock reads the
// same (or goes backwards): within one process the journal stamps them a
// millisecond apart; the fake, like CloudWatch, keeps ties in ingestion
// order.
func TestEqualTimestamps(t *testing.T) {
	b := fakeBackend(t)
	var (
		mu  sync.Mutex
		now = time.Now().Add(-time.Minute)
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	j := b.journal(t, cwjournal.Options{Now: clock})
	job := ulid.Make().String()
	for _, batch := range [][]int{{0, 1, 2}, {3}, {4, 5}} {
		var evs []schemas.JobEvent
		for _, n := range batch {
			evs = append(evs, event(job, n))
		}
		if err := j.Append(t.Context(), job, evs...); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	now = now.Add(-10 * time.Second) // the clock steps back
	mu.Unlock()
	if err := j.Append(t.Context(), job, event(job, 6), event(job, 7)); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, read(t, j, job), 0, 1, 2, 3, 4, 5, 6, 7)
	stored := b.fake.Events(b.group, "jobs/"+job)
	for i := 1; i < len(stored); i++ {
		if !stored[i].Time.After(stored[i-1].Time) {
			t.Fatalf("event %d stamped %s, not after %s", i, stored[i].Time, stored[i-1].Time)
		}
	}

	// The fake orders equal timestamps by ingestion, within a batch and
	// across batches.
	ts := time.Now().Add(-time.Minute).UnixMilli()
	stream := "ties"
	if _, err := b.client.CreateLogStream(t.Context(), &cloudwatchlogs.CreateLogStreamInput{
		LogGroupName: aws.String(b.group), LogStreamName: aws.String(stream),
	}); err != nil {
		t.Fatal(err)
	}
	for _, msgs := range [][]string{{"a", "b"}, {"c"}, {"d", "e"}} {
		var in []types.InputLogEvent
		for _, m := range msgs {
			in = append(in, types.InputLogEvent{Message: aws.String(m), Timestamp: aws.Int64(ts)})
		}
		if _, err := b.client.PutLogEvents(t.Context(), &cloudwatchlogs.PutLogEventsInput{
			LogGroupName: aws.String(b.group), LogStreamName: aws.String(stream), LogEvents: in,
		}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := b.client.GetLogEvents(t.Context(), &cloudwatchlogs.GetLogEventsInput{
		LogGroupName: aws.String(b.group), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range out.Events {
		got = append(got, aws.ToString(e.Message))
	}
	if strings.Join(got, "") != "abcde" {
		t.Fatalf("events with equal timestamps read back as %v, want a b c d e", got)
	}
}

// TestDuplicatesDroppedOnRead appends the same events through two
// journals (two processes) and checks that they are stored again but
// read once, at their first place.
func TestDuplicatesDroppedOnRead(t *testing.T) {
	b := fakeBackend(t)
	// Two appenders (processes) order their events by their own clocks,
	// which agree to the millisecond only when calls are far enough apart:
	// the steps here are a second apart on a shared clock, as a gatekeeper's
	// and a worker's appends of one job are in practice.
	var mu sync.Mutex
	clock := time.Now()
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	j1 := b.journal(t, cwjournal.Options{Now: now})
	j2 := b.journal(t, cwjournal.Options{Now: now})
	job := ulid.Make().String()
	evs := events(job, 0, 4)
	for _, step := range []struct {
		j   *cwjournal.Journal
		evs []schemas.JobEvent
	}{
		{j1, evs[:2]},
		{j2, []schemas.JobEvent{evs[1], evs[2], evs[0]}},
		{j1, []schemas.JobEvent{evs[3], evs[3], evs[2]}},
	} {
		mu.Lock()
		clock = clock.Add(time.Second)
		mu.Unlock()
		if err := step.j.Append(t.Context(), job, step.evs...); err != nil {
			t.Fatal(err)
		}
	}
	wantIDs(t, read(t, j1, job), 0, 1, 2, 3)
	wantIDs(t, read(t, j2, job), 0, 1, 2, 3)
	// Copies within one call are not sent; across calls they are stored.
	if n := len(b.fake.Events(b.group, "jobs/"+job)); n != 2+3+2 {
		t.Fatalf("the stream holds %d events, want 7", n)
	}
}

func TestUndecodableSkipped(t *testing.T) {
	b := fakeBackend(t)
	var logs bytes.Buffer
	j := b.journal(t, cwjournal.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	job := ulid.Make().String()
	if err := j.Append(t.Context(), job, event(job, 0)); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	b.fake.Append(b.group, "jobs/"+job,
		logsfake.Event{Time: later, Message: "not json"},
		logsfake.Event{Time: later, Message: `{"schema":"job-event/v99","id":"x"}`},
		logsfake.Event{Time: later, Message: `{"schema":"job-event/v1","job_id":"` + job + `"}`}, // no id
	)
	second := event(job, 1)
	data, err := second.Encode()
	if err != nil {
		t.Fatal(err)
	}
	b.fake.Append(b.group, "jobs/"+job, logsfake.Event{Time: later.Add(time.Millisecond), Message: string(data)})
	wantIDs(t, read(t, j, job), 0, 1)
	if !strings.Contains(logs.String(), "skipped=3") {
		t.Fatalf("log does not count the 3 skipped entries: %s", logs.String())
	}

	// A stream of nothing but garbage is a job with no history.
	other := ulid.Make().String()
	b.fake.Append(b.group, "jobs/"+other, logsfake.Event{Time: later, Message: "garbage"})
	if _, err := j.Read(t.Context(), other); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("Read of a stream without valid entries: %v, want journal.ErrNotFound", err)
	}
}

func TestStreamCreatedOnce(t *testing.T) {
	b := fakeBackend(t)
	j := b.journal(t, cwjournal.Options{StreamPrefix: "audit/"})
	job := ulid.Make().String()
	for i := range 3 {
		if err := j.Append(t.Context(), job, event(job, i)); err != nil {
			t.Fatal(err)
		}
	}
	c := b.counter.Counts()
	if c["logs:CreateLogStream"] != 1 || c["logs:PutLogEvents"] != 4 {
		t.Fatalf("calls %v, want one CreateLogStream and 4 PutLogEvents (the first one failing)", c)
	}
	if got := b.fake.Events(b.group, "audit/"+job); len(got) != 3 {
		t.Fatalf("stream audit/%s holds %d events, want 3", job, len(got))
	}
}

func TestBatches(t *testing.T) {
	b := fakeBackend(t)
	j := b.journal(t, cwjournal.Options{})

	// More events than one PutLogEvents takes.
	job := ulid.Make().String()
	many := events(job, 0, 12000)
	if err := j.Append(t.Context(), job, many...); err != nil {
		t.Fatal(err)
	}
	got := read(t, j, job)
	if len(got) != len(many) {
		t.Fatalf("read %d events, want %d", len(got), len(many))
	}
	for i, id := range got {
		if id != fmt.Sprintf("%05d", i) {
			t.Fatalf("event %d is %s", i, id)
		}
	}

	// More bytes than one PutLogEvents takes.
	big := ulid.Make().String()
	var evs []schemas.JobEvent
	for i := range 30 {
		ev := event(big, i)
		ev.Reason = strings.Repeat("r", 100*1024)
		evs = append(evs, ev)
	}
	b.counter.Reset()
	if err := j.Append(t.Context(), big, evs...); err != nil {
		t.Fatal(err)
	}
	if n := b.counter.Total("logs:PutLogEvents"); n < 3 { // 3 MB in batches of at most 1 MB, plus the first failing call
		t.Fatalf("%d PutLogEvents calls for 3 MB", n)
	}
	if got := read(t, j, big); len(got) != 30 {
		t.Fatalf("read %d large events, want 30", len(got))
	}

	// An event larger than CloudWatch holds is refused before sending.
	huge := event(big, 99)
	huge.Reason = strings.Repeat("h", 1<<20)
	if err := j.Append(t.Context(), big, huge); err == nil {
		t.Fatal("Append of a 1 MB event: no error")
	}
}

func TestRejectedEvents(t *testing.T) {
	b := fakeBackend(t)
	// This host's clock runs three hours ahead.
	j := b.journal(t, cwjournal.Options{Now: func() time.Time { return time.Now().Add(3 * time.Hour) }})
	job := ulid.Make().String()
	err := j.Append(t.Context(), job, events(job, 0, 2)...)
	if err == nil || !strings.Contains(err.Error(), "future") {
		t.Fatalf("Append with a clock 3 hours ahead: %v, want the events rejected as too new", err)
	}
	if _, err := j.Read(t.Context(), job); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("Read after rejected events: %v, want journal.ErrNotFound", err)
	}
}

func TestMissingGroup(t *testing.T) {
	b := fakeBackend(t)
	j := b.journal(t, cwjournal.Options{LogGroup: "/no/such/group"})
	job := ulid.Make().String()
	if err := j.Append(t.Context(), job, event(job, 0)); err == nil || awsx.Code(err) != "ResourceNotFoundException" {
		t.Fatalf("Append to a missing group: %v, want ResourceNotFoundException", err)
	}
	if _, err := j.Read(t.Context(), job); !errors.Is(err, journal.ErrNotFound) {
		t.Fatalf("Read from a missing group: %v, want journal.ErrNotFound", err)
	}
}

func TestNewValidates(t *testing.T) {
	b := fakeBackend(t)
	if _, err := cwjournal.New(b.client, cwjournal.Options{}); err == nil {
		t.Fatal("New without a log group: no error")
	}
	if _, err := cwjournal.New(nil, cwjournal.Options{LogGroup: "g"}); err == nil {
		t.Fatal("New without a client: no error")
	}
}
