// Package streamtest is the conformance suite of the stream port. Every
// adapter's tests call Run; a behaviour the suite does not check is not
// guaranteed by the port.
//
// The suite assumes nothing about what else the backend holds: every test
// uses fresh job ids, deletes what it created, and waits by polling with a
// deadline, never by sleeping. It may therefore run against a shared
// emulator (moto, LocalStack, ElasticMQ) or a real account.
package streamtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/schemas"
)

// Features says what the adapter under test can do; the suite skips or
// relaxes the checks of what it cannot.
type Features struct {
	// Replayable: every subscriber sees every event from the start.
	// Otherwise an event is consumed by whichever subscriber reads it
	// first, and the suite only checks that subscribers together see all.
	Replayable bool
	// Ordered: events of one publisher arrive in the order published.
	Ordered bool
	// Duplicates: the backend may deliver an event more than once
	// (at-least-once). The suite then dedupes by event id instead of
	// failing on a repeat.
	Duplicates bool
	// Address returns the address Create would return for jobID, without
	// creating anything. Nil skips the never-created checks.
	Address func(jobID string) string
	// EmptyWait is the wait passed to Next where nothing is expected to
	// arrive; it must be one the backend honours (SQS waits whole
	// seconds). Defaults to 200ms.
	EmptyWait time.Duration
	// PollWait is the wait passed to Next while collecting events.
	// Defaults to 1s.
	PollWait time.Duration
	// Timeout bounds every wait of the suite for something to happen,
	// including how long a deletion may take to be seen. Defaults to 30s.
	Timeout time.Duration
	// BurstSize is how many events the burst test publishes. Defaults to
	// 2000.
	BurstSize int
}

func (f *Features) defaults() {
	if f.EmptyWait <= 0 {
		f.EmptyWait = 200 * time.Millisecond
	}
	if f.PollWait <= 0 {
		f.PollWait = time.Second
	}
	if f.Timeout <= 0 {
		f.Timeout = 30 * time.Second
	}
	if f.BurstSize <= 0 {
		f.BurstSize = 2000
	}
}

// TTL is the ttl of the streams the suite creates, except where a test
// needs its own: long enough that DeleteExpired in one test never removes
// another's stream.
const TTL = 2 * time.Hour

// Run runs the suite. newStreams returns the adapter to test; it is called
// once per test (with that test's t) and may return handles on one shared
// backend.
func Run(t *testing.T, f Features, newStreams func(t *testing.T) stream.Streams) {
	f.defaults()
	tests := []struct {
		name string
		fn   func(t *testing.T, f Features, s stream.Streams)
	}{
		{"CreateReturnsAddress", testCreate},
		{"CreateRejectsInvalidJobID", testCreateInvalid},
		{"RoundTrip", testRoundTrip},
		{"PublishNothing", testPublishNothing},
		{"PublishRefusesForeignAndInvalidEvents", testPublishRefuses},
		{"NextWaitsForPublish", testNextWaits},
		{"NextReturnsEmptyAfterWait", testNextEmpty},
		{"Ordered", testOrdered},
		{"NotFound", testNotFound},
		{"InvalidAddress", testInvalidAddress},
		{"SubscriberAfterDelete", testSubscriberAfterDelete},
		{"DeleteExpired", testDeleteExpired},
		{"ContextCancel", testContextCancel},
		{"Burst", testBurst},
		{"Replay", testReplay},
		{"SharedConsumption", testSharedConsumption},
		{"Close", testClose},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, f, newStreams(t))
		})
	}
}

// newJob returns a fresh job id.
func newJob() string { return ulid.Make().String() }

// create makes a stream for a fresh job and deletes it when the test ends.
func create(t *testing.T, s stream.Streams, ttl time.Duration) (jobID, address string) {
	t.Helper()
	jobID = newJob()
	address, err := s.Create(ctx(t), jobID, ttl)
	if err != nil {
		t.Fatalf("Create(%s): %v", jobID, err)
	}
	if address == "" {
		t.Fatalf("Create(%s) returned an empty address", jobID)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Delete(c, address); err != nil && !errors.Is(err, stream.ErrNotFound) {
			t.Errorf("cleanup: Delete(%s): %v", address, err)
		}
	})
	return jobID, address
}

// ctx returns a context that ends with the test.
func ctx(t *testing.T) context.Context { return t.Context() }

var base = time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.UTC)

// event returns a status event of job, numbered n.
func event(jobID string, n int) schemas.JobEvent {
	return schemas.JobEvent{
		Schema: schemas.JobEventV1,
		JobID:  jobID,
		ID:     fmt.Sprintf("%s-ev-%06d", jobID, n),
		Time:   base.Add(time.Duration(n) * time.Millisecond),
		Type:   schemas.EventHeartbeat,
		Source: "streamtest",
	}
}

// fullEvents returns events that between them set every JobEvent field.
func fullEvents(jobID string) []schemas.JobEvent {
	exit, zero := 3, 0
	lines := int64(4)
	return []schemas.JobEvent{
		{
			Schema: schemas.JobEventV1, JobID: jobID, ID: jobID + "-accepted", Time: base,
			Type: schemas.EventAccepted, Source: "gatekeeper", Attempt: 1,
			Container: "terraform", Script: "apply", Argv: []string{"apply", "-auto-approve", "", "a b"},
		},
		{
			Schema: schemas.JobEventV1, JobID: jobID, ID: jobID + "-started", Time: base.Add(time.Second),
			Type: schemas.EventStarted, Source: "worker", Attempt: 1, TaskID: "task-1",
		},
		{
			Schema: schemas.JobEventV1, JobID: jobID, ID: jobID + "-log", Time: base.Add(2 * time.Second),
			Type: schemas.EventLog, Source: "logshipper", Attempt: 1, TaskID: "task-1",
			Lines: []schemas.LogLine{
				{Seq: 1, ID: "cw-1", Time: base.Add(1500 * time.Millisecond), Text: "Initializing…"},
				{Seq: 2, ID: "cw-2", Time: base.Add(1501 * time.Millisecond), Text: ""},
				{Seq: 3, ID: "cw-3", Time: base.Add(1502 * time.Millisecond), Text: "  trailing spaces  "},
				{Seq: 4, ID: "cw-4", Time: base.Add(1503 * time.Millisecond), Text: "\ttabs \"quotes\" \\ <html> & 日本語 🚀"},
			},
		},
		{
			Schema: schemas.JobEventV1, JobID: jobID, ID: jobID + "-finished", Time: base.Add(3 * time.Second),
			Type: schemas.EventFinished, Source: "worker", Attempt: 1, TaskID: "task-1",
			Outcome: schemas.OutcomeFailed, ExitCode: &exit, Reason: "task exited 3", ReasonCode: "exit_nonzero",
			LogEvents: &lines, Duration: schemas.Duration(90*time.Second + 250*time.Millisecond),
		},
		{
			Schema: schemas.JobEventV1, JobID: jobID, ID: jobID + "-dead", Time: base.Add(4 * time.Second),
			Type: schemas.EventDeadLettered, Source: "worker", Attempt: 2, ExitCode: &zero,
			Outcome: schemas.OutcomeFailed, Reason: "retries exhausted",
		},
	}
}

// normal returns ev with its times in UTC, for comparison.
func normal(ev schemas.JobEvent) schemas.JobEvent {
	ev.Time = ev.Time.UTC()
	if ev.Lines != nil {
		lines := make([]schemas.LogLine, len(ev.Lines))
		for i, l := range ev.Lines {
			l.Time = l.Time.UTC()
			lines[i] = l
		}
		ev.Lines = lines
	}
	return ev
}

func equal(a, b schemas.JobEvent) bool { return reflect.DeepEqual(normal(a), normal(b)) }

func show(ev schemas.JobEvent) string {
	b, _ := json.Marshal(ev)
	return string(b)
}

// collect reads sub until it has seen every id of want, and returns the
// events in arrival order (duplicates dropped when Duplicates allows them,
// reported otherwise).
func collect(t *testing.T, f Features, sub stream.Subscription, want []string) []schemas.JobEvent {
	t.Helper()
	wanted := make(map[string]bool, len(want))
	for _, id := range want {
		wanted[id] = true
	}
	seen := map[string]bool{}
	var got []schemas.JobEvent
	deadline := time.Now().Add(f.Timeout)
	for len(seen) < len(wanted) {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: got %d of %d events", f.Timeout, len(seen), len(wanted))
		}
		evs, err := sub.Next(ctx(t), f.PollWait)
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		for _, ev := range evs {
			if !wanted[ev.ID] {
				t.Fatalf("unexpected event %s", show(ev))
			}
			if seen[ev.ID] {
				if !f.Duplicates {
					t.Fatalf("event %s delivered twice", ev.ID)
				}
				continue
			}
			seen[ev.ID] = true
			got = append(got, ev)
		}
	}
	return got
}

func ids(evs []schemas.JobEvent) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID
	}
	return out
}

func subscribe(t *testing.T, s stream.Streams, address string) stream.Subscription {
	t.Helper()
	sub, err := s.Subscribe(ctx(t), address)
	if err != nil {
		t.Fatalf("Subscribe(%s): %v", address, err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	// No read has lost anything yet.
	if h := sub.HiddenUntil(); !h.IsZero() {
		t.Fatalf("a new subscription of %s says events are hidden until %s", address, h)
	}
	return sub
}

func publish(t *testing.T, s stream.Streams, address string, evs ...schemas.JobEvent) {
	t.Helper()
	if err := s.Publish(ctx(t), address, evs...); err != nil {
		t.Fatalf("Publish(%s, %d events): %v", address, len(evs), err)
	}
}

func testCreate(t *testing.T, _ Features, s stream.Streams) {
	jobID, address := create(t, s, TTL)
	again, err := s.Create(ctx(t), jobID, TTL)
	if err != nil {
		t.Fatalf("Create again: %v", err)
	}
	if again != address {
		t.Fatalf("Create again = %q, want %q", again, address)
	}
	_, other := create(t, s, TTL)
	if other == address {
		t.Fatalf("two jobs share the address %q", address)
	}
}

func testCreateInvalid(t *testing.T, _ Features, s stream.Streams) {
	for _, id := range []string{"", "not a job id", "../../etc/passwd"} {
		if addr, err := s.Create(ctx(t), id, TTL); err == nil {
			_ = s.Delete(ctx(t), addr)
			t.Errorf("Create(%q) = %q, want an error", id, addr)
		}
	}
}

func testRoundTrip(t *testing.T, f Features, s stream.Streams) {
	jobID, address := create(t, s, TTL)
	want := fullEvents(jobID)
	// Published before anyone subscribes: a subscriber opened later
	// still gets them (the producer subscribes after enqueuing).
	publish(t, s, address, want[:2]...)
	for _, ev := range want[2:] {
		publish(t, s, address, ev)
	}
	sub := subscribe(t, s, address)
	got := collect(t, f, sub, ids(want))
	byID := map[string]schemas.JobEvent{}
	for _, ev := range got {
		byID[ev.ID] = ev
	}
	for _, w := range want {
		if g := byID[w.ID]; !equal(g, w) {
			t.Errorf("event %s changed in transit:\n got %s\nwant %s", w.ID, show(g), show(w))
		}
	}
}

func testPublishNothing(t *testing.T, _ Features, s stream.Streams) {
	_, address := create(t, s, TTL)
	if err := s.Publish(ctx(t), address); err != nil {
		t.Fatalf("Publish with no events: %v", err)
	}
}

// testPublishRefuses: a stream takes only valid events of its own job; a
// call holding one that is not is refused whole, with schemas.ErrMalformed,
// and publishes nothing.
func testPublishRefuses(t *testing.T, f Features, s stream.Streams) {
	jobID, address := create(t, s, TTL)
	foreign := event(newJob(), 1)
	invalid := event(jobID, 2)
	invalid.ID = ""
	for name, evs := range map[string][]schemas.JobEvent{
		"another job's": {event(jobID, 3), foreign},
		"invalid":       {event(jobID, 4), invalid},
	} {
		if err := s.Publish(ctx(t), address, evs...); !errors.Is(err, schemas.ErrMalformed) {
			t.Errorf("Publish of %s event: %v, want schemas.ErrMalformed", name, err)
		}
	}
	ok := event(jobID, 5)
	publish(t, s, address, ok)
	got := collect(t, f, subscribe(t, s, address), []string{ok.ID})
	if len(got) != 1 || got[0].ID != ok.ID {
		t.Errorf("the stream holds %v, want only %s: a refused call published something", ids(got), ok.ID)
	}
}

func testNextWaits(t *testing.T, f Features, s stream.Streams) {
	jobID, address := create(t, s, TTL)
	sub := subscribe(t, s, address)
	const delay = 300 * time.Millisecond
	ev := event(jobID, 1)
	errc := make(chan error, 1)
	timer := time.AfterFunc(delay, func() { errc <- s.Publish(context.Background(), address, ev) })
	defer timer.Stop()
	start := time.Now()
	wait := f.Timeout
	evs, err := sub.Next(ctx(t), wait)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	if perr := <-errc; perr != nil {
		t.Fatalf("Publish: %v", perr)
	}
	if len(evs) == 0 {
		t.Fatalf("Next returned nothing after %s, want the event published after %s", elapsed, delay)
	}
	if evs[0].ID != ev.ID {
		t.Fatalf("Next returned %s, want %s", evs[0].ID, ev.ID)
	}
	if elapsed < delay/2 {
		t.Errorf("Next returned after %s, before the event was published", elapsed)
	}
	if elapsed > wait/2 {
		t.Errorf("Next returned after %s: it should return as soon as the event arrives", elapsed)
	}
}

func testNextEmpty(t *testing.T, f Features, s stream.Streams) {
	_, address := create(t, s, TTL)
	sub := subscribe(t, s, address)
	start := time.Now()
	evs, err := sub.Next(ctx(t), f.EmptyWait)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	if len(evs) != 0 {
		t.Fatalf("Next on an empty stream returned %d events", len(evs))
	}
	if elapsed < f.EmptyWait*8/10 {
		t.Errorf("Next returned after %s, want it to wait about %s", elapsed, f.EmptyWait)
	}
	if elapsed > f.EmptyWait+f.Timeout/3 {
		t.Errorf("Next returned after %s, want about %s", elapsed, f.EmptyWait)
	}
	// A zero wait returns at once.
	start = time.Now()
	if _, err := sub.Next(ctx(t), 0); err != nil {
		t.Fatalf("Next(0): %v", err)
	}
	if elapsed := time.Since(start); elapsed > f.Timeout/3 {
		t.Errorf("Next(0) took %s", elapsed)
	}
}

func testOrdered(t *testing.T, f Features, s stream.Streams) {
	if !f.Ordered {
		t.Skip("the backend does not preserve order")
	}
	jobID, address := create(t, s, TTL)
	var want []schemas.JobEvent
	for i := range 20 {
		ev := event(jobID, i)
		want = append(want, ev)
		publish(t, s, address, ev)
	}
	var batch []schemas.JobEvent
	for i := 20; i < 120; i++ {
		batch = append(batch, event(jobID, i))
	}
	publish(t, s, address, batch...)
	want = append(want, batch...)
	sub := subscribe(t, s, address)
	got := collect(t, f, sub, ids(want))
	for i := range want {
		if got[i].ID != want[i].ID {
			t.Fatalf("event %d is %s, want %s", i, got[i].ID, want[i].ID)
		}
	}
}

// deleted returns the address of a stream that existed and was deleted.
func deleted(t *testing.T, s stream.Streams) (jobID, address string) {
	t.Helper()
	jobID, address = create(t, s, TTL)
	if err := s.Delete(ctx(t), address); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	return jobID, address
}

// eventually retries fn until it returns nil or the suite's timeout.
func eventually(t *testing.T, f Features, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(f.Timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		select {
		case <-ctx(t).Done():
			t.Fatalf("%s: %v", what, ctx(t).Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func wantNotFound(err error) error {
	if errors.Is(err, stream.ErrNotFound) {
		return nil
	}
	return fmt.Errorf("got %w, want stream.ErrNotFound", err)
}

func testNotFound(t *testing.T, f Features, s stream.Streams) {
	check := func(t *testing.T, jobID, address string) {
		eventually(t, f, "Publish", func() error {
			return wantNotFound(s.Publish(ctx(t), address, event(jobID, 1)))
		})
		eventually(t, f, "Subscribe", func() error {
			sub, err := s.Subscribe(ctx(t), address)
			if err == nil {
				_ = sub.Close()
			}
			return wantNotFound(err)
		})
		eventually(t, f, "Delete", func() error { return wantNotFound(s.Delete(ctx(t), address)) })
	}
	t.Run("Deleted", func(t *testing.T) {
		jobID, address := deleted(t, s)
		check(t, jobID, address)
	})
	t.Run("NeverCreated", func(t *testing.T) {
		if f.Address == nil {
			t.Skip("Features.Address not set")
		}
		jobID := newJob()
		check(t, jobID, f.Address(jobID))
	})
}

func testInvalidAddress(t *testing.T, _ Features, s stream.Streams) {
	const bad = "not a stream address"
	if err := s.Publish(ctx(t), bad, event(newJob(), 1)); !errors.Is(err, stream.ErrInvalidAddress) {
		t.Errorf("Publish: got %v, want stream.ErrInvalidAddress", err)
	}
	if sub, err := s.Subscribe(ctx(t), bad); !errors.Is(err, stream.ErrInvalidAddress) {
		if err == nil {
			_ = sub.Close()
		}
		t.Errorf("Subscribe: got %v, want stream.ErrInvalidAddress", err)
	}
	if err := s.Delete(ctx(t), bad); !errors.Is(err, stream.ErrInvalidAddress) {
		t.Errorf("Delete: got %v, want stream.ErrInvalidAddress", err)
	}
}

func testSubscriberAfterDelete(t *testing.T, f Features, s stream.Streams) {
	jobID, address := create(t, s, TTL)
	publish(t, s, address, event(jobID, 1))
	sub := subscribe(t, s, address)
	collect(t, f, sub, []string{event(jobID, 1).ID})
	if err := s.Delete(ctx(t), address); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	eventually(t, f, "Next after Delete", func() error {
		_, err := sub.Next(ctx(t), f.EmptyWait)
		return wantNotFound(err)
	})
}

func testDeleteExpired(t *testing.T, f Features, s stream.Streams) {
	// The short stream expires within a minute, the long one in TTL; a
	// janitor running ten minutes from now takes the first only (and
	// any other test's stream expiring by then, which the suite never
	// makes).
	shortJob, short := create(t, s, time.Minute)
	longJob, long := create(t, s, TTL)
	publish(t, s, short, event(shortJob, 1))
	publish(t, s, long, event(longJob, 1))
	n, err := s.DeleteExpired(ctx(t), time.Now().Add(10*time.Minute))
	if err != nil {
		t.Fatalf("DeleteExpired: %v", err)
	}
	if n < 1 {
		t.Fatalf("DeleteExpired removed %d streams, want at least 1", n)
	}
	eventually(t, f, "Subscribe to the expired stream", func() error {
		sub, err := s.Subscribe(ctx(t), short)
		if err == nil {
			_ = sub.Close()
		}
		return wantNotFound(err)
	})
	sub := subscribe(t, s, long)
	collect(t, f, sub, []string{event(longJob, 1).ID})
	publish(t, s, long, event(longJob, 2))
	collect(t, f, sub, []string{event(longJob, 2).ID})
	// Nothing else expires before the present.
	if _, err := s.DeleteExpired(ctx(t), time.Now()); err != nil {
		t.Fatalf("DeleteExpired now: %v", err)
	}
	publish(t, s, long, event(longJob, 3))
}

func testContextCancel(t *testing.T, f Features, s stream.Streams) {
	_, address := create(t, s, TTL)
	sub := subscribe(t, s, address)

	c, cancel := context.WithCancel(ctx(t))
	timer := time.AfterFunc(200*time.Millisecond, cancel)
	defer timer.Stop()
	start := time.Now()
	_, err := sub.Next(c, f.Timeout)
	elapsed := time.Since(start)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Next with a cancelled context: got %v, want context.Canceled", err)
	}
	if elapsed > f.Timeout/3 {
		t.Errorf("Next returned %s after its context was cancelled", elapsed)
	}

	c, cancel = context.WithCancel(ctx(t))
	cancel()
	if _, err := sub.Next(c, f.Timeout); !errors.Is(err, context.Canceled) {
		t.Errorf("Next with a context cancelled beforehand: got %v, want context.Canceled", err)
	}
}

func testBurst(t *testing.T, f Features, s stream.Streams) {
	jobID, address := create(t, s, TTL)
	sub := subscribe(t, s, address)
	want := make([]schemas.JobEvent, f.BurstSize)
	for i := range want {
		want[i] = event(jobID, i)
	}
	// Four publishers at once, each in batches of 50, while the
	// subscriber reads.
	const publishers, batch = 4, 50
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for p := range publishers {
		wg.Go(func() {
			for i := p * batch; i < len(want); i += publishers * batch {
				if err := s.Publish(ctx(t), address, want[i:min(i+batch, len(want))]...); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	got := collect(t, f, sub, ids(want))
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Publish: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	if f.Ordered {
		// Each publisher's batches keep their order.
		last := map[int]int{}
		for _, ev := range got {
			var n int
			if _, err := fmt.Sscanf(ev.ID[len(jobID):], "-ev-%d", &n); err != nil {
				t.Fatalf("event id %q: %v", ev.ID, err)
			}
			p := (n / batch) % publishers
			if prev, ok := last[p]; ok && n < prev {
				t.Fatalf("publisher %d's event %d arrived after its event %d", p, n, prev)
			}
			last[p] = n
		}
	}
	// Nothing more arrives.
	evs, err := sub.Next(ctx(t), f.EmptyWait)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	for _, ev := range evs {
		if !f.Duplicates {
			t.Fatalf("extra event %s after the burst", ev.ID)
		}
	}
}

func testReplay(t *testing.T, f Features, s stream.Streams) {
	if !f.Replayable {
		t.Skip("the backend is not replayable")
	}
	jobID, address := create(t, s, TTL)
	var want []schemas.JobEvent
	for i := range 10 {
		want = append(want, event(jobID, i))
	}
	first := subscribe(t, s, address)
	publish(t, s, address, want[:5]...)
	second := subscribe(t, s, address)
	publish(t, s, address, want[5:]...)
	third := subscribe(t, s, address)
	for i, sub := range []stream.Subscription{first, second, third} {
		got := collect(t, f, sub, ids(want))
		if len(got) != len(want) {
			t.Errorf("subscriber %d saw %d events, want %d", i+1, len(got), len(want))
		}
	}
}

func testSharedConsumption(t *testing.T, f Features, s stream.Streams) {
	if f.Replayable {
		t.Skip("the backend is replayable (see Replay)")
	}
	jobID, address := create(t, s, TTL)
	var want []schemas.JobEvent
	for i := range 20 {
		want = append(want, event(jobID, i))
	}
	a, b := subscribe(t, s, address), subscribe(t, s, address)
	publish(t, s, address, want...)
	wanted := map[string]bool{}
	for _, ev := range want {
		wanted[ev.ID] = true
	}
	seen := map[string]bool{}
	deadline := time.Now().Add(f.Timeout)
	for len(seen) < len(want) && time.Now().Before(deadline) {
		for _, sub := range []stream.Subscription{a, b} {
			evs, err := sub.Next(ctx(t), f.EmptyWait)
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			for _, ev := range evs {
				if !wanted[ev.ID] {
					t.Fatalf("unexpected event %s", ev.ID)
				}
				seen[ev.ID] = true
			}
		}
	}
	if len(seen) != len(want) {
		t.Fatalf("subscribers together saw %d of %d events", len(seen), len(want))
	}
}

func testClose(t *testing.T, _ Features, s stream.Streams) {
	_, address := create(t, s, TTL)
	sub, err := s.Subscribe(ctx(t), address)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	if err := sub.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := sub.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := sub.Next(ctx(t), 0); err == nil {
		t.Fatalf("Next after Close succeeded, want an error")
	}
}
