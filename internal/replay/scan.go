package replay

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/schemas"
)

// ScanVisibility hides each dead letter while a command looks at the
// dead-letter queues. Every command hands the letters it does not consume
// back at once (visibility 0); this only bounds how long they stay hidden
// when the command dies mid-way.
const ScanVisibility = 2 * time.Second

// HoldVisibility hides the dead letters being replayed while their
// requests are resubmitted.
const HoldVisibility = time.Minute

// Queue names as the command line spells them.
const (
	QueueRun     = "run"
	QueueRequest = "request"
)

// Letter is one received dead letter.
type Letter struct {
	// Queue is QueueRun or QueueRequest.
	Queue string
	q     queue.Queue
	// Msg is the message as received; its receipt is current.
	Msg queue.Message
	// DL is the decoded dead letter (see decode for what else a
	// dead-letter queue may hold).
	DL schemas.DeadLetter
}

// When is the time the letter's job failed.
func (l *Letter) When() time.Time {
	if !l.DL.Failure.Time.IsZero() {
		return l.DL.Failure.Time
	}
	return l.Msg.SentAt
}

// Group is every dead letter of one job, newest first. A job can be
// dead-lettered more than once (a worker that crashed between sending the
// dead letter and deleting the run order).
type Group struct {
	Key     string // the job id, or "message:<id>" for a letter naming none
	Letters []*Letter
}

// Newest is the group's newest letter.
func (g *Group) Newest() *Letter { return g.Letters[0] }

// Scanner receives every dead letter of the queues it is given without
// consuming them. Letters holds what Scan received; whoever scans hands
// them back (Release) or deletes them (Remove).
type Scanner struct {
	queues  map[string]queue.Queue
	Letters []*Letter
	// Look, when set, reads the letters of a queue that can be peeked at
	// (the embedded backend's) without receiving them: nothing about them
	// changes, so a state directory opened read-only can be looked at, and
	// a replay under way elsewhere is not disturbed. Letters read so hold
	// no receipt: they can be shown, not held, handed back or removed.
	Look bool
}

// peeker is a queue whose messages can be read without receiving them
// (sqlitequeue.Queue.Peek).
type peeker interface {
	Peek(ctx context.Context, limit int) ([]queue.Message, error)
}

// maxLook bounds how many letters a look reads from one queue.
const maxLook = 100_000

// CanLook reports whether every queue of the scanner can be looked at
// without receiving its letters (see Look). A caller that must change
// nothing (shell completion) scans only when it can: receiving hides
// letters from a replay under way elsewhere.
func (s *Scanner) CanLook() bool {
	for _, q := range s.queues {
		if _, ok := q.(peeker); !ok {
			return false
		}
	}
	return true
}

// NewScanner scans the dead-letter queues of b that which names: "" for
// both, QueueRun or QueueRequest.
func NewScanner(b backend.Backend, which string) *Scanner {
	requests, runs := b.DeadLetterQueues()
	s := &Scanner{queues: map[string]queue.Queue{}}
	if which == "" || which == QueueRun {
		s.queues[QueueRun] = runs
	}
	if which == "" || which == QueueRequest {
		s.queues[QueueRequest] = requests
	}
	return s
}

// Scan receives every visible dead letter, each hidden for
// ScanVisibility, until a receive returns no message it has not seen. The
// caller must release them (or delete them).
func (s *Scanner) Scan(ctx context.Context) error {
	for _, name := range []string{QueueRun, QueueRequest} {
		q, ok := s.queues[name]
		if !ok {
			continue
		}
		if p, ok := q.(peeker); ok && s.Look {
			msgs, err := p.Peek(ctx, maxLook)
			if err != nil {
				return fmt.Errorf("reading the %s dead-letter queue: %w", name, err)
			}
			for _, m := range msgs {
				s.Letters = append(s.Letters, &Letter{Queue: name, q: q, Msg: m, DL: decode(m)})
			}
			continue
		}
		seen := map[string]*Letter{}
		for {
			msgs, err := q.Receive(ctx, queue.ReceiveOptions{Max: queue.MaxBatch, Visibility: ScanVisibility})
			if err != nil {
				return fmt.Errorf("reading the %s dead-letter queue: %w", name, err)
			}
			fresh := 0
			for _, m := range msgs {
				if l, ok := seen[m.ID]; ok {
					// Its visibility lapsed and it came again: only the
					// newest receipt is current.
					l.Msg.Receipt = m.Receipt
					continue
				}
				l := &Letter{Queue: name, q: q, Msg: m, DL: decode(m)}
				seen[m.ID] = l
				s.Letters = append(s.Letters, l)
				fresh++
			}
			if fresh == 0 {
				break
			}
		}
	}
	return nil
}

// Release makes letters visible again at once. It runs even when ctx is
// done, so that an interrupted command does not hide dead letters.
func Release(ctx context.Context, letters []*Letter) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var errs []error
	for _, l := range letters {
		if l.Msg.Receipt == "" {
			continue // looked at, never received
		}
		if err := l.q.ChangeVisibility(rctx, l.Msg.Receipt, 0); err != nil && !errors.Is(err, queue.ErrInvalidReceipt) {
			errs = append(errs, fmt.Errorf("handing back dead letter %s: %w", l.Msg.ID, err))
		}
	}
	return errors.Join(errs...)
}

// Hold hides letters for d from now.
func Hold(ctx context.Context, letters []*Letter, d time.Duration) error {
	for _, l := range letters {
		if err := l.q.ChangeVisibility(ctx, l.Msg.Receipt, d); err != nil {
			return fmt.Errorf("holding dead letter %s: %w", l.Msg.ID, err)
		}
	}
	return nil
}

// Remove deletes letters from their queues.
func Remove(ctx context.Context, letters []*Letter) error {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var errs []error
	for _, l := range letters {
		if err := l.q.Delete(dctx, l.Msg.Receipt); err != nil {
			errs = append(errs, fmt.Errorf("deleting dead letter %s: %w", l.Msg.ID, err))
		}
	}
	return errors.Join(errs...)
}

// Groups groups letters by job, newest letter first within a group and
// groups by their newest Letter, oldest first.
func Groups(letters []*Letter) []*Group {
	byKey := map[string]*Group{}
	var out []*Group
	for _, l := range letters {
		key := l.DL.JobID
		if key == "" {
			key = "message:" + l.Msg.ID
		}
		g, ok := byKey[key]
		if !ok {
			g = &Group{Key: key}
			byKey[key] = g
			out = append(out, g)
		}
		g.Letters = append(g.Letters, l)
	}
	for _, g := range out {
		sort.SliceStable(g.Letters, func(i, j int) bool { return g.Letters[i].When().After(g.Letters[j].When()) })
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Newest().When().Before(out[j].Newest().When()) })
	return out
}

// decode reads a dead-letter queue message: a dead letter the gatekeeper
// or a worker wrote, or a request or run order the queue's redrive policy
// moved there after too many receives, or something unreadable.
func decode(m queue.Message) schemas.DeadLetter {
	if dl, err := schemas.DecodeDeadLetter(m.Body); err == nil {
		return dl
	}
	redriven := schemas.Failure{
		Reason:     "received too many times without being handled; the queue's redrive policy moved it here",
		ReasonCode: "max_receives_exceeded",
		Time:       m.SentAt.UTC(),
	}
	if o, err := schemas.DecodeRunOrder(m.Body); err == nil {
		req := o.Request
		return schemas.DeadLetter{JobID: o.JobID, Request: &req, Order: &o, Failure: redriven}
	}
	if r, err := schemas.DecodeJobRequest(m.Body); err == nil {
		return schemas.DeadLetter{JobID: r.JobID, Request: &r, Failure: redriven}
	}
	raw := m.Body
	if len(raw) > maxRaw {
		raw = raw[:maxRaw]
	}
	id := m.Attributes["job_id"]
	if !schemas.ValidJobID(id) {
		id = ""
	}
	return schemas.DeadLetter{JobID: id, Raw: string(raw), Failure: schemas.Failure{
		Reason:     "the dead-letter queue holds a message deployer cannot read",
		ReasonCode: "undecodable_dead_letter",
		Time:       m.SentAt.UTC(),
	}}
}

const maxRaw = 32 * 1024

// Find returns the group of jobID, or nil.
func Find(gs []*Group, jobID string) *Group {
	for _, g := range gs {
		if g.Key == jobID {
			return g
		}
	}
	return nil
}
