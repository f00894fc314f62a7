package sqlitequeue_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/queue/queuetest"
	"github.com/deployerhq/deployer/internal/queue/sqlitequeue"
	"github.com/deployerhq/deployer/internal/sqlitedb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const sender = "user:queuetest"

func openDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sqlitedb.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func newBroker(t testing.TB, db *sql.DB, opts sqlitequeue.Options) *sqlitequeue.Broker {
	t.Helper()
	b, err := sqlitequeue.New(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func tempDB(t testing.TB) *sql.DB {
	return openDB(t, filepath.Join(t.TempDir(), sqlitedb.FileName))
}

func TestConformance(t *testing.T) {
	b := newBroker(t, tempDB(t), sqlitequeue.Options{SenderID: sender})
	queuetest.Run(t, queuetest.Features{SenderID: sender}, func(*testing.T) queue.Broker { return b })
}

// TestConformanceCrossHandle runs the suite with every queue sending
// through one database handle and receiving through another, as two
// processes do: no in-process wake-ups, only the database.
func TestConformanceCrossHandle(t *testing.T) {
	path := filepath.Join(t.TempDir(), sqlitedb.FileName)
	s := &splitBroker{
		tx: newBroker(t, openDB(t, path), sqlitequeue.Options{SenderID: sender}),
		rx: newBroker(t, openDB(t, path), sqlitequeue.Options{SenderID: "user:receiver"}),
	}
	queuetest.Run(t, queuetest.Features{SenderID: sender}, func(*testing.T) queue.Broker { return s })
}

// TestConformanceOnASlowMachine runs the suite with every Receive
// reaching the backend 300ms late, as on a machine too loaded to keep the
// suite's first windows (250ms visibility timeouts and delays): the
// timing checks must widen their windows and pass, not skip.
func TestConformanceOnASlowMachine(t *testing.T) {
	b := &slowBroker{Broker: newBroker(t, tempDB(t), sqlitequeue.Options{SenderID: sender}), lag: 300 * time.Millisecond}
	queuetest.Run(t, queuetest.Features{SenderID: sender}, func(*testing.T) queue.Broker { return b })
}

// slowBroker's queues call the backend's Receive lag late.
type slowBroker struct {
	*sqlitequeue.Broker
	lag time.Duration
}

type slowQueue struct {
	queue.Queue
	lag time.Duration
}

func (s *slowBroker) Create(ctx context.Context, name string, cfg queue.Config) (queue.Queue, error) {
	q, err := s.Broker.Create(ctx, name, cfg)
	if err != nil {
		return nil, err
	}
	return &slowQueue{Queue: q, lag: s.lag}, nil
}

func (s *slowBroker) Open(ctx context.Context, name string) (queue.Queue, error) {
	q, err := s.Broker.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	return &slowQueue{Queue: q, lag: s.lag}, nil
}

func (q *slowQueue) Receive(ctx context.Context, opts queue.ReceiveOptions) ([]queue.Message, error) {
	lag := time.NewTimer(q.lag) // the machine's slowness, not a wait for something
	defer lag.Stop()
	select {
	case <-lag.C:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return q.Queue.Receive(ctx, opts)
}

// splitBroker creates queues through tx and manages them through rx; its
// queues send through tx and receive, delete and change visibility
// through rx.
type splitBroker struct{ tx, rx *sqlitequeue.Broker }

type splitQueue struct{ tx, rx queue.Queue }

func (s *splitBroker) Create(ctx context.Context, name string, cfg queue.Config) (queue.Queue, error) {
	tx, err := s.tx.Create(ctx, name, cfg)
	if err != nil {
		return nil, err
	}
	rx, err := s.rx.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	return &splitQueue{tx: tx, rx: rx}, nil
}

func (s *splitBroker) Open(ctx context.Context, name string) (queue.Queue, error) {
	tx, err := s.tx.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	rx, err := s.rx.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	return &splitQueue{tx: tx, rx: rx}, nil
}

func (s *splitBroker) Delete(ctx context.Context, name string) error { return s.rx.Delete(ctx, name) }

func (s *splitBroker) List(ctx context.Context, prefix string) ([]string, error) {
	return s.rx.List(ctx, prefix)
}

func (s *splitBroker) Stats(ctx context.Context, name string) (queue.Stats, error) {
	return s.rx.Stats(ctx, name)
}

func (q *splitQueue) Name() string { return q.tx.Name() }

func (q *splitQueue) Send(ctx context.Context, msgs ...queue.Outgoing) ([]string, error) {
	return q.tx.Send(ctx, msgs...)
}

func (q *splitQueue) Receive(ctx context.Context, opts queue.ReceiveOptions) ([]queue.Message, error) {
	return q.rx.Receive(ctx, opts)
}

func (q *splitQueue) Delete(ctx context.Context, receipts ...string) error {
	return q.rx.Delete(ctx, receipts...)
}

func (q *splitQueue) ChangeVisibility(ctx context.Context, receipt string, d time.Duration) error {
	return q.rx.ChangeVisibility(ctx, receipt, d)
}

// TestTwoHandlesNeverDoubleDeliver has consumers on two database handles
// of one file (two processes, as far as SQLite can tell) drain a queue:
// every message reaches exactly one of them.
func TestTwoHandlesNeverDoubleDeliver(t *testing.T) {
	const messages, consumersPerHandle = 300, 3
	path := filepath.Join(t.TempDir(), sqlitedb.FileName)
	brokers := []*sqlitequeue.Broker{
		newBroker(t, openDB(t, path), sqlitequeue.Options{}),
		newBroker(t, openDB(t, path), sqlitequeue.Options{}),
	}
	ctx := t.Context()
	if _, err := brokers[0].Create(ctx, "work", queue.Config{}); err != nil {
		t.Fatal(err)
	}
	sent := map[string]bool{}
	for i := 0; i < messages; i += queue.MaxBatch {
		batch := make([]queue.Outgoing, queue.MaxBatch)
		for j := range batch {
			batch[j] = queue.Outgoing{Body: fmt.Appendf(nil, "job %d", i+j)}
		}
		// Alternate senders too.
		q, err := brokers[i/queue.MaxBatch%2].Open(ctx, "work")
		if err != nil {
			t.Fatal(err)
		}
		ids, err := q.Send(ctx, batch...)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			sent[id] = true
		}
	}

	runCtx, cancel := context.WithTimeout(ctx, queuetest.Timeout)
	defer cancel()
	var (
		mu   sync.Mutex
		seen = map[string][]string{}
		wg   sync.WaitGroup
	)
	for h, b := range brokers {
		q, err := b.Open(ctx, "work")
		if err != nil {
			t.Fatal(err)
		}
		for c := range consumersPerHandle {
			consumer := fmt.Sprintf("handle %d consumer %d", h, c)
			wg.Go(func() {
				for runCtx.Err() == nil {
					msgs, err := q.Receive(runCtx, queue.ReceiveOptions{Max: 1 + 3*c, Wait: time.Second, Visibility: time.Hour})
					if err != nil {
						if runCtx.Err() == nil {
							t.Errorf("%s: %v", consumer, err)
							cancel()
						}
						return
					}
					mu.Lock()
					for _, m := range msgs {
						seen[m.ID] = append(seen[m.ID], consumer)
					}
					if len(seen) == messages {
						cancel()
					}
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	if len(seen) != messages {
		t.Errorf("%d of %d messages delivered", len(seen), messages)
	}
	for id, who := range seen {
		if !sent[id] {
			t.Errorf("delivered %s, which was not sent", id)
		}
		if len(who) > 1 {
			t.Errorf("message %s delivered %d times: %v", id, len(who), who)
		}
	}
}

// clock is a settable Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a broker on a fresh database with a settable clock.
type fixture struct {
	t     *testing.T
	db    *sql.DB
	b     *sqlitequeue.Broker
	clock *clock
}

func newFixture(t *testing.T) *fixture {
	c := newClock()
	db := tempDB(t)
	return &fixture{t: t, db: db, clock: c, b: newBroker(t, db, sqlitequeue.Options{SenderID: sender, Now: c.Now})}
}

func (f *fixture) create(name string, cfg queue.Config) queue.Queue {
	f.t.Helper()
	q, err := f.b.Create(f.t.Context(), name, cfg)
	if err != nil {
		f.t.Fatalf("Create(%s): %v", name, err)
	}
	return q
}

func (f *fixture) send(q queue.Queue, msgs ...queue.Outgoing) []string {
	f.t.Helper()
	ids, err := q.Send(f.t.Context(), msgs...)
	if err != nil {
		f.t.Fatalf("Send: %v", err)
	}
	return ids
}

// receive receives without waiting.
func (f *fixture) receive(q queue.Queue, vis time.Duration) []queue.Message {
	f.t.Helper()
	msgs, err := q.Receive(f.t.Context(), queue.ReceiveOptions{Max: queue.MaxBatch, Visibility: vis})
	if err != nil {
		f.t.Fatalf("Receive(%s): %v", q.Name(), err)
	}
	return msgs
}

func (f *fixture) rows(q queue.Queue) int {
	f.t.Helper()
	var n int
	if err := f.db.QueryRow(`SELECT COUNT(*) FROM queue_messages WHERE queue = ?`, q.Name()).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

func TestVisibilityDelayAndRetentionByClock(t *testing.T) {
	f := newFixture(t)
	q := f.create("q", queue.Config{VisibilityTimeout: time.Minute, Retention: 10 * time.Minute})
	ids := f.send(q, queue.Outgoing{Body: []byte("now")}, queue.Outgoing{Body: []byte("later"), Delay: 15 * time.Minute})

	msgs := f.receive(q, 0)
	if len(msgs) != 1 || msgs[0].ID != ids[0] {
		t.Fatalf("got %d messages, want only the undelayed one", len(msgs))
	}
	if !msgs[0].SentAt.Equal(f.clock.Now()) {
		t.Errorf("SentAt = %s, want %s", msgs[0].SentAt, f.clock.Now())
	}
	f.clock.Advance(time.Minute - time.Millisecond)
	if msgs := f.receive(q, 0); len(msgs) != 0 {
		t.Fatalf("visible before the queue's 1m visibility timeout ended")
	}
	f.clock.Advance(time.Millisecond)
	msgs = f.receive(q, 3*time.Minute)
	if len(msgs) != 1 || msgs[0].ReceiveCount != 2 {
		t.Fatalf("got %v, want the first message again", msgs)
	}

	// Past the 10m retention both messages expire, received or not,
	// visible or not.
	f.clock.Advance(10 * time.Minute)
	if msgs := f.receive(q, 0); len(msgs) != 0 {
		t.Fatalf("received %d messages past their retention", len(msgs))
	}
	if n := f.rows(q); n != 0 {
		t.Errorf("%d expired messages left in the table", n)
	}
}

func TestDeadLetterKeepsMessage(t *testing.T) {
	f := newFixture(t)
	dlq := f.create("dlq", queue.Config{})
	q := f.create("q", queue.Config{DeadLetter: &queue.Redrive{Queue: "dlq", MaxReceiveCount: 1}})
	ids := f.send(q, queue.Outgoing{Body: []byte("poison"), Attributes: map[string]string{"k": "v"}})
	sentAt := f.clock.Now()

	first := f.receive(q, time.Minute)
	if len(first) != 1 {
		t.Fatalf("got %d messages, want 1", len(first))
	}
	f.clock.Advance(time.Minute)
	if msgs := f.receive(q, 0); len(msgs) != 0 {
		t.Fatalf("received the message a second time (ReceiveCount %d), want it dead-lettered", msgs[0].ReceiveCount)
	}
	if err := q.Delete(t.Context(), first[0].Receipt); err != nil {
		t.Errorf("Delete with the receipt of a dead-lettered message: %v, want nil (gone from this queue)", err)
	}
	msgs := f.receive(dlq, 0)
	if len(msgs) != 1 {
		t.Fatalf("got %d dead letters, want 1", len(msgs))
	}
	m := msgs[0]
	if m.ID != ids[0] || string(m.Body) != "poison" || m.Attributes["k"] != "v" ||
		!m.SentAt.Equal(sentAt) || m.SenderID != sender || m.ReceiveCount != 1 {
		t.Errorf("dead letter %+v: want id %s, body, attributes, sent time and sender kept, ReceiveCount 1", m, ids[0])
	}
}

func TestDeadLetterQueueDeletedSuspendsRedrive(t *testing.T) {
	f := newFixture(t)
	f.create("dlq", queue.Config{})
	q := f.create("q", queue.Config{DeadLetter: &queue.Redrive{Queue: "dlq", MaxReceiveCount: 1}})
	f.send(q, queue.Outgoing{Body: []byte("x")})
	if err := f.b.Delete(t.Context(), "dlq"); err != nil {
		t.Fatal(err)
	}
	for want := 1; want <= 3; want++ {
		msgs := f.receive(q, time.Minute)
		if len(msgs) != 1 || msgs[0].ReceiveCount != want {
			t.Fatalf("receive %d: got %v, want the message with ReceiveCount %d", want, msgs, want)
		}
		f.clock.Advance(time.Minute)
	}
}

func TestCreate(t *testing.T) {
	f := newFixture(t)
	_, err := f.b.Create(t.Context(), "q", queue.Config{DeadLetter: &queue.Redrive{Queue: "missing", MaxReceiveCount: 3}})
	if !errors.Is(err, queue.ErrInvalid) {
		t.Errorf("Create with a missing dead-letter queue: %v, want %v", err, queue.ErrInvalid)
	}
	_, err = f.b.Create(t.Context(), "q", queue.Config{DeadLetter: &queue.Redrive{Queue: "q", MaxReceiveCount: 3}})
	if !errors.Is(err, queue.ErrInvalid) {
		t.Errorf("Create with itself as dead-letter queue: %v, want %v", err, queue.ErrInvalid)
	}
	_, err = f.b.Create(t.Context(), "q", queue.Config{Retention: 30 * time.Second})
	if !errors.Is(err, queue.ErrInvalid) {
		t.Errorf("Create with a 30s retention: %v, want %v", err, queue.ErrInvalid)
	}

	// Creating an existing queue applies the new configuration.
	q := f.create("q", queue.Config{VisibilityTimeout: time.Minute})
	f.send(q, queue.Outgoing{Body: []byte("x")})
	f.create("q", queue.Config{VisibilityTimeout: 5 * time.Minute})
	if len(f.receive(q, 0)) != 1 {
		t.Fatal("message not received")
	}
	f.clock.Advance(4 * time.Minute)
	if len(f.receive(q, 0)) != 0 {
		t.Fatal("message visible after 4m: the second Create's 5m visibility timeout was not applied")
	}
}

func TestDeleteQueueEndsLongPoll(t *testing.T) {
	f := newFixture(t)
	q := f.create("q", queue.Config{})
	done := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		close(started)
		_, err := q.Receive(t.Context(), queue.ReceiveOptions{Wait: queue.MaxWait})
		done <- err
	}()
	<-started
	if err := f.b.Delete(t.Context(), "q"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, queue.ErrNotFound) {
			t.Errorf("Receive on a deleted queue: %v, want %v", err, queue.ErrNotFound)
		}
	case <-time.After(queue.MaxWait / 2):
		t.Fatal("long poll did not end when its queue was deleted")
	}
}

func TestNew(t *testing.T) {
	if _, err := sqlitequeue.New(nil, sqlitequeue.Options{}); err == nil {
		t.Error("New(nil) succeeded")
	}
	// Migrating twice, as every process does on start, is harmless.
	db := tempDB(t)
	newBroker(t, db, sqlitequeue.Options{})
	newBroker(t, db, sqlitequeue.Options{})
}

// BenchmarkSendReceiveDelete measures a message's full trip: send,
// receive, delete, one call each per batch.
func BenchmarkSendReceiveDelete(b *testing.B) {
	for _, batch := range []int{1, queue.MaxBatch} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			br := newBroker(b, tempDB(b), sqlitequeue.Options{SenderID: sender})
			ctx := b.Context()
			q, err := br.Create(ctx, "bench", queue.Config{})
			if err != nil {
				b.Fatal(err)
			}
			out := make([]queue.Outgoing, batch)
			for i := range out {
				out[i] = queue.Outgoing{
					Body:       []byte(`{"schema":"run_order/v1","job_id":"01JD0000000000000000000000","args":["plan"]}`),
					Attributes: map[string]string{"schema": "run_order/v1"},
				}
			}
			receipts := make([]string, 0, batch)
			n := 0
			for b.Loop() {
				if _, err := q.Send(ctx, out...); err != nil {
					b.Fatal(err)
				}
				receipts = receipts[:0]
				for len(receipts) < batch {
					msgs, err := q.Receive(ctx, queue.ReceiveOptions{Max: batch - len(receipts), Wait: time.Second})
					if err != nil {
						b.Fatal(err)
					}
					for _, m := range msgs {
						receipts = append(receipts, m.Receipt)
					}
				}
				if err := q.Delete(ctx, receipts...); err != nil {
					b.Fatal(err)
				}
				n += batch
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

func TestTags(t *testing.T) {
	b := newBroker(t, tempDB(t), sqlitequeue.Options{})
	if _, err := b.Create(t.Context(), "tagged", queue.Config{Tags: map[string]string{"job_id": "J", "expires_at": "2026-01-01T00:00:00Z"}}); err != nil {
		t.Fatal(err)
	}
	tags, err := b.Tags(t.Context(), "tagged")
	if err != nil {
		t.Fatal(err)
	}
	if tags["job_id"] != "J" || tags["expires_at"] != "2026-01-01T00:00:00Z" || len(tags) != 2 {
		t.Fatalf("Tags = %v", tags)
	}
	if _, err := b.Tags(t.Context(), "missing"); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("Tags(missing) = %v, want ErrNotFound", err)
	}
}

// TestCountSeesVisibleDelayedAndInFlight: Count counts every message of
// the named queues that has not expired, whatever its visibility, and
// nothing of other queues or of queues that do not exist.
func TestCountSeesVisibleDelayedAndInFlight(t *testing.T) {
	f := newFixture(t)
	q := f.create("q", queue.Config{VisibilityTimeout: time.Minute, Retention: 10 * time.Minute})
	other := f.create("other", queue.Config{})
	count := func() int {
		t.Helper()
		n, err := f.b.Count(t.Context(), "q", "missing")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("empty queue counts %d", n)
	}
	f.send(other, queue.Outgoing{Body: []byte("elsewhere")})
	f.send(q, queue.Outgoing{Body: []byte("now")}, queue.Outgoing{Body: []byte("later"), Delay: 5 * time.Minute})
	if n := count(); n != 2 {
		t.Fatalf("a visible and a delayed message count %d, want 2", n)
	}
	msgs := f.receive(q, 0)
	if n := count(); n != 2 || len(msgs) != 1 {
		t.Fatalf("with one in flight: count %d (received %d), want 2", n, len(msgs))
	}
	if err := q.Delete(t.Context(), msgs[0].Receipt); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 1 {
		t.Fatalf("after a delete: count %d, want 1", n)
	}
	f.clock.Advance(10 * time.Minute)
	if n := count(); n != 0 {
		t.Fatalf("past retention: count %d, want 0", n)
	}
	if n, err := f.b.Count(t.Context()); err != nil || n != 0 {
		t.Fatalf("no queues: %d, %v", n, err)
	}
}
