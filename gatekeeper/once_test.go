package gatekeeper_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deployerhq/deployer/gatekeeper"
	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/queue/sqlitequeue"
	"github.com/deployerhq/deployer/internal/sqlitedb"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/internal/stream/sqlitestream"
	"github.com/deployerhq/deployer/internal/stream/sqsstream"
	"github.com/deployerhq/deployer/schemas"
)

// Every request ends once: whatever the gatekeeper cannot accept or
// cannot forward is rejected on its job's own stream and journaled (or
// dead-lettered when even that cannot be recorded), and only a transient
// failure makes it retry.

const (
	ownJob   = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3E"
	otherJob = "01JD3Q8Z5W6X7Y8Z9A0B1C2D3F"
)

// echoPolicy lets the CI role pass the echo script any positional
// arguments, as large as the policy allows (4 KiB each).
const echoPolicy = `
containers:
  terraform-planner:
    image: terraform:1.9
    allowed_callers: ["arn:aws:iam::123456789012:role/ci-*"]
    script_config:
      echo:
        allow_positional_args: true
        allowed_options: []
      plan:
        allowed_options: [--ref]
        restricted_options: [--destroy]
`

// onceHarness is the gatekeeper harness with echoPolicy.
func onceHarness(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, "")
	pol, err := policy.Parse([]byte(echoPolicy), "")
	if err != nil {
		t.Fatal(err)
	}
	h.g.Policy = pol
	return h
}

// request is a job request message from the CI role.
func request(t *testing.T, job, streamAddr, script string, args ...string) queue.Message {
	t.Helper()
	body, err := schemas.JobRequest{
		JobID: job, Container: "terraform-planner", Script: script, Args: schemas.ArgList(args...),
		Stream: streamAddr, Attempt: 1, SubmittedAt: time.Now(),
	}.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return queue.Message{ID: "m-" + job, Body: body, SenderID: ciSender, ReceiveCount: 1}
}

// bigArgs returns n arguments of size bytes each.
func bigArgs(n, size int) []string {
	return strings.Fields(strings.Repeat(strings.Repeat("x", size)+" ", n))
}

// journaled returns the job's journal, none when it has nothing.
func journaled(t *testing.T, h *harness, job string) []schemas.JobEvent {
	t.Helper()
	evs, err := h.g.Journal.Read(context.Background(), job)
	if err != nil && !errors.Is(err, journal.ErrNotFound) {
		t.Fatal(err)
	}
	return evs
}

// lastRejection returns the last event if it is a rejection.
func lastRejection(t *testing.T, what string, evs []schemas.JobEvent) schemas.JobEvent {
	t.Helper()
	if len(evs) == 0 || evs[len(evs)-1].Type != schemas.EventRejected {
		t.Fatalf("%s: %+v, want a rejection last", what, evs)
	}
	return evs[len(evs)-1]
}

func (h *harness) runOrders(t *testing.T) int {
	t.Helper()
	msgs, err := h.runs.Receive(context.Background(), queue.ReceiveOptions{Max: queue.MaxBatch})
	if err != nil {
		t.Fatal(err)
	}
	return len(msgs)
}

// onSQSStreams moves the harness's gatekeeper onto the SQS stream
// adapter (over the embedded broker), which refuses an event of another
// job, and returns a reader of a job's stream there.
func onSQSStreams(t *testing.T, h *harness) func(t *testing.T, job string) []schemas.JobEvent {
	t.Helper()
	db, err := sqlitedb.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	broker, err := sqlitequeue.New(db, sqlitequeue.Options{SenderID: "test"})
	if err != nil {
		t.Fatal(err)
	}
	s := sqsstream.New(broker, sqsstream.Options{})
	for _, id := range []string{ownJob, otherJob} {
		if _, err := s.Create(context.Background(), id, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	h.g.Streams, h.g.StreamAddress = s, sqsstream.Address
	return func(t *testing.T, job string) []schemas.JobEvent {
		t.Helper()
		return streamEvents(t, s, sqsstream.Address(job))
	}
}

// A request naming a stream that is not its own job's is rejected as
// malformed, on its own job's stream (the one its caller follows) and in
// its journal, once: never published into the stream it names (on the
// embedded backend that would end another caller's follower), never
// retried (the SQS stream refuses an event of another job).
func TestRequestNamingAnotherStreamIsRejectedOnItsOwn(t *testing.T) {
	for _, backend := range []string{"sqlite", "sqs"} {
		for _, named := range []string{"other job's", "garbage"} {
			t.Run(backend+"/"+named, func(t *testing.T) {
				h := onceHarness(t)
				read, addr := h.events, sqlitestream.Address
				if backend == "sqs" {
					read, addr = onSQSStreams(t, h), sqsstream.Address
				}
				foreign := addr(otherJob)
				if named == "garbage" {
					foreign = "nowhere"
				}
				if err := h.g.Handle(context.Background(), request(t, ownJob, foreign, "echo", "hi")); err != nil {
					t.Fatalf("Handle: %v; a malformed request is not retried", err)
				}
				rej := lastRejection(t, "own stream", read(t, ownJob))
				if rej.ReasonCode != gatekeeper.ReasonMalformed || rej.Outcome != schemas.OutcomeRejected ||
					!strings.Contains(rej.Reason, strconv.Quote(foreign)) || !strings.Contains(rej.Reason, strconv.Quote(addr(ownJob))) {
					t.Errorf("rejection %+v, want %s naming %q and %q", rej, gatekeeper.ReasonMalformed, foreign, addr(ownJob))
				}
				if got := lastRejection(t, "journal", journaled(t, h, ownJob)); got.ReasonCode != gatekeeper.ReasonMalformed {
					t.Errorf("journaled rejection %+v", got)
				}
				if evs := read(t, otherJob); len(evs) != 0 {
					t.Errorf("the named stream got %+v", evs)
				}
				if n := h.runOrders(t); n != 0 {
					t.Errorf("%d run orders forwarded", n)
				}
				if codes := deadLetterCodes(t, h); len(codes) != 0 {
					t.Errorf("dead letters %v: a rejection that was told is not dead-lettered", codes)
				}
			})
		}
	}
}

// An unreadable request is answered on its own job's stream too, never on
// the one it names, and the answer is journaled.
func TestUndecodableRequestIsAnsweredOnItsOwnStream(t *testing.T) {
	h := onceHarness(t)
	body := fmt.Sprintf(`{"schema":"job_request/v1","job_id":%q,"container":"terraform-planner","script":"echo","stream":%q,"attempt":0}`,
		ownJob, sqlitestream.Address(otherJob))
	if err := h.g.Handle(context.Background(), queue.Message{ID: "m", Body: []byte(body), SenderID: ciSender}); err != nil {
		t.Fatal(err)
	}
	if rej := lastRejection(t, "own stream", h.events(t, ownJob)); rej.ReasonCode != gatekeeper.ReasonMalformed {
		t.Errorf("rejection %+v", rej)
	}
	lastRejection(t, "journal", journaled(t, h, ownJob))
	if evs := h.events(t, otherJob); len(evs) != 0 {
		t.Errorf("the named stream got %+v", evs)
	}
	if codes := deadLetterCodes(t, h); len(codes) != 1 || codes[0] != gatekeeper.ReasonMalformed {
		t.Errorf("dead letters %v", codes)
	}
}

var orderSize = regexp.MustCompile(`^the run order would be ([0-9,]+) bytes; the run queue takes at most 262,144 bytes: shorten the arguments$`)

// A request whose run order would not fit the run queue is rejected with
// the sizes before anything is published or forwarded, instead of being
// retried forever; one whose order fits is forwarded.
func TestRunOrderTooLargeIsRejectedWithTheSizes(t *testing.T) {
	h := onceHarness(t)
	msg := request(t, ownJob, sqlitestream.Address(ownJob), "echo", bigArgs(35, 4000)...)
	if len(msg.Body) > queue.MaxBodySize {
		t.Fatalf("the request itself is %d bytes; the test wants one that fits", len(msg.Body))
	}
	if err := h.g.Handle(context.Background(), msg); err != nil {
		t.Fatalf("Handle: %v; a request too large to forward is not retried", err)
	}
	evs := h.events(t, ownJob)
	rej := lastRejection(t, "stream", evs)
	if len(evs) != 1 {
		t.Errorf("stream %+v, want the rejection only (nothing accepted)", evs)
	}
	m := orderSize.FindStringSubmatch(rej.Reason)
	if rej.ReasonCode != gatekeeper.ReasonTooLarge || m == nil {
		t.Fatalf("rejection [%s] %q, want %s with the sizes", rej.ReasonCode, rej.Reason, gatekeeper.ReasonTooLarge)
	}
	if size, _ := strconv.Atoi(strings.ReplaceAll(m[1], ",", "")); size <= queue.MaxBodySize || size < 2*35*4000 {
		t.Errorf("run order size %s: not over the limit, or not counting the arguments twice (request and argv)", m[1])
	}
	if got := lastRejection(t, "journal", journaled(t, h, ownJob)); got.Reason != rej.Reason || got.Principal == "" {
		t.Errorf("journaled %+v", got)
	}
	if n := h.runOrders(t); n != 0 {
		t.Errorf("%d run orders forwarded", n)
	}

	// Thirty such arguments make an order that fits.
	if err := h.g.Handle(context.Background(), request(t, otherJob, sqlitestream.Address(otherJob), "echo", bigArgs(30, 4000)...)); err != nil {
		t.Fatal(err)
	}
	if types := eventTypes(h.events(t, otherJob)); types != "accepted,queued" || h.runOrders(t) != 1 {
		t.Errorf("a request whose order fits: events %s", types)
	}
}

// refusingRuns is a run queue whose Send fails with err.
type refusingRuns struct {
	queue.Queue
	err error
}

func (r refusingRuns) Send(context.Context, ...queue.Outgoing) ([]string, error) { return nil, r.err }

// A run queue that refuses an order for good (too large, invalid) ends
// the request with a rejection; an unreachable or throttling one makes
// the gatekeeper retry, telling the caller nothing yet. Where the
// backend makes a step's writes one (Together), the retried request
// leaves no accepted event behind either; elsewhere (AWS) it does, to
// be published again, the same, by the retry.
func TestForwardingFailuresAreClassified(t *testing.T) {
	t.Run("one by one", func(t *testing.T) { testForwardingFailures(t, false) })
	t.Run("together", func(t *testing.T) { testForwardingFailures(t, true) })
}

func testForwardingFailures(t *testing.T, together bool) {
	cases := []struct {
		name string
		err  error
		code string // the rejection; "" for a retry
	}{
		{"throttled", fmt.Errorf("SendMessage: %w: Throttling: Rate exceeded", queue.ErrThrottled), ""},
		{"unreachable", errors.New(`SendMessage: dial tcp 10.0.0.1:443: connect: connection refused`), ""},
		{"5xx", errors.New("SendMessage: https response error StatusCode: 503, InternalError"), ""},
		{"deadline", fmt.Errorf("SendMessage: %w", context.DeadlineExceeded), ""},
		{"too large", &queue.BatchError{Failed: map[int]error{0: fmt.Errorf("%w: InvalidParameterValue: must be shorter than 262144 bytes", queue.ErrTooLarge)}}, gatekeeper.ReasonTooLarge},
		{"invalid", fmt.Errorf("SendMessage: %w: InvalidMessageContents", queue.ErrInvalid), gatekeeper.ReasonMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := onceHarness(t)
			if together {
				h.g.Together = func(ctx context.Context, fn func(context.Context) error) error {
					return sqlitedb.Together(ctx, h.db, fn)
				}
			}
			h.g.RunQueue = func(context.Context, string) (queue.Queue, error) { return refusingRuns{h.runs, c.err}, nil }
			err := h.g.Handle(context.Background(), request(t, ownJob, sqlitestream.Address(ownJob), "echo", "hi"))
			evs := h.events(t, ownJob)
			if c.code == "" {
				if err == nil || !errors.Is(err, c.err) {
					t.Fatalf("Handle = %v, want the transient error for a retry", err)
				}
				want := "accepted"
				if together {
					want = ""
				}
				if types := eventTypes(evs); types != want {
					t.Errorf("stream %q, want %q: the request is still under way", types, want)
				}
				if n := len(journaled(t, h, ownJob)); together && n != 0 {
					t.Errorf("%d events journaled, want none: the accepted event goes with the order", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Handle = %v; a refused order is not retried", err)
			}
			rej := lastRejection(t, "stream", evs)
			if rej.ReasonCode != c.code || !strings.Contains(rej.Reason, "run queue refused") {
				t.Errorf("rejection [%s] %q, want %s", rej.ReasonCode, rej.Reason, c.code)
			}
			if got := lastRejection(t, "journal", journaled(t, h, ownJob)); got.ReasonCode != c.code {
				t.Errorf("journaled %+v", got)
			}
		})
	}
}

// refusingJournal is a journal whose appends fail with err.
type refusingJournal struct {
	journal.Journal
	err error
}

func (r refusingJournal) Append(context.Context, string, ...schemas.JobEvent) error { return r.err }

// A rejection the stream refuses for good is still journaled, and the
// request dead-lettered with the rejection's reason; one the journal
// refuses for good is still told on the stream, and dead-lettered. A
// transient failure of either is retried with nothing dead-lettered.
func TestRejectionsThatCannotBeToldAreDeadLettered(t *testing.T) {
	tooLarge := fmt.Errorf("publishing: %w: 300000 bytes", schemas.ErrTooLarge)
	cases := []struct {
		name               string
		streamErr, journal error
		retry, journaled   bool
		told               bool // the rejection reached the stream
	}{
		{name: "stream refuses, malformed", streamErr: fmt.Errorf("publishing: %w: it belongs to job X", schemas.ErrMalformed), journaled: true},
		{name: "stream refuses, too large", streamErr: tooLarge, journaled: true},
		{name: "stream and journal refuse", streamErr: tooLarge, journal: fmt.Errorf("PutLogEvents: %w", schemas.ErrTooLarge)},
		{name: "journal refuses", journal: fmt.Errorf("PutLogEvents: %w", schemas.ErrTooLarge), told: true},
		{name: "stream throttled", streamErr: stream.ErrThrottled, retry: true},
		{name: "journal unreachable", journal: errors.New("PutLogEvents: connection reset by peer"), retry: true},
		{name: "stream refuses, journal unreachable", streamErr: tooLarge, journal: errors.New("PutLogEvents: EOF"), retry: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := onceHarness(t)
			if c.streamErr != nil {
				h.g.Streams = failing{Streams: h.g.Streams, err: c.streamErr}
			}
			if c.journal != nil {
				h.g.Journal = refusingJournal{h.g.Journal, c.journal}
			}
			err := h.g.Handle(context.Background(), request(t, ownJob, sqlitestream.Address(ownJob), "plan", "--destroy"))
			codes := deadLetterCodes(t, h)
			if c.retry {
				if err == nil || len(codes) != 0 {
					t.Fatalf("Handle = %v, dead letters %v; want a retry", err, codes)
				}
				return
			}
			if err != nil {
				t.Fatalf("Handle = %v; the request must end", err)
			}
			if len(codes) != 1 || codes[0] != policy.CodeOptionRestricted {
				t.Errorf("dead letters %v, want one with the rejection's code", codes)
			}
			if c.journaled {
				if got := lastRejection(t, "journal", journaled(t, h, ownJob)); got.ReasonCode != policy.CodeOptionRestricted {
					t.Errorf("journaled %+v", got)
				}
			}
			if c.told {
				if got := lastRejection(t, "stream", h.events(t, ownJob)); got.ReasonCode != policy.CodeOptionRestricted {
					t.Errorf("told %+v", got)
				}
			}
		})
	}
}

// The classification itself: refusals are permanent, unless something
// transient failed beside them.
func TestPermanentErrors(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("connection refused"), false},
		{fmt.Errorf("x: %w", context.Canceled), false},
		{fmt.Errorf("x: %w", queue.ErrThrottled), false},
		{fmt.Errorf("x: %w", stream.ErrThrottled), false},
		{fmt.Errorf("x: %w", queue.ErrNotFound), false},
		{fmt.Errorf("x: %w", schemas.ErrMalformed), true},
		{fmt.Errorf("x: %w", schemas.ErrTooLarge), true},
		{fmt.Errorf("x: %w", schemas.ErrUnsupportedSchema), true},
		{fmt.Errorf("x: %w", stream.ErrInvalidAddress), true},
		{fmt.Errorf("x: %w", queue.ErrTooLarge), true},
		{fmt.Errorf("x: %w", queue.ErrInvalid), true},
		{&queue.BatchError{Failed: map[int]error{0: queue.ErrTooLarge}}, true},
		{errors.Join(schemas.ErrTooLarge, queue.ErrThrottled), false},
		{fmt.Errorf("%w: %w", context.DeadlineExceeded, queue.ErrInvalid), false},
	} {
		if got := gatekeeper.Permanent(c.err); got != c.want {
			t.Errorf("permanent(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
