package sqsstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/schemas"
)

// AddressPrefix starts every address this adapter makes; an address is
// the name of the stream's queue, so it is the deployment's
// topology.StreamQueuePrefix (callers' IAM policies grant "job-*").
const AddressPrefix = topology.StreamQueuePrefix

// Tag keys set on every stream's queue.
const (
	TagJobID     = "deployer:job_id"
	TagExpiresAt = "deployer:expires_at"
)

// Queue settings of every stream.
const (
	// MinRetention and MaxRetention bound a queue's retention (the SQS
	// limits); Create clamps the ttl into them.
	MinRetention = time.Minute
	MaxRetention = 14 * 24 * time.Hour
	// Visibility is the visibility timeout of a stream's queue: how long a
	// read whose delete failed stays hidden before it is delivered again.
	Visibility = 30 * time.Second
)

// Message attributes set on every event's message.
const (
	AttrSchema = "schema"
	AttrType   = "type"
)

// Broker is what the adapter needs of the queue backend: the queue port
// and the tags of a queue (for the janitor). sqsqueue.Broker and
// sqlitequeue.Broker satisfy it.
type Broker interface {
	queue.Broker
	// Tags returns the tags of the named queue; queue.ErrNotFound when it
	// does not exist.
	Tags(ctx context.Context, name string) (map[string]string, error)
}

// Options tune the adapter. The zero value is ready to use.
type Options struct {
	// Logger receives skipped entries, failed deletes and unreadable
	// expiries. Defaults to discarding them.
	Logger *slog.Logger
	// Now returns the current time: for expiry tags, and for the
	// deadline of Next's wait. For tests. Defaults to time.Now.
	Now func() time.Time
	// Retries is how many more times Publish sends the entries of a batch
	// that failed while others succeeded. Defaults to 3.
	Retries int
	// RetryWait is the wait before the first retry of failed entries; it
	// doubles on each retry. Defaults to 100ms.
	RetryWait time.Duration
	// DeleteTimeout bounds the delete of what Next read, which goes on
	// after the caller's context ends. Defaults to 5s.
	DeleteTimeout time.Duration
}

// Streams is the SQS job stream adapter. It is safe for concurrent use.
type Streams struct {
	b    Broker
	opts Options

	mu     sync.Mutex
	queues map[string]queue.Queue // opened queues, so Publish does not look one up each time
}

var _ stream.Streams = (*Streams)(nil)

// maxCached bounds the opened-queue cache; past it the cache starts again.
const maxCached = 1024

// New returns the adapter over b.
func New(b Broker, opts Options) *Streams {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Retries <= 0 {
		opts.Retries = 3
	}
	if opts.RetryWait <= 0 {
		opts.RetryWait = 100 * time.Millisecond
	}
	if opts.DeleteTimeout <= 0 {
		opts.DeleteTimeout = 5 * time.Second
	}
	return &Streams{b: b, opts: opts, queues: map[string]queue.Queue{}}
}

// Address returns the address of jobID's stream (its queue's name through
// the queue port), whether or not it exists.
func Address(jobID string) string { return AddressPrefix + jobID }

// parse returns the job id of address.
func parse(address string) (string, error) {
	id, ok := strings.CutPrefix(address, AddressPrefix)
	if !ok || !schemas.ValidJobID(id) {
		return "", fmt.Errorf("%w: %q is not an SQS stream address (%s<job id>)", stream.ErrInvalidAddress, address, AddressPrefix)
	}
	return id, nil
}

// Retention returns the retention of the queue of a stream kept for ttl:
// ttl rounded up to whole seconds and clamped to [MinRetention,
// MaxRetention].
func Retention(ttl time.Duration) time.Duration {
	r := ttl.Truncate(time.Second)
	if r < ttl {
		r += time.Second
	}
	return min(max(r, MinRetention), MaxRetention)
}

// expiry formats the expiry tag of a stream created at now for ttl,
// rounded up to the second so the stream lives at least ttl.
func expiry(now time.Time, ttl time.Duration) string {
	t := now.Add(ttl).UTC()
	if r := t.Truncate(time.Second); r.Before(t) {
		t = r.Add(time.Second)
	}
	return t.Format(time.RFC3339)
}

// translate maps the queue port's errors to the stream port's, keeping
// the original in the chain.
func translate(err error) error {
	switch {
	case errors.Is(err, queue.ErrNotFound):
		return fmt.Errorf("%w: %w", stream.ErrNotFound, err)
	case errors.Is(err, queue.ErrThrottled):
		return fmt.Errorf("%w: %w", stream.ErrThrottled, err)
	}
	return err
}

// Create makes jobID's queue (or opens the existing one) and returns the
// stream's address. ttl must be positive.
func (s *Streams) Create(ctx context.Context, jobID string, ttl time.Duration) (string, error) {
	if !schemas.ValidJobID(jobID) {
		return "", fmt.Errorf("creating stream: %w: %q is not a valid job id", stream.ErrInvalidAddress, jobID)
	}
	if ttl <= 0 {
		return "", fmt.Errorf("creating stream of job %s: ttl %s is not positive", jobID, ttl)
	}
	name := Address(jobID)
	q, err := s.b.Create(ctx, name, queue.Config{
		VisibilityTimeout: Visibility,
		Retention:         Retention(ttl),
		Tags: map[string]string{
			TagJobID:     jobID,
			TagExpiresAt: expiry(s.opts.Now(), ttl),
		},
	})
	if err != nil {
		return "", fmt.Errorf("creating stream of job %s: %w", jobID, translate(err))
	}
	s.remember(name, q)
	return name, nil
}

// open returns a handle on the named queue, from the cache when it was
// opened before.
func (s *Streams) open(ctx context.Context, name string) (queue.Queue, error) {
	s.mu.Lock()
	q, ok := s.queues[name]
	s.mu.Unlock()
	if ok {
		return q, nil
	}
	q, err := s.b.Open(ctx, name)
	if err != nil {
		return nil, translate(err)
	}
	s.remember(name, q)
	return q, nil
}

func (s *Streams) remember(name string, q queue.Queue) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queues) >= maxCached {
		s.queues = map[string]queue.Queue{}
	}
	s.queues[name] = q
}

func (s *Streams) forget(name string) {
	s.mu.Lock()
	delete(s.queues, name)
	s.mu.Unlock()
}

// Publish sends events to the stream, one message each, in batches. Every
// event is validated and encoded first: an invalid event, or one of
// another job, fails the call with schemas.ErrMalformed, one too large
// for a message with
// schemas.ErrTooLarge, and nothing is sent. stream.ErrNotFound when the
// stream does not exist; stream.ErrThrottled when SQS kept throttling.
func (s *Streams) Publish(ctx context.Context, address string, events ...schemas.JobEvent) error {
	jobID, err := parse(address)
	if err != nil {
		return fmt.Errorf("publishing: %w", err)
	}
	if len(events) == 0 {
		return nil
	}
	msgs := make([]queue.Outgoing, len(events))
	sizes := make([]int, len(events))
	for i, ev := range events {
		if ev.JobID != jobID && schemas.ValidJobID(ev.JobID) {
			return fmt.Errorf("publishing to stream of job %s: event %d (%s): %w: it belongs to job %s",
				jobID, i, ev.ID, schemas.ErrMalformed, ev.JobID)
		}
		m, size, err := message(ev)
		if err != nil {
			return fmt.Errorf("publishing to stream of job %s: event %d (%s): %w", jobID, i, ev.ID, err)
		}
		msgs[i], sizes[i] = m, size
	}
	q, err := s.open(ctx, address)
	if err != nil {
		return fmt.Errorf("publishing %d events to stream of job %s: %w", len(events), jobID, err)
	}
	for start := 0; start < len(msgs); {
		end, total := start, 0
		for end < len(msgs) && end-start < queue.MaxBatch && total+sizes[end] <= queue.MaxBodySize {
			total += sizes[end]
			end++
		}
		if err := s.send(ctx, q, msgs[start:end]); err != nil {
			if errors.Is(err, stream.ErrNotFound) {
				s.forget(address)
			}
			return fmt.Errorf("publishing %d events to stream of job %s: events %d to %d: %w",
				len(events), jobID, start, end-1, err)
		}
		start = end
	}
	return nil
}

// message encodes ev as the message that carries it and returns the
// message's size as SQS counts it (body plus attribute names, types and
// values).
func message(ev schemas.JobEvent) (queue.Outgoing, int, error) {
	ev.Schema = schemas.JobEventV1
	if err := ev.Validate(); err != nil {
		return queue.Outgoing{}, 0, err
	}
	body, err := ev.Encode()
	if err != nil {
		return queue.Outgoing{}, 0, fmt.Errorf("encoding: %w", err)
	}
	body = escapeNonCharacters(body)
	attrs := map[string]string{AttrSchema: ev.Schema, AttrType: string(ev.Type)}
	size := len(body)
	for k, v := range attrs {
		size += len(k) + len("String") + len(v)
	}
	if size > queue.MaxBodySize {
		return queue.Outgoing{}, 0, fmt.Errorf("%w: %d bytes with its attributes, limit %d",
			schemas.ErrTooLarge, size, queue.MaxBodySize)
	}
	return queue.Outgoing{Body: body, Attributes: attrs}, size, nil
}

// escapeNonCharacters replaces U+FFFE and U+FFFF, which encoding/json
// writes as they are but SQS refuses in a body, by their JSON escapes.
// They can only occur inside JSON strings, so the event decodes the same.
func escapeNonCharacters(b []byte) []byte {
	if !bytes.Contains(b, []byte("\xef\xbf\xbe")) && !bytes.Contains(b, []byte("\xef\xbf\xbf")) {
		return b
	}
	b = bytes.ReplaceAll(b, []byte("\xef\xbf\xbe"), []byte(`\ufffe`))
	return bytes.ReplaceAll(b, []byte("\xef\xbf\xbf"), []byte(`\uffff`))
}

// send sends one batch, retrying the entries that failed while others
// succeeded (unless they were refused as invalid or too large, which a
// retry cannot mend).
func (s *Streams) send(ctx context.Context, q queue.Queue, msgs []queue.Outgoing) error {
	wait := s.opts.RetryWait
	for attempt := 0; ; attempt++ {
		_, err := q.Send(ctx, msgs...)
		if err == nil {
			return nil
		}
		var be *queue.BatchError
		if !errors.As(err, &be) || len(be.Failed) == 0 {
			return translate(err)
		}
		if !retryable(be) || attempt >= s.opts.Retries {
			return fmt.Errorf("%d of %d entries failed after %d attempts: %w", len(be.Failed), len(msgs), attempt+1, translate(err))
		}
		failed := make([]queue.Outgoing, 0, len(be.Failed))
		for i := range msgs {
			if _, ok := be.Failed[i]; ok {
				failed = append(failed, msgs[i])
			}
		}
		msgs = failed
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("retrying %d failed entries: %w", len(msgs), ctx.Err())
		case <-t.C:
		}
		wait *= 2
	}
}

// retryable reports whether every failed entry of be may succeed when
// sent again.
func retryable(be *queue.BatchError) bool {
	for _, err := range be.Failed {
		if errors.Is(err, queue.ErrInvalid) || errors.Is(err, queue.ErrTooLarge) || errors.Is(err, queue.ErrNotFound) {
			return false
		}
	}
	return true
}

// Subscribe opens a reader of the stream; stream.ErrNotFound when it does
// not exist. Events are consumed by whichever subscription reads them.
func (s *Streams) Subscribe(ctx context.Context, address string) (stream.Subscription, error) {
	jobID, err := parse(address)
	if err != nil {
		return nil, fmt.Errorf("subscribing: %w", err)
	}
	// Always ask the broker: a cached handle would not notice a deleted
	// queue, and a follower should learn that at once.
	q, err := s.b.Open(ctx, address)
	if err != nil {
		s.forget(address)
		return nil, fmt.Errorf("subscribing to stream of job %s: %w", jobID, translate(err))
	}
	s.remember(address, q)
	return &Subscription{s: s, q: q, jobID: jobID}, nil
}

// Delete deletes the stream's queue and the events in it;
// stream.ErrNotFound when there is none.
func (s *Streams) Delete(ctx context.Context, address string) error {
	jobID, err := parse(address)
	if err != nil {
		return fmt.Errorf("deleting stream: %w", err)
	}
	s.forget(address)
	if err := s.b.Delete(ctx, address); err != nil {
		return fmt.Errorf("deleting stream of job %s: %w", jobID, translate(err))
	}
	return nil
}

// DeleteExpired deletes the streams whose deployer:expires_at tag is at or
// before now, and returns how many it deleted. Queues without a readable
// expiry are logged and left alone; queues that disappear meanwhile are
// skipped. It goes through every queue and joins the other failures.
func (s *Streams) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	names, err := s.b.List(ctx, AddressPrefix)
	if err != nil {
		return 0, fmt.Errorf("deleting expired streams: %w", translate(err))
	}
	var (
		n    int
		errs []error
	)
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		if _, err := parse(name); err != nil {
			continue // a "job-" queue this adapter did not make
		}
		tags, err := s.b.Tags(ctx, name)
		if errors.Is(err, queue.ErrNotFound) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("reading the expiry of stream %s: %w", name, translate(err)))
			continue
		}
		raw, ok := tags[TagExpiresAt]
		expires, perr := time.Parse(time.RFC3339, raw)
		if !ok || perr != nil {
			s.opts.Logger.WarnContext(ctx, "leaving a stream without a readable expiry",
				"queue", name, "tag", TagExpiresAt, "value", raw)
			continue
		}
		if expires.After(now) {
			continue
		}
		s.forget(name)
		err = s.b.Delete(ctx, name)
		switch {
		case errors.Is(err, queue.ErrNotFound):
		case err != nil:
			errs = append(errs, fmt.Errorf("deleting expired stream %s: %w", name, translate(err)))
		default:
			n++
		}
	}
	if err := errors.Join(errs...); err != nil {
		return n, fmt.Errorf("deleting expired streams (%d deleted): %w", n, err)
	}
	return n, nil
}

// Subscription reads one stream's queue. It is not safe for concurrent
// use; several subscriptions of one stream share its events.
type Subscription struct {
	s      *Streams
	q      queue.Queue
	jobID  string
	closed bool
	// hidden is when the messages of the last read whose answer was
	// lost come back.
	hidden time.Time
}

var _ stream.Subscription = (*Subscription)(nil)

// errClosed reports a Next after Close.
var errClosed = errors.New("subscription closed")

// pollWait returns the wait of one long poll for what is left of a
// caller's wait: whole seconds, rounded up, at most queue.MaxWait.
func pollWait(left time.Duration) time.Duration {
	if left <= 0 {
		return 0
	}
	w := left.Truncate(time.Second)
	if w < left {
		w += time.Second
	}
	return min(w, queue.MaxWait)
}

// Next long-polls the queue until events arrive or wait has passed, and
// returns them after deleting them from the queue. It returns
// stream.ErrNotFound once the stream is deleted, and ctx's error when ctx
// ends first.
func (sub *Subscription) Next(ctx context.Context, wait time.Duration) ([]schemas.JobEvent, error) {
	if sub.closed {
		return nil, fmt.Errorf("reading stream of job %s: %w", sub.jobID, errClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	deadline := sub.s.opts.Now().Add(wait)
	for {
		msgs, err := sub.q.Receive(ctx, queue.ReceiveOptions{
			Max:        queue.MaxBatch,
			Wait:       pollWait(deadline.Sub(sub.s.opts.Now())),
			Visibility: Visibility,
			LostAnswer: sub.lost,
		})
		if err != nil {
			// The receive may have been served, its answer lost.
			sub.lost()
			if cerr := ctx.Err(); cerr != nil {
				return nil, fmt.Errorf("reading stream of job %s: %w", sub.jobID, cerr)
			}
			return nil, fmt.Errorf("reading stream of job %s: %w", sub.jobID, translate(err))
		}
		evs := sub.take(ctx, msgs)
		if len(evs) > 0 {
			return evs, nil
		}
		if !sub.s.opts.Now().Before(deadline) {
			return nil, nil
		}
	}
}

// hiddenSlack is added to the visibility timeout of a lost read's
// messages: SQS counts it from when it served the read, on its clock,
// and a message is visible again when it says, not to the millisecond.
const hiddenSlack = time.Second

// lost records a read whose answer may have been lost after SQS handed
// messages over: they come back once the visibility timeout it asked for
// has passed, counted from now (after SQS served the read).
func (sub *Subscription) lost() {
	sub.hidden = sub.s.opts.Now().Add(Visibility + hiddenSlack)
}

// HiddenUntil returns when the messages of the last read whose answer
// was lost (its call failed, or the SDK retried an attempt that may have
// been served) are visible again: the visibility timeout after that
// read, and a second. The zero time when no read was lost.
func (sub *Subscription) HiddenUntil() time.Time { return sub.hidden }

// take decodes msgs, deletes them all from the queue and returns the
// events of this job. Failed deletes are logged: those messages come back
// after the visibility timeout, and followers drop the duplicates.
func (sub *Subscription) take(ctx context.Context, msgs []queue.Message) []schemas.JobEvent {
	if len(msgs) == 0 {
		return nil
	}
	log := sub.s.opts.Logger
	evs := make([]schemas.JobEvent, 0, len(msgs))
	receipts := make([]string, len(msgs))
	for i, m := range msgs {
		receipts[i] = m.Receipt
		ev, err := schemas.DecodeJobEvent(m.Body)
		switch {
		case err != nil:
			log.WarnContext(ctx, "skipping undecodable stream entry", "job_id", sub.jobID, "message_id", m.ID, "error", err)
		case ev.JobID != sub.jobID:
			log.WarnContext(ctx, "skipping another job's event", "job_id", sub.jobID, "message_id", m.ID,
				"event_job_id", ev.JobID, "event_id", ev.ID)
		default:
			evs = append(evs, ev)
		}
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sub.s.opts.DeleteTimeout)
	defer cancel()
	if err := sub.q.Delete(dctx, receipts...); err != nil {
		log.WarnContext(ctx, "deleting read stream entries failed; they will be delivered again",
			"job_id", sub.jobID, "entries", len(receipts), "error", err)
	}
	return evs
}

// Close releases the subscription; Next fails after it. It is idempotent
// and makes no call.
func (sub *Subscription) Close() error {
	sub.closed = true
	return nil
}
