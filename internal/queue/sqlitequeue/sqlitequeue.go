package sqlitequeue

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/sqlitedb"
)

var schema = []string{
	`CREATE TABLE IF NOT EXISTS queue_queues (
		name          TEXT PRIMARY KEY,
		visibility_ms INTEGER NOT NULL,
		retention_ms  INTEGER NOT NULL,
		dlq           TEXT,
		max_receives  INTEGER NOT NULL DEFAULT 0,
		tags          TEXT NOT NULL DEFAULT '{}',
		created_at    INTEGER NOT NULL
	)`,
	// seq is the send order (rowid); visible_at and sent_at are Unix ms;
	// receipt is the token of the current delivery, NULL before the first.
	`CREATE TABLE IF NOT EXISTS queue_messages (
		seq        INTEGER PRIMARY KEY,
		id         TEXT NOT NULL UNIQUE,
		queue      TEXT NOT NULL,
		body       BLOB NOT NULL,
		attributes TEXT NOT NULL DEFAULT '{}',
		sender     TEXT NOT NULL DEFAULT '',
		sent_at    INTEGER NOT NULL,
		visible_at INTEGER NOT NULL,
		receives   INTEGER NOT NULL DEFAULT 0,
		receipt    TEXT
	)`,
	`CREATE INDEX IF NOT EXISTS queue_messages_visible ON queue_messages (queue, visible_at)`,
	`CREATE INDEX IF NOT EXISTS queue_messages_sent ON queue_messages (queue, sent_at)`,
}

// DefaultPollInterval is the default Options.PollInterval.
const DefaultPollInterval = 25 * time.Millisecond

// Options configure a Broker. The zero value is ready to use.
type Options struct {
	// SenderID is recorded as the verified sender of every message this
	// broker sends and reported as queue.Message.SenderID. The embedded
	// backend sets it to the OS user, "user:<name>". Defaults to "".
	SenderID string
	// PollInterval is how often a long poll looks for messages made
	// visible by other processes. Defaults to DefaultPollInterval.
	PollInterval time.Duration
	// Now returns the current time for send, visibility and retention
	// times; long polls still wait in real time. For tests. Defaults to
	// time.Now.
	Now func() time.Time
}

// Broker is the SQLite queue adapter: it creates, opens and deletes queues
// in one state database. It is safe for concurrent use.
type Broker struct {
	db      *sql.DB
	opts    Options
	waiters waiters
	// changes wakes long polls when another process commits.
	changes *sqlitedb.Changes
	// stmts holds the look that every wake-up of a receive makes.
	stmts *sqlitedb.Stmts
}

// Queue is a handle on one queue of a Broker. It is safe for concurrent
// use; handles are cheap and hold no state but the name.
type Queue struct {
	b    *Broker
	name string
}

var (
	_ queue.Broker = (*Broker)(nil)
	_ queue.Queue  = (*Queue)(nil)
)

// New returns a broker on db, which must come from sqlitedb.Open or
// sqlitedb.OpenFile, creating its tables when they do not exist.
func New(db *sql.DB, opts Options) (*Broker, error) {
	if db == nil {
		return nil, errors.New("creating queue broker: no database")
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ctx, cancel := context.WithTimeout(context.Background(), sqlitedb.BusyTimeout)
	defer cancel()
	if err := sqlitedb.Migrate(ctx, db, schema...); err != nil {
		return nil, fmt.Errorf("creating queue tables: %w", err)
	}
	return &Broker{db: db, opts: opts, waiters: waiters{m: map[string]*waiter{}}, changes: sqlitedb.ChangesOf(ctx, db), stmts: sqlitedb.NewStmts(db)}, nil
}

func (b *Broker) now() int64 { return b.opts.Now().UnixMilli() }

// after returns the time d from now in Unix milliseconds, rounded up: a
// message hidden or delayed for d never becomes visible before d has
// passed (times are kept to the millisecond).
func (b *Broker) after(d time.Duration) int64 {
	if d <= 0 {
		return b.now()
	}
	t := b.opts.Now().Add(d)
	ms := t.UnixMilli()
	if t.After(time.UnixMilli(ms)) {
		ms++
	}
	return ms
}

// Create creates the queue, or, when it exists, applies cfg to it and
// opens it. A redrive policy's dead-letter queue must already exist
// (queue.ErrInvalid otherwise), as SQS requires.
func (b *Broker) Create(ctx context.Context, name string, cfg queue.Config) (queue.Queue, error) {
	s, err := checkConfig(name, cfg)
	if err != nil {
		return nil, fmt.Errorf("creating queue %s: %w", name, err)
	}
	tags, err := json.Marshal(orEmpty(cfg.Tags))
	if err != nil {
		return nil, fmt.Errorf("creating queue %s: encoding tags: %w", name, err)
	}
	var dlq sql.NullString
	if s.dlq != "" {
		dlq = sql.NullString{String: s.dlq, Valid: true}
	}
	err = b.stmts.Tx(ctx, func(tx *sql.Tx) error {
		if dlq.Valid {
			ok, err := queueExists(ctx, tx, s.dlq)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%w: dead-letter queue %s does not exist", queue.ErrInvalid, s.dlq)
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO queue_queues
			(name, visibility_ms, retention_ms, dlq, max_receives, tags, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET
				visibility_ms = excluded.visibility_ms, retention_ms = excluded.retention_ms,
				dlq = excluded.dlq, max_receives = excluded.max_receives, tags = excluded.tags`,
			name, s.visibility.Milliseconds(), s.retention.Milliseconds(), dlq, s.maxReceives, string(tags), b.now())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("creating queue %s: %w", name, err)
	}
	return &Queue{b: b, name: name}, nil
}

// Open opens an existing queue; queue.ErrNotFound when there is none.
func (b *Broker) Open(ctx context.Context, name string) (queue.Queue, error) {
	ok, err := queueExists(ctx, b.stmts.On(nil), name)
	if err != nil {
		return nil, fmt.Errorf("opening queue %s: %w", name, err)
	}
	if !ok {
		return nil, fmt.Errorf("opening queue %s: %w", name, queue.ErrNotFound)
	}
	return &Queue{b: b, name: name}, nil
}

// Delete deletes the queue and its messages; queue.ErrNotFound when there
// is none. Long polls on it, in this process, end at once with
// queue.ErrNotFound.
func (b *Broker) Delete(ctx context.Context, name string) error {
	err := b.stmts.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM queue_queues WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return queue.ErrNotFound
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM queue_messages WHERE queue = ?`, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("deleting queue %s: %w", name, err)
	}
	sqlitedb.AfterCommit(ctx, b.db, func() { b.waiters.notify(name) })
	return nil
}

// Tags returns the tags the queue was created with; queue.ErrNotFound
// when there is no such queue.
func (b *Broker) Tags(ctx context.Context, name string) (map[string]string, error) {
	var raw string
	err := b.db.QueryRowContext(ctx, `SELECT tags FROM queue_queues WHERE name = ?`, name).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("reading tags of queue %s: %w", name, queue.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading tags of queue %s: %w", name, err)
	}
	tags := map[string]string{}
	if err := json.Unmarshal([]byte(raw), &tags); err != nil {
		return nil, fmt.Errorf("reading tags of queue %s: %w", name, err)
	}
	return tags, nil
}

// List returns the names of the queues that start with prefix, sorted.
func (b *Broker) List(ctx context.Context, prefix string) ([]string, error) {
	rows, err := b.db.QueryContext(ctx, `SELECT name FROM queue_queues WHERE name >= ? ORDER BY name`, prefix)
	if err != nil {
		return nil, fmt.Errorf("listing queues with prefix %q: %w", prefix, err)
	}
	defer func() { _ = rows.Close() }()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("listing queues with prefix %q: %w", prefix, err)
		}
		if !strings.HasPrefix(n, prefix) {
			break // sorted: no later name has the prefix either
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing queues with prefix %q: %w", prefix, err)
	}
	return names, nil
}

// Count returns how many messages the named queues hold that have not
// expired: visible, delayed or in flight alike. Queues that do not exist
// count none. The embedded backend's detached server asks it to know
// whether any work is left: it needs an exact answer for several queues
// in one read, which the port's Stats (approximate on SQS, one queue at
// a time) does not promise.
func (b *Broker) Count(ctx context.Context, names ...string) (int, error) {
	if len(names) == 0 {
		return 0, nil
	}
	args := make([]any, 0, len(names)+1)
	args = append(args, b.now())
	for _, n := range names {
		args = append(args, n)
	}
	var n int
	err := b.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM queue_messages m
		JOIN queue_queues q ON q.name = m.queue
		WHERE m.sent_at + q.retention_ms > ? AND m.queue IN (?`+strings.Repeat(", ?", len(names)-1)+`)`, args...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting messages: %w", err)
	}
	return n, nil
}

// Stats returns the named queue's exact message counts and the age of
// its oldest message that has not expired; queue.ErrNotFound when there
// is no such queue. A message received and visible again counts as
// visible; one never received and not visible yet, as delayed.
func (b *Broker) Stats(ctx context.Context, name string) (queue.Stats, error) {
	now := b.now()
	var (
		exists                     bool
		visible, inFlight, delayed sql.NullInt64
		oldest                     sql.NullInt64
	)
	err := b.db.QueryRowContext(ctx, `SELECT
			EXISTS (SELECT 1 FROM queue_queues WHERE name = ?1),
			SUM(m.visible_at <= ?2),
			SUM(m.visible_at > ?2 AND m.receives > 0),
			SUM(m.visible_at > ?2 AND m.receives = 0),
			MIN(m.sent_at)
		FROM queue_messages m JOIN queue_queues q ON q.name = m.queue
		WHERE m.queue = ?1 AND m.sent_at + q.retention_ms > ?2`, name, now).
		Scan(&exists, &visible, &inFlight, &delayed, &oldest)
	if err != nil {
		return queue.Stats{}, fmt.Errorf("reading the counts of queue %s: %w", name, err)
	}
	if !exists {
		return queue.Stats{}, fmt.Errorf("reading the counts of queue %s: %w", name, queue.ErrNotFound)
	}
	s := queue.Stats{Visible: int(visible.Int64), InFlight: int(inFlight.Int64), Delayed: int(delayed.Int64)}
	if oldest.Valid {
		s.OldestAge, s.AgeKnown = time.Duration(max(now-oldest.Int64, 0))*time.Millisecond, true
	}
	return s, nil
}

// Name is the queue's name.
func (q *Queue) Name() string { return q.name }

// Send enqueues 1 to queue.MaxBatch messages in one transaction and
// returns their ids in order. Either all are sent or none: an invalid
// entry fails the whole call with queue.ErrInvalid or queue.ErrTooLarge.
// queue.ErrNotFound when the queue does not exist.
func (q *Queue) Send(ctx context.Context, msgs ...queue.Outgoing) ([]string, error) {
	if err := queue.CheckBatch(msgs); err != nil {
		return nil, fmt.Errorf("sending to queue %s: %w", q.name, err)
	}
	attrs := make([]string, len(msgs))
	for i, m := range msgs {
		a, err := json.Marshal(orEmpty(m.Attributes))
		if err != nil {
			return nil, fmt.Errorf("sending to queue %s: encoding attributes of message %d: %w", q.name, i, err)
		}
		attrs[i] = string(a)
	}
	ids := make([]string, len(msgs))
	for i := range ids {
		ids[i] = rand.Text()
	}
	now := q.b.now()
	err := q.b.stmts.Tx(ctx, func(tx *sql.Tx) error {
		in := q.b.stmts.On(tx)
		if ok, err := queueExists(ctx, in, q.name); err != nil {
			return err
		} else if !ok {
			return queue.ErrNotFound
		}
		for i, m := range msgs {
			if _, err := in.ExecContext(ctx, `INSERT INTO queue_messages
				(id, queue, body, attributes, sender, sent_at, visible_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				ids[i], q.name, m.Body, attrs[i], q.b.opts.SenderID, now, q.b.after(m.Delay)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sending %d messages to queue %s: %w", len(msgs), q.name, err)
	}
	sqlitedb.AfterCommit(ctx, q.b.db, func() { q.b.waiters.notify(q.name) })
	return ids, nil
}

// Receive blocks until a message is visible or opts.Wait elapses, then
// returns up to opts.Max messages, each hidden for the visibility timeout
// and carrying a fresh receipt. It returns no messages and no error when
// none were visible, queue.ErrNotFound when the queue does not exist, and
// ctx's error, wrapped, when ctx ends first.
func (q *Queue) Receive(ctx context.Context, opts queue.ReceiveOptions) ([]queue.Message, error) {
	opts, err := queue.CheckReceive(opts)
	if err != nil {
		return nil, fmt.Errorf("receiving from queue %s: %w", q.name, err)
	}
	deadline := time.Now().Add(opts.Wait)
	var (
		timer   *time.Timer
		watcher *sqlitedb.Watcher
	)
	if opts.Wait > 0 {
		q.b.waiters.add(q.name)
		defer q.b.waiters.remove(q.name)
		watcher = q.b.changes.Watch()
		defer watcher.Close()
	}
	for {
		var wake, changed <-chan struct{}
		if opts.Wait > 0 {
			// Both before looking, so no send is missed: one of this
			// process, or a commit of another.
			wake, changed = q.b.waiters.channel(q.name), watcher.Next()
		}
		msgs, next, err := q.receiveNext(ctx, opts)
		if err != nil || len(msgs) > 0 {
			return msgs, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, nil
		}
		// Commits wake the wait (a send of this process or another's);
		// the poll is for a message whose delay or visibility timeout
		// ends (never later than that), and the fallback where commits
		// are not reported.
		d := min(left, watcher.Poll(q.b.opts.PollInterval))
		if next > 0 {
			d = min(d, next)
		}
		if timer == nil {
			timer = time.NewTimer(d)
			defer timer.Stop()
		} else {
			timer.Reset(d)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("receiving from queue %s: %w", q.name, ctx.Err())
		case <-wake:
		case <-changed:
		case <-timer.C:
		}
	}
}

// receiveNext looks for visible messages with a read, and only when there
// are some claims them in a write transaction. When none is visible, it
// says in how long the next message of the queue becomes visible (a delay
// or a visibility timeout ending commits nothing, so nothing wakes a
// waiter then); 0 when the queue holds none.
func (q *Queue) receiveNext(ctx context.Context, opts queue.ReceiveOptions) ([]queue.Message, time.Duration, error) {
	var (
		exists bool
		next   sql.NullInt64
	)
	now := q.b.now()
	err := q.b.stmts.On(nil).QueryRowContext(ctx, `SELECT
			EXISTS (SELECT 1 FROM queue_queues WHERE name = ?),
			(SELECT min(visible_at) FROM queue_messages WHERE queue = ?)`,
		q.name, q.name).Scan(&exists, &next)
	switch {
	case err != nil:
		return nil, 0, fmt.Errorf("receiving from queue %s: %w", q.name, err)
	case !exists:
		return nil, 0, fmt.Errorf("receiving from queue %s: %w", q.name, queue.ErrNotFound)
	case !next.Valid:
		return nil, 0, nil
	case next.Int64 > now:
		return nil, time.Duration(next.Int64-now) * time.Millisecond, nil
	}
	var msgs []queue.Message
	var moved bool
	var dlq string
	err = q.b.stmts.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		msgs, dlq, moved, err = q.claim(ctx, tx, opts)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("receiving from queue %s: %w", q.name, err)
	}
	if moved {
		sqlitedb.AfterCommit(ctx, q.b.db, func() { q.b.waiters.notify(dlq) })
	}
	return msgs, 0, nil
}

// claim runs inside the receive transaction: it expires old messages,
// moves the ones past the redrive limit to the dead-letter queue, and
// hides and returns up to opts.Max of the rest. It reports the
// dead-letter queue and whether it moved anything there.
func (q *Queue) claim(ctx context.Context, tx *sql.Tx, opts queue.ReceiveOptions) (msgs []queue.Message, dlq string, moved bool, err error) {
	in := q.b.stmts.On(tx)
	var visMS, retMS int64
	var dlqName sql.NullString
	var maxReceives int
	err = in.QueryRowContext(ctx, `SELECT visibility_ms, retention_ms, dlq, max_receives
		FROM queue_queues WHERE name = ?`, q.name).Scan(&visMS, &retMS, &dlqName, &maxReceives)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", false, queue.ErrNotFound
	}
	if err != nil {
		return nil, "", false, err
	}
	if opts.Visibility > 0 {
		visMS = opts.Visibility.Milliseconds()
	}
	now := q.b.now()
	if _, err := in.ExecContext(ctx, `DELETE FROM queue_messages WHERE queue = ? AND sent_at <= ?`,
		q.name, now-retMS); err != nil {
		return nil, "", false, fmt.Errorf("expiring messages: %w", err)
	}
	redrive := dlqName.Valid && maxReceives > 0
	if redrive {
		// A dead-letter queue deleted since suspends the redrive policy.
		if redrive, err = queueExists(ctx, in, dlqName.String); err != nil {
			return nil, "", false, err
		}
	}
	for len(msgs) < opts.Max {
		cands, err := visibleMessages(ctx, in, q.name, now, opts.Max-len(msgs))
		if err != nil {
			return nil, "", false, err
		}
		if len(cands) == 0 {
			break
		}
		for _, c := range cands {
			if redrive && c.ReceiveCount >= maxReceives {
				// This would be receive maxReceives+1: dead-letter it instead.
				if _, err := in.ExecContext(ctx, `UPDATE queue_messages
					SET queue = ?, visible_at = ?, receives = 0, receipt = NULL WHERE seq = ?`,
					dlqName.String, now, c.seq); err != nil {
					return nil, "", false, fmt.Errorf("moving message %s to dead-letter queue %s: %w", c.ID, dlqName.String, err)
				}
				moved = true
				continue
			}
			token := rand.Text()
			if _, err := in.ExecContext(ctx, `UPDATE queue_messages
				SET visible_at = ?, receives = receives + 1, receipt = ? WHERE seq = ?`,
				q.b.after(time.Duration(visMS)*time.Millisecond), token, c.seq); err != nil {
				return nil, "", false, fmt.Errorf("claiming message %s: %w", c.ID, err)
			}
			m := c.Message
			m.Receipt = m.ID + receiptSep + token
			m.ReceiveCount++
			msgs = append(msgs, m)
		}
	}
	return msgs, dlqName.String, moved, nil
}

// candidate is a visible message found by a receive.
type candidate struct {
	queue.Message
	seq int64
}

// visibleMessages returns up to limit visible messages of the queue, the
// longest visible first.
// rowsQuerier is what visibleMessages reads with: a transaction, or the
// database itself for a read that changes nothing (Peek).
type rowsQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func visibleMessages(ctx context.Context, tx rowsQuerier, name string, now int64, limit int) ([]candidate, error) {
	rows, err := tx.QueryContext(ctx, `SELECT seq, id, body, attributes, sender, sent_at, receives
		FROM queue_messages WHERE queue = ? AND visible_at <= ?
		ORDER BY visible_at, seq LIMIT ?`, name, now, limit)
	if err != nil {
		return nil, fmt.Errorf("reading visible messages: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var out []candidate
	for rows.Next() {
		var c candidate
		var attrs string
		var sent int64
		if err := rows.Scan(&c.seq, &c.ID, &c.Body, &attrs, &c.SenderID, &sent, &c.ReceiveCount); err != nil {
			return nil, fmt.Errorf("reading visible messages: %w", err)
		}
		if err := json.Unmarshal([]byte(attrs), &c.Attributes); err != nil {
			return nil, fmt.Errorf("decoding attributes of message %s: %w", c.ID, err)
		}
		if c.Attributes == nil {
			c.Attributes = map[string]string{}
		}
		c.SentAt = time.UnixMilli(sent).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading visible messages: %w", err)
	}
	return out, nil
}

// Delete removes the messages of 1 to queue.MaxBatch receipts in one
// transaction. A receipt of a message that is gone is not an error; a
// stale receipt of a message still queued, or a malformed one, is a
// *queue.BatchError entry wrapping queue.ErrInvalidReceipt, and the other
// entries are still deleted.
func (q *Queue) Delete(ctx context.Context, receipts ...string) error {
	if len(receipts) == 0 || len(receipts) > queue.MaxBatch {
		return fmt.Errorf("deleting from queue %s: %w: %d receipts, want 1 to %d",
			q.name, queue.ErrInvalid, len(receipts), queue.MaxBatch)
	}
	failed := map[int]error{}
	err := q.b.stmts.Tx(ctx, func(tx *sql.Tx) error {
		in := q.b.stmts.On(tx)
		if ok, err := queueExists(ctx, in, q.name); err != nil {
			return err
		} else if !ok {
			return queue.ErrNotFound
		}
		for i, r := range receipts {
			id, token, ok := parseReceipt(r)
			if !ok {
				failed[i] = fmt.Errorf("receipt %q is malformed: %w", r, queue.ErrInvalidReceipt)
				continue
			}
			res, err := in.ExecContext(ctx, `DELETE FROM queue_messages WHERE id = ? AND queue = ? AND receipt = ?`,
				id, q.name, token)
			if err != nil {
				return fmt.Errorf("deleting message %s: %w", id, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n > 0 {
				continue
			}
			var still bool
			if err := in.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM queue_messages WHERE id = ? AND queue = ?)`,
				id, q.name).Scan(&still); err != nil {
				return fmt.Errorf("looking up message %s: %w", id, err)
			}
			if still {
				failed[i] = fmt.Errorf("message %s was received again since: %w", id, queue.ErrInvalidReceipt)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("deleting from queue %s: %w", q.name, err)
	}
	if len(failed) > 0 {
		return fmt.Errorf("deleting from queue %s: %w", q.name, &queue.BatchError{Failed: failed})
	}
	return nil
}

// ChangeVisibility hides the received message for d from now; 0 makes it
// visible at once. queue.ErrInvalidReceipt when the receipt is malformed,
// stale, or its message is gone.
func (q *Queue) ChangeVisibility(ctx context.Context, receipt string, d time.Duration) error {
	if d < 0 || d > queue.MaxVisibility {
		return fmt.Errorf("changing visibility in queue %s: %w: %s, want 0 to %s",
			q.name, queue.ErrInvalid, d, queue.MaxVisibility)
	}
	id, token, ok := parseReceipt(receipt)
	if !ok {
		return fmt.Errorf("changing visibility in queue %s: receipt %q is malformed: %w",
			q.name, receipt, queue.ErrInvalidReceipt)
	}
	res, err := q.b.stmts.On(nil).ExecContext(ctx, `UPDATE queue_messages SET visible_at = ?
		WHERE id = ? AND queue = ? AND receipt = ?`, q.b.after(d), id, q.name, token)
	if err != nil {
		return fmt.Errorf("changing visibility of message %s in queue %s: %w", id, q.name, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("changing visibility of message %s in queue %s: %w", id, q.name, err)
	} else if n == 0 {
		return fmt.Errorf("changing visibility of message %s in queue %s: %w", id, q.name, queue.ErrInvalidReceipt)
	}
	if d == 0 {
		sqlitedb.AfterCommit(ctx, q.b.db, func() { q.b.waiters.notify(q.name) })
	}
	return nil
}

// receiptSep separates the message id from the delivery token in a
// receipt.
const receiptSep = "."

// parseReceipt splits a receipt into message id and delivery token, both
// rand.Text strings.
func parseReceipt(r string) (id, token string, ok bool) {
	id, token, ok = strings.Cut(r, receiptSep)
	return id, token, ok && isToken(id) && isToken(token)
}

// isToken reports whether s looks like a rand.Text string: 26 characters
// of the base32 alphabet.
func isToken(s string) bool {
	if len(s) != 26 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'A' || c > 'Z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func queueExists(ctx context.Context, db querier, name string) (bool, error) {
	var ok bool
	err := db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM queue_queues WHERE name = ?)`, name).Scan(&ok)
	return ok, err
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// waiters wakes this process's long polls when a queue gets messages.
type waiters struct {
	mu sync.Mutex
	m  map[string]*waiter
}

// waiter is the wake-up channel of one queue's long polls; notify closes
// and replaces it.
type waiter struct {
	ch chan struct{}
	n  int // long polls registered
}

// add registers a long poll on the queue name.
func (w *waiters) add(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.m[name]
	if !ok {
		e = &waiter{ch: make(chan struct{})}
		w.m[name] = e
	}
	e.n++
}

// remove unregisters a long poll added with add.
func (w *waiters) remove(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e, ok := w.m[name]; ok {
		if e.n--; e.n <= 0 {
			delete(w.m, name)
		}
	}
}

// channel returns the channel the next notify of name closes. Only
// between add and remove.
func (w *waiters) channel(name string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.m[name].ch
}

// notify wakes the long polls of the queue name.
func (w *waiters) notify(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if e, ok := w.m[name]; ok {
		close(e.ch)
		e.ch = make(chan struct{})
	}
}

// Peek returns up to limit of the queue's messages that have not expired,
// visible or not, in the order they were sent, without receiving them:
// nothing about them changes (no receipt, no receive counted), so it
// works on a state directory opened read-only. It is the embedded
// queue's own (SQS has no such call): "deployer dlq list" and "dlq show"
// use it where they cannot receive.
func (q *Queue) Peek(ctx context.Context, limit int) ([]queue.Message, error) {
	var retMS int64
	err := q.b.db.QueryRowContext(ctx, `SELECT retention_ms FROM queue_queues WHERE name = ?`, q.name).Scan(&retMS)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("peeking at queue %s: %w", q.name, queue.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("peeking at queue %s: %w", q.name, err)
	}
	cands, err := visibleMessages(ctx, q.b.db, q.name, math.MaxInt64, limit)
	if err != nil {
		return nil, fmt.Errorf("peeking at queue %s: %w", q.name, err)
	}
	expired := q.b.now() - retMS
	out := make([]queue.Message, 0, len(cands))
	for _, c := range cands {
		if c.SentAt.UnixMilli() > expired {
			out = append(out, c.Message)
		}
	}
	return out, nil
}
