package sqsstream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"go.uber.org/goleak"

	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/queue/sqlitequeue"
	"github.com/deployerhq/deployer/internal/sqlitedb"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/internal/stream/sqsstream"
	"github.com/deployerhq/deployer/internal/stream/streamtest"
	"github.com/deployerhq/deployer/schemas"
)

// TestMain checks that no goroutine outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// features are those of SQS standard queues: consumed on read, unordered,
// at-least-once. Waits are whole seconds, as SQS long polls are.
var features = streamtest.Features{
	Replayable: false,
	Ordered:    false,
	Duplicates: true,
	Address:    sqsstream.Address,
	EmptyWait:  time.Second,
	PollWait:   time.Second,
}

func newBroker(t testing.TB, opts sqlitequeue.Options) *sqlitequeue.Broker {
	t.Helper()
	db, err := sqlitedb.OpenFile(filepath.Join(t.TempDir(), sqlitedb.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	b, err := sqlitequeue.New(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformanceSQLiteQueue(t *testing.T) {
	b := newBroker(t, sqlitequeue.Options{})
	streamtest.Run(t, features, func(*testing.T) stream.Streams {
		return sqsstream.New(b, sqsstream.Options{})
	})
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 14, 9, 26, 53, 500_000_000, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// spy wraps a Broker, recording the calls it sees and letting a test
// change what the queues it opens do.
type spy struct {
	sqsstream.Broker

	mu      sync.Mutex
	calls   map[string]int
	configs []queue.Config
	// sends records the number of messages of each Send.
	sends []int
	// send, receive and del, when set, replace the queue's own call; next
	// is the real one.
	send    func(ctx context.Context, next queue.Queue, msgs []queue.Outgoing) ([]string, error)
	receive func(ctx context.Context, next queue.Queue, opts queue.ReceiveOptions) ([]queue.Message, error)
	del     func(ctx context.Context, next queue.Queue, receipts []string) error
	// tags, when set, replaces Tags.
	tags func(ctx context.Context, name string) (map[string]string, error)
}

func newSpy(b sqsstream.Broker) *spy { return &spy{Broker: b, calls: map[string]int{}} }

func (s *spy) count(op string) {
	s.mu.Lock()
	s.calls[op]++
	s.mu.Unlock()
}

func (s *spy) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

func (s *spy) Create(ctx context.Context, name string, cfg queue.Config) (queue.Queue, error) {
	s.count("Create")
	s.mu.Lock()
	s.configs = append(s.configs, cfg)
	s.mu.Unlock()
	q, err := s.Broker.Create(ctx, name, cfg)
	if err != nil {
		return nil, err
	}
	return &spyQueue{Queue: q, s: s}, nil
}

func (s *spy) Open(ctx context.Context, name string) (queue.Queue, error) {
	s.count("Open")
	q, err := s.Broker.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	return &spyQueue{Queue: q, s: s}, nil
}

func (s *spy) Delete(ctx context.Context, name string) error {
	s.count("Delete")
	return s.Broker.Delete(ctx, name)
}

func (s *spy) List(ctx context.Context, prefix string) ([]string, error) {
	s.count("List")
	return s.Broker.List(ctx, prefix)
}

func (s *spy) Tags(ctx context.Context, name string) (map[string]string, error) {
	s.count("Tags")
	if s.tags != nil {
		return s.tags(ctx, name)
	}
	return s.Broker.Tags(ctx, name)
}

type spyQueue struct {
	queue.Queue
	s *spy
}

func (q *spyQueue) Send(ctx context.Context, msgs ...queue.Outgoing) ([]string, error) {
	q.s.count("Send")
	q.s.mu.Lock()
	q.s.sends = append(q.s.sends, len(msgs))
	q.s.mu.Unlock()
	if q.s.send != nil {
		return q.s.send(ctx, q.Queue, msgs)
	}
	return q.Queue.Send(ctx, msgs...)
}

func (q *spyQueue) Receive(ctx context.Context, opts queue.ReceiveOptions) ([]queue.Message, error) {
	q.s.count("Receive")
	if q.s.receive != nil {
		return q.s.receive(ctx, q.Queue, opts)
	}
	return q.Queue.Receive(ctx, opts)
}

func (q *spyQueue) Delete(ctx context.Context, receipts ...string) error {
	q.s.count("DeleteMessages")
	if q.s.del != nil {
		return q.s.del(ctx, q.Queue, receipts)
	}
	return q.Queue.Delete(ctx, receipts...)
}

func newJob() string { return ulid.Make().String() }

func event(jobID string, n int) schemas.JobEvent {
	return schemas.JobEvent{
		JobID: jobID,
		ID:    fmt.Sprintf("%s-ev-%06d", jobID, n),
		Time:  time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Millisecond),
		Type:  schemas.EventHeartbeat,
	}
}

func create(t *testing.T, s *sqsstream.Streams, jobID string, ttl time.Duration) string {
	t.Helper()
	addr, err := s.Create(t.Context(), jobID, ttl)
	if err != nil {
		t.Fatalf("Create(%s, %s): %v", jobID, ttl, err)
	}
	return addr
}

func TestAddress(t *testing.T) {
	job := newJob()
	if got, want := sqsstream.Address(job), "job-"+job; got != want {
		t.Fatalf("Address = %q, want %q", got, want)
	}
	s := sqsstream.New(newBroker(t, sqlitequeue.Options{}), sqsstream.Options{})
	ctx := t.Context()
	valid := create(t, s, job, time.Hour)
	if valid != sqsstream.Address(job) {
		t.Fatalf("Create returned %q, want %q", valid, sqsstream.Address(job))
	}
	if err := s.Publish(ctx, valid, event(job, 1)); err != nil {
		t.Fatalf("Publish to %q: %v", valid, err)
	}
	for _, bad := range []string{
		"", job, "job-", "job-" + strings.ToLower(job), "sqlite:" + job, "JOB-" + job,
		"job-" + job + "-", "job-" + job + "-UPPER", "job-" + job + "/x", "prefix-job-" + job,
	} {
		if err := s.Publish(ctx, bad, event(job, 1)); !errors.Is(err, stream.ErrInvalidAddress) {
			t.Errorf("Publish(%q): got %v, want stream.ErrInvalidAddress", bad, err)
		}
		if sub, err := s.Subscribe(ctx, bad); !errors.Is(err, stream.ErrInvalidAddress) {
			if err == nil {
				_ = sub.Close()
			}
			t.Errorf("Subscribe(%q): got %v, want stream.ErrInvalidAddress", bad, err)
		}
		if err := s.Delete(ctx, bad); !errors.Is(err, stream.ErrInvalidAddress) {
			t.Errorf("Delete(%q): got %v, want stream.ErrInvalidAddress", bad, err)
		}
	}
	// A job id with a suffix is valid.
	if _, err := s.Create(ctx, job+"-r1", time.Hour); err != nil {
		t.Errorf("Create with a suffixed job id: %v", err)
	}
	if _, err := s.Create(ctx, job, 0); err == nil {
		t.Errorf("Create with a zero ttl succeeded")
	}
}

func TestRetention(t *testing.T) {
	for _, tc := range []struct{ ttl, want time.Duration }{
		{time.Second, time.Minute},
		{59 * time.Second, time.Minute},
		{time.Minute, time.Minute},
		{90*time.Second + time.Millisecond, 91 * time.Second},
		{2 * time.Hour, 2 * time.Hour},
		{14 * 24 * time.Hour, 14 * 24 * time.Hour},
		{15 * 24 * time.Hour, 14 * 24 * time.Hour},
		{365 * 24 * time.Hour, 14 * 24 * time.Hour},
	} {
		if got := sqsstream.Retention(tc.ttl); got != tc.want {
			t.Errorf("Retention(%s) = %s, want %s", tc.ttl, got, tc.want)
		}
	}
}

// TestCreate checks the configuration and tags a stream's queue gets.
func TestCreate(t *testing.T) {
	clk := newClock()
	sp := newSpy(newBroker(t, sqlitequeue.Options{}))
	s := sqsstream.New(sp, sqsstream.Options{Now: clk.Now})
	ctx := t.Context()
	for _, tc := range []struct {
		ttl       time.Duration
		retention time.Duration
		expires   string
	}{
		{10 * time.Second, time.Minute, "2026-03-14T09:27:04Z"},
		{2 * time.Hour, 2 * time.Hour, "2026-03-14T11:26:54Z"},
		{30 * 24 * time.Hour, 14 * 24 * time.Hour, "2026-04-13T09:26:54Z"},
	} {
		job := newJob()
		addr := create(t, s, job, tc.ttl)
		cfg := sp.configs[len(sp.configs)-1]
		if cfg.Retention != tc.retention || cfg.VisibilityTimeout != 30*time.Second || cfg.DeadLetter != nil {
			t.Errorf("ttl %s: queue config %+v, want retention %s and visibility 30s", tc.ttl, cfg, tc.retention)
		}
		tags, err := sp.Tags(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{sqsstream.TagJobID: job, sqsstream.TagExpiresAt: tc.expires}
		if fmt.Sprint(tags) != fmt.Sprint(want) {
			t.Errorf("ttl %s: tags %v, want %v", tc.ttl, tags, want)
		}
	}
}

func TestDeleteExpired(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)} // whole seconds: no rounding of expiries
	b := newBroker(t, sqlitequeue.Options{})
	var logs bytes.Buffer
	s := sqsstream.New(b, sqsstream.Options{Now: clk.Now, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx := t.Context()
	start := clk.Now()

	minute := create(t, s, newJob(), time.Minute)
	hour := create(t, s, newJob(), time.Hour)
	clk.Add(30 * time.Minute)
	later := create(t, s, newJob(), time.Hour) // expires at start+90m
	// Queues with a "job-" name that are not this adapter's, or have no
	// readable expiry, are left alone.
	foreign := []string{"job-not-a-job-id", sqsstream.Address(newJob()), sqsstream.Address(newJob())}
	if _, err := b.Create(ctx, foreign[0], queue.Config{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Create(ctx, foreign[1], queue.Config{Tags: map[string]string{sqsstream.TagJobID: "x"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Create(ctx, foreign[2], queue.Config{Tags: map[string]string{sqsstream.TagExpiresAt: "yesterday"}}); err != nil {
		t.Fatal(err)
	}
	// And queues with other prefixes are never looked at.
	if _, err := b.Create(ctx, "requests", queue.Config{}); err != nil {
		t.Fatal(err)
	}

	exists := func(name string) bool {
		t.Helper()
		_, err := b.Open(ctx, name)
		if err != nil && !errors.Is(err, queue.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	for _, step := range []struct {
		at      time.Duration // since start
		deleted int
		gone    []string
	}{
		{at: 59 * time.Second, deleted: 0},
		{at: time.Minute, deleted: 1, gone: []string{minute}}, // expiry at or before now
		{at: 59 * time.Minute, deleted: 0},
		{at: 60 * time.Minute, deleted: 1, gone: []string{hour}},
		{at: 89 * time.Minute, deleted: 0},
		{at: 24 * time.Hour, deleted: 1, gone: []string{later}},
		{at: 48 * time.Hour, deleted: 0},
	} {
		n, err := s.DeleteExpired(ctx, start.Add(step.at))
		if err != nil {
			t.Fatalf("DeleteExpired at +%s: %v", step.at, err)
		}
		if n != step.deleted {
			t.Errorf("DeleteExpired at +%s deleted %d, want %d", step.at, n, step.deleted)
		}
		for _, name := range step.gone {
			if exists(name) {
				t.Errorf("at +%s: %s still exists", step.at, name)
			}
		}
	}
	for _, name := range append(foreign, "requests") {
		if !exists(name) {
			t.Errorf("%s was deleted", name)
		}
	}
	for _, name := range foreign[1:] {
		if !strings.Contains(logs.String(), name) {
			t.Errorf("no warning about %s in the log:\n%s", name, logs.String())
		}
	}
}

// TestDeleteExpiredGoesOn checks that one queue's failure neither stops
// the janitor nor hides it, and that a queue deleted meanwhile is skipped.
func TestDeleteExpiredGoesOn(t *testing.T) {
	clk := newClock()
	sp := newSpy(newBroker(t, sqlitequeue.Options{}))
	s := sqsstream.New(sp, sqsstream.Options{Now: clk.Now})
	ctx := t.Context()
	broken, vanished, fine := create(t, s, newJob(), time.Minute), create(t, s, newJob(), time.Minute), create(t, s, newJob(), time.Minute)
	sp.tags = func(ctx context.Context, name string) (map[string]string, error) {
		switch name {
		case broken:
			return nil, fmt.Errorf("reading tags: %w", queue.ErrThrottled)
		case vanished:
			_ = sp.Broker.Delete(ctx, name)
			return nil, fmt.Errorf("reading tags: %w", queue.ErrNotFound)
		}
		return sp.Broker.Tags(ctx, name)
	}
	n, err := s.DeleteExpired(ctx, clk.Now().Add(time.Hour))
	if n != 1 {
		t.Errorf("deleted %d, want 1 (%s)", n, fine)
	}
	if !errors.Is(err, stream.ErrThrottled) || !strings.Contains(fmt.Sprint(err), broken) {
		t.Errorf("got %v, want stream.ErrThrottled naming %s", err, broken)
	}
}

// TestNextSkipsForeignEntries sends bodies that are not job events, and
// events of another job, straight to a stream's queue: Next returns only
// the job's events and deletes everything it read.
func TestNextSkipsForeignEntries(t *testing.T) {
	qclk := newClock()
	b := newBroker(t, sqlitequeue.Options{Now: qclk.Now})
	var logs bytes.Buffer
	s := sqsstream.New(b, sqsstream.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx := t.Context()
	job, other := newJob(), newJob()
	addr := create(t, s, job, time.Hour)
	q, err := b.Open(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	otherEvent, err := event(other, 1).Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{
		"not json", `{"schema":"job_event/v9"}`, `{"schema":"job_event/v1","job_id":"x"}`, string(otherEvent),
	} {
		if _, err := q.Send(ctx, queue.Outgoing{Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Publish(ctx, addr, event(job, 1), event(job, 2)); err != nil {
		t.Fatal(err)
	}
	sub, err := s.Subscribe(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Close() }()
	got := map[string]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for len(got) < 2 && time.Now().Before(deadline) {
		evs, err := sub.Next(ctx, time.Second)
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		for _, ev := range evs {
			if ev.JobID != job {
				t.Fatalf("Next returned an event of job %s", ev.JobID)
			}
			got[ev.ID] = true
		}
	}
	if !got[event(job, 1).ID] || !got[event(job, 2).ID] {
		t.Fatalf("got events %v, want both of job %s", got, job)
	}
	// Nothing is left, not even hidden: past the visibility timeout the
	// queue is empty.
	qclk.Add(time.Minute) // past the visibility timeout, within the retention
	if left, err := q.Receive(ctx, queue.ReceiveOptions{Max: 10}); err != nil || len(left) != 0 {
		t.Fatalf("after Next, the queue holds %d messages (%v), want none", len(left), err)
	}
	if evs, err := sub.Next(ctx, 0); err != nil || len(evs) != 0 {
		t.Fatalf("Next on the drained stream = %d events, %v", len(evs), err)
	}
	for _, want := range []string{"skipping undecodable stream entry", "skipping another job's event", other} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

// TestNextDeletesAfterCancel cancels the caller's context once messages
// are received: they are still deleted, with a live context, and the
// caller gets its context's error.
func TestNextDeletesAfterCancel(t *testing.T) {
	sp := newSpy(newBroker(t, sqlitequeue.Options{}))
	s := sqsstream.New(sp, sqsstream.Options{})
	job := newJob()
	addr := create(t, s, job, time.Hour)
	if err := s.Publish(t.Context(), addr, event(job, 1)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sp.receive = func(rctx context.Context, next queue.Queue, opts queue.ReceiveOptions) ([]queue.Message, error) {
		msgs, err := next.Receive(rctx, opts)
		cancel()
		return msgs, err
	}
	var deleteErr error
	var deleted int
	sp.del = func(dctx context.Context, next queue.Queue, receipts []string) error {
		deleteErr, deleted = dctx.Err(), len(receipts)
		if _, ok := dctx.Deadline(); !ok {
			t.Errorf("delete context has no deadline")
		}
		return next.Delete(dctx, receipts...)
	}
	sub, err := s.Subscribe(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Close() }()
	evs, err := sub.Next(ctx, time.Second)
	if err != nil || len(evs) != 1 {
		t.Fatalf("Next = %d events, %v; want the event received before the cancel", len(evs), err)
	}
	if deleted != 1 || deleteErr != nil {
		t.Fatalf("deleted %d receipts with context error %v, want 1 with a live context", deleted, deleteErr)
	}
	if _, err := sub.Next(ctx, time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next after cancel: %v, want context.Canceled", err)
	}
}

// TestNextReturnsDespiteFailedDelete: a failed delete is not the reader's
// problem; the messages come back later and the follower dedupes.
func TestNextReturnsDespiteFailedDelete(t *testing.T) {
	sp := newSpy(newBroker(t, sqlitequeue.Options{}))
	var logs bytes.Buffer
	s := sqsstream.New(sp, sqsstream.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	job := newJob()
	addr := create(t, s, job, time.Hour)
	if err := s.Publish(t.Context(), addr, event(job, 1)); err != nil {
		t.Fatal(err)
	}
	sp.del = func(context.Context, queue.Queue, []string) error { return queue.ErrThrottled }
	sub, err := s.Subscribe(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Close() }()
	evs, err := sub.Next(t.Context(), time.Second)
	if err != nil || len(evs) != 1 {
		t.Fatalf("Next = %d events, %v; want 1 event", len(evs), err)
	}
	if !strings.Contains(logs.String(), "delivered again") {
		t.Errorf("failed delete not logged:\n%s", logs.String())
	}
}

func TestPublishValidatesFirst(t *testing.T) {
	sp := newSpy(newBroker(t, sqlitequeue.Options{}))
	s := sqsstream.New(sp, sqsstream.Options{})
	job := newJob()
	addr := create(t, s, job, time.Hour)
	var evs []schemas.JobEvent
	for i := range 25 {
		evs = append(evs, event(job, i))
	}
	huge := event(job, 99)
	huge.Type = schemas.EventLog
	huge.Lines = []schemas.LogLine{{Seq: 1, Text: strings.Repeat("x", queue.MaxBodySize)}}
	noID := event(job, 98)
	noID.ID = ""
	terminal := event(job, 97)
	terminal.Type = schemas.EventFinished // without an outcome
	for _, tc := range []struct {
		name string
		bad  schemas.JobEvent
		want error
	}{
		{"too large", huge, schemas.ErrTooLarge},
		{"no id", noID, schemas.ErrMalformed},
		{"terminal without outcome", terminal, schemas.ErrMalformed},
		{"invalid job id", schemas.JobEvent{JobID: "nope", ID: "x", Type: schemas.EventLog}, schemas.ErrMalformed},
		{"another job's event", event(newJob(), 1), schemas.ErrMalformed},
	} {
		batch := append(append(append([]schemas.JobEvent{}, evs[:20]...), tc.bad), evs[20:]...)
		err := s.Publish(t.Context(), addr, batch...)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: Publish = %v, want %v", tc.name, err, tc.want)
		}
	}
	if n := sp.Calls("Send"); n != 0 {
		t.Fatalf("%d sends made for refused publishes, want none", n)
	}
}

func TestPublishBatches(t *testing.T) {
	sp := newSpy(newBroker(t, sqlitequeue.Options{}))
	s := sqsstream.New(sp, sqsstream.Options{})
	job := newJob()
	addr := create(t, s, job, time.Hour)
	var evs []schemas.JobEvent
	for i := range 25 {
		evs = append(evs, event(job, i))
	}
	if err := s.Publish(t.Context(), addr, evs...); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(sp.sends); got != "[10 10 5]" {
		t.Errorf("25 small events sent in batches %s, want [10 10 5]", got)
	}
	// Events of ~100 KiB: two fit the 256 KiB batch limit, not three.
	sp.sends = nil
	evs = nil
	for i := range 5 {
		ev := event(job, 100+i)
		ev.Type = schemas.EventLog
		ev.Lines = []schemas.LogLine{{Seq: int64(i + 1), Text: strings.Repeat("y", 100*1024)}}
		evs = append(evs, ev)
	}
	if err := s.Publish(t.Context(), addr, evs...); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(sp.sends); got != "[2 2 1]" {
		t.Errorf("5 events of 100 KiB sent in batches %s, want [2 2 1]", got)
	}
	// No open per publish: the handle from Create is reused.
	if n := sp.Calls("Open"); n != 0 {
		t.Errorf("Publish opened the queue %d times, want 0", n)
	}
}

// TestPublishNonCharacters: U+FFFE and U+FFFF, which SQS refuses in a
// body (and sqlitequeue too), are escaped and come back intact.
func TestPublishNonCharacters(t *testing.T) {
	s := sqsstream.New(newBroker(t, sqlitequeue.Options{}), sqsstream.Options{})
	job := newJob()
	addr := create(t, s, job, time.Hour)
	ev := event(job, 1)
	ev.Type = schemas.EventLog
	ev.Lines = []schemas.LogLine{{Seq: 1, Text: "a\uFFFEb\uFFFFc\u0000d\U0010FFFF"}}
	if err := s.Publish(t.Context(), addr, ev); err != nil {
		t.Fatal(err)
	}
	sub, err := s.Subscribe(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Close() }()
	evs, err := sub.Next(t.Context(), time.Second)
	if err != nil || len(evs) != 1 {
		t.Fatalf("Next = %d events, %v", len(evs), err)
	}
	if got := evs[0].Lines[0].Text; got != ev.Lines[0].Text {
		t.Fatalf("text %q, want %q", got, ev.Lines[0].Text)
	}
}

// TestPublishRetriesFailedEntries fails some entries of a batch: only
// those are sent again, a bounded number of times.
func TestPublishRetriesFailedEntries(t *testing.T) {
	sp := newSpy(newBroker(t, sqlitequeue.Options{}))
	s := sqsstream.New(sp, sqsstream.Options{Retries: 2, RetryWait: time.Millisecond})
	job := newJob()
	addr := create(t, s, job, time.Hour)
	internal := errors.New("InternalError")
	// Fail the entries at odd positions while more than failLeft remain.
	var failing int
	sp.send = func(ctx context.Context, next queue.Queue, msgs []queue.Outgoing) ([]string, error) {
		if failing == 0 {
			return next.Send(ctx, msgs...)
		}
		failing--
		be := &queue.BatchError{Failed: map[int]error{}}
		var ok []queue.Outgoing
		for i, m := range msgs {
			if i%2 == 1 {
				be.Failed[i] = internal
			} else {
				ok = append(ok, m)
			}
		}
		if _, err := next.Send(ctx, ok...); err != nil {
			return nil, err
		}
		return make([]string, len(msgs)), be
	}
	var evs []schemas.JobEvent
	for i := range 10 {
		evs = append(evs, event(job, i))
	}
	failing = 2 // 10 → 5 failed → 2 failed → sent
	if err := s.Publish(t.Context(), addr, evs...); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if got := fmt.Sprint(sp.sends); got != "[10 5 2]" {
		t.Errorf("sends %s, want [10 5 2]", got)
	}
	sub, err := s.Subscribe(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Close() }()
	seen := map[string]int{}
	for len(seen) < len(evs) {
		got, err := sub.Next(t.Context(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			t.Fatalf("got %d distinct events, want %d", len(seen), len(evs))
		}
		for _, ev := range got {
			seen[ev.ID]++
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("event %s sent %d times", id, n)
		}
	}

	// Failing for good: 1 send and 2 retries, then an error.
	sp.sends = nil
	failing = 100
	err = s.Publish(t.Context(), addr, evs...)
	if !errors.Is(err, internal) || !strings.Contains(err.Error(), "after 3 attempts") {
		t.Errorf("Publish = %v, want the entries' error after 3 attempts", err)
	}
	if got := fmt.Sprint(sp.sends); got != "[10 5 2]" {
		t.Errorf("sends %s, want [10 5 2]", got)
	}

	// Entries refused as invalid are not retried.
	sp.sends = nil
	sp.send = func(ctx context.Context, next queue.Queue, msgs []queue.Outgoing) ([]string, error) {
		return nil, &queue.BatchError{Failed: map[int]error{0: queue.ErrInvalid}}
	}
	if err := s.Publish(t.Context(), addr, evs[0]); !errors.Is(err, queue.ErrInvalid) {
		t.Errorf("Publish = %v, want queue.ErrInvalid", err)
	}
	if got := fmt.Sprint(sp.sends); got != "[1]" {
		t.Errorf("sends %s, want [1]", got)
	}
}

func TestErrorsTranslated(t *testing.T) {
	sp := newSpy(newBroker(t, sqlitequeue.Options{}))
	s := sqsstream.New(sp, sqsstream.Options{})
	job := newJob()
	addr := create(t, s, job, time.Hour)
	throttled := fmt.Errorf("sending: %w", queue.ErrThrottled)
	sp.send = func(context.Context, queue.Queue, []queue.Outgoing) ([]string, error) { return nil, throttled }
	if err := s.Publish(t.Context(), addr, event(job, 1)); !errors.Is(err, stream.ErrThrottled) || !errors.Is(err, queue.ErrThrottled) {
		t.Errorf("Publish = %v, want stream.ErrThrottled wrapping queue.ErrThrottled", err)
	}
	sp.receive = func(context.Context, queue.Queue, queue.ReceiveOptions) ([]queue.Message, error) {
		return nil, throttled
	}
	sub, err := s.Subscribe(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Close() }()
	if _, err := sub.Next(t.Context(), time.Second); !errors.Is(err, stream.ErrThrottled) {
		t.Errorf("Next = %v, want stream.ErrThrottled", err)
	}
	// A queue deleted behind the adapter's back: the cached handle's
	// send fails with ErrNotFound.
	sp.send = nil
	if err := sp.Broker.Delete(t.Context(), addr); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(t.Context(), addr, event(job, 1)); !errors.Is(err, stream.ErrNotFound) {
		t.Errorf("Publish to a deleted queue = %v, want stream.ErrNotFound", err)
	}
}

// TestIdleCalls counts the receives of a follower waiting through one
// minute in which nothing arrives. Receives end at once, moving a fake
// clock by their wait, so the minute passes without waiting for it.
func TestIdleCalls(t *testing.T) {
	for _, tc := range []struct {
		name  string
		wait  time.Duration // per Next
		polls []time.Duration
	}{
		{"follower default 20s", 20 * time.Second, []time.Duration{20 * time.Second, 20 * time.Second, 20 * time.Second}},
		{"one Next of a minute", time.Minute, []time.Duration{20 * time.Second, 20 * time.Second, 20 * time.Second}},
		{"Next of 25s", 25 * time.Second, []time.Duration{20 * time.Second, 5 * time.Second, 20 * time.Second, 5 * time.Second, 20 * time.Second, 5 * time.Second}},
		{"Next of 1.5s rounds up", 1500 * time.Millisecond, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			sp := newSpy(newBroker(t, sqlitequeue.Options{}))
			s := sqsstream.New(sp, sqsstream.Options{Now: clk.Now})
			addr := create(t, s, newJob(), time.Hour)
			var polls []time.Duration
			sp.receive = func(_ context.Context, _ queue.Queue, opts queue.ReceiveOptions) ([]queue.Message, error) {
				if opts.Max != queue.MaxBatch {
					t.Errorf("receive of %d messages, want %d", opts.Max, queue.MaxBatch)
				}
				polls = append(polls, opts.Wait)
				clk.Add(opts.Wait)
				return nil, nil
			}
			sub, err := s.Subscribe(t.Context(), addr)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = sub.Close() }()
			end := clk.Now().Add(time.Minute)
			nexts := 0
			for clk.Now().Before(end) {
				evs, err := sub.Next(t.Context(), tc.wait)
				if err != nil || len(evs) != 0 {
					t.Fatalf("Next = %d events, %v", len(evs), err)
				}
				nexts++
			}
			if tc.polls == nil {
				// 1.5s rounds up to 2s: 30 polls a minute.
				if len(polls) != 30 || polls[0] != 2*time.Second {
					t.Fatalf("%d polls starting with %s, want 30 of 2s", len(polls), polls[0])
				}
				return
			}
			if fmt.Sprint(polls) != fmt.Sprint(tc.polls) {
				t.Fatalf("polls %v, want %v", polls, tc.polls)
			}
			if other := sp.Calls("Send") + sp.Calls("DeleteMessages") + sp.Calls("Open") - 1; other != 0 {
				t.Errorf("%d calls besides receives while idle", other)
			}
			t.Logf("%d Next calls, %d ReceiveMessage calls in a minute of idle", nexts, len(polls))
		})
	}
}

// BenchmarkIdleCallsPerMinute reports the receives a waiting follower
// makes per minute of idle (Next with the follower's default 20s wait).
func BenchmarkIdleCallsPerMinute(b *testing.B) {
	clk := newClock()
	sp := newSpy(newBroker(b, sqlitequeue.Options{}))
	s := sqsstream.New(sp, sqsstream.Options{Now: clk.Now})
	addr, err := s.Create(b.Context(), newJob(), time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	receives := 0
	sp.receive = func(_ context.Context, _ queue.Queue, opts queue.ReceiveOptions) ([]queue.Message, error) {
		receives++
		clk.Add(opts.Wait)
		return nil, nil
	}
	sub, err := s.Subscribe(b.Context(), addr)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = sub.Close() }()
	start := clk.Now()
	for b.Loop() {
		if _, err := sub.Next(b.Context(), 20*time.Second); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(receives)/clk.Now().Sub(start).Minutes(), "receives/min")
}
