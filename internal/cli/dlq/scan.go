package dlq

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

// scanVisibility hides each dead letter while a command looks at the
// dead-letter queues. Every command hands the letters it does not consume
// back at once (visibility 0); this only bounds how long they stay hidden
// when the command dies mid-way.
const scanVisibility = 2 * time.Second

// holdVisibility hides the dead letters being replayed while their
// requests are resubmitted.
const holdVisibility = time.Minute

// Queue names as the command line spells them.
const (
	queueRun     = "run"
	queueRequest = "request"
)

// letter is one received dead letter.
type letter struct {
	queue string // queueRun or queueRequest
	q     queue.Queue
	msg   queue.Message
	dl    schemas.DeadLetter
}

// when is the time the letter's job failed.
func (l *letter) when() time.Time {
	if !l.dl.Failure.Time.IsZero() {
		return l.dl.Failure.Time
	}
	return l.msg.SentAt
}

// group is every dead letter of one job, newest first. A job can be
// dead-lettered more than once (a worker that crashed between sending the
// dead letter and deleting the run order).
type group struct {
	key     string // the job id, or "message:<id>" for a letter naming none
	letters []*letter
}

func (g *group) newest() *letter { return g.letters[0] }

// scanner receives every dead letter of the queues it is given without
// consuming them.
type scanner struct {
	queues  map[string]queue.Queue
	letters []*letter
}

// newScanner scans the dead-letter queues of b that which names: "" for
// both, queueRun or queueRequest.
func newScanner(b backend.Backend, which string) *scanner {
	requests, runs := b.DeadLetterQueues()
	s := &scanner{queues: map[string]queue.Queue{}}
	if which == "" || which == queueRun {
		s.queues[queueRun] = runs
	}
	if which == "" || which == queueRequest {
		s.queues[queueRequest] = requests
	}
	return s
}

// scan receives every visible dead letter, each hidden for
// scanVisibility, until a receive returns no message it has not seen. The
// caller must release them (or delete them).
func (s *scanner) scan(ctx context.Context) error {
	for _, name := range []string{queueRun, queueRequest} {
		q, ok := s.queues[name]
		if !ok {
			continue
		}
		seen := map[string]*letter{}
		for {
			msgs, err := q.Receive(ctx, queue.ReceiveOptions{Max: queue.MaxBatch, Visibility: scanVisibility})
			if err != nil {
				return fmt.Errorf("reading the %s dead-letter queue: %w", name, err)
			}
			fresh := 0
			for _, m := range msgs {
				if l, ok := seen[m.ID]; ok {
					// Its visibility lapsed and it came again: only the
					// newest receipt is current.
					l.msg.Receipt = m.Receipt
					continue
				}
				l := &letter{queue: name, q: q, msg: m, dl: decode(m)}
				seen[m.ID] = l
				s.letters = append(s.letters, l)
				fresh++
			}
			if fresh == 0 {
				break
			}
		}
	}
	return nil
}

// release makes letters visible again at once. It runs even when ctx is
// done, so that an interrupted command does not hide dead letters.
func release(ctx context.Context, letters []*letter) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var errs []error
	for _, l := range letters {
		if err := l.q.ChangeVisibility(rctx, l.msg.Receipt, 0); err != nil && !errors.Is(err, queue.ErrInvalidReceipt) {
			errs = append(errs, fmt.Errorf("handing back dead letter %s: %w", l.msg.ID, err))
		}
	}
	return errors.Join(errs...)
}

// hold hides letters for d from now.
func hold(ctx context.Context, letters []*letter, d time.Duration) error {
	for _, l := range letters {
		if err := l.q.ChangeVisibility(ctx, l.msg.Receipt, d); err != nil {
			return fmt.Errorf("holding dead letter %s: %w", l.msg.ID, err)
		}
	}
	return nil
}

// remove deletes letters from their queues.
func remove(ctx context.Context, letters []*letter) error {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var errs []error
	for _, l := range letters {
		if err := l.q.Delete(dctx, l.msg.Receipt); err != nil {
			errs = append(errs, fmt.Errorf("deleting dead letter %s: %w", l.msg.ID, err))
		}
	}
	return errors.Join(errs...)
}

// groups groups letters by job, newest letter first within a group and
// groups by their newest letter, oldest first.
func groups(letters []*letter) []*group {
	byKey := map[string]*group{}
	var out []*group
	for _, l := range letters {
		key := l.dl.JobID
		if key == "" {
			key = "message:" + l.msg.ID
		}
		g, ok := byKey[key]
		if !ok {
			g = &group{key: key}
			byKey[key] = g
			out = append(out, g)
		}
		g.letters = append(g.letters, l)
	}
	for _, g := range out {
		sort.SliceStable(g.letters, func(i, j int) bool { return g.letters[i].when().After(g.letters[j].when()) })
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].newest().when().Before(out[j].newest().when()) })
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
