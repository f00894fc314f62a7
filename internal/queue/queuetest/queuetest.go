// Package queuetest is the conformance suite of the queue port. Every
// adapter's tests call Run; a behaviour the suite does not check is not
// guaranteed by the port.
//
// The suite is written to run against shared, remote and eventually
// consistent backends (real SQS, moto, an HTTP fake) as well as the
// embedded one: every test makes its own uniquely named queues and deletes
// them when it ends, never assumes the backend is empty, and waits for
// things by polling with a deadline (long-poll receives, repeated calls),
// never by sleeping. Timing assertions are one-sided: a message seen
// before it may be visible fails the test. A check the machine was too
// slow to make (the window it needed passed before the suite could look)
// is made again on a fresh queue with a window twice as long, up to
// MaxWindow; a machine too slow for every window fails the test. No check
// is ever skipped.
package queuetest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/queue"
)

// Timeout bounds every wait of the suite. It is long because SQS takes up
// to 60 seconds to forget a deleted queue; passing runs never come near it.
const Timeout = 75 * time.Second

// clockSkew is how far a backend's clock may be from the test's when the
// suite checks Message.SentAt.
const clockSkew = 5 * time.Second

// MaxWindow is the longest visibility timeout or delay a timing check
// widens its window to when the machine was too slow for a shorter one.
const MaxWindow = 16 * time.Second

// Features describe what the backend under test does differently. The zero
// value is a backend with every guarantee of the port and millisecond
// timing.
type Features struct {
	// SenderID is the Message.SenderID the backend must report for the
	// messages the tests send (e.g. "user:ci" for the embedded backend, the
	// caller's access key or role id for SQS). Empty skips the check.
	SenderID string
	// Granularity is the coarsest unit of time the backend honours for
	// visibility timeouts, long-poll waits and delays (SQS: time.Second).
	// The suite rounds every duration it uses up to a multiple of it. Zero
	// means the backend honours milliseconds.
	Granularity time.Duration
	// LaxReceipts: the backend accepts some stale receipts instead of
	// failing with queue.ErrInvalidReceipt (real SQS's DeleteMessage
	// succeeds, without deleting anything, when given the receipt of an
	// earlier delivery). The suite then only checks that a stale receipt
	// never deletes the message and that a malformed one is refused.
	LaxReceipts bool
	// MayDuplicate: the backend may, rarely, hand out a message that is
	// still invisible (real SQS standard queues). The concurrency test then
	// requires every message to be delivered at least once instead of
	// exactly once.
	MayDuplicate bool
	// NoOldestAge: the backend does not report the age of a queue's
	// oldest message (SQS: Stats.AgeKnown is always false). The stats
	// test then checks the counts only.
	NoOldestAge bool
}

// Run runs the suite. newBroker returns the adapter to test; it is called
// once per test, with that test's t, and may return handles on one shared
// backend. The tests run in parallel.
func Run(t *testing.T, f Features, newBroker func(t *testing.T) queue.Broker) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(e *env)
	}{
		{"SendReceiveRoundTrip", testRoundTrip},
		{"BodiesExact", testBodiesExact},
		{"LargeBody", testLargeBody},
		{"InvalidMessagesRefused", testInvalidMessages},
		{"SendBatch", testSendBatch},
		{"ReceiveMaxHonoured", testReceiveMax},
		{"ReceiveOptionsValidated", testReceiveOptions},
		{"LongPollWakesOnSend", testLongPollWakes},
		{"LongPollElapsesEmpty", testLongPollElapses},
		{"LongPollCancelled", testLongPollCancelled},
		{"VisibilityTimeoutRedelivers", testVisibility},
		{"ChangeVisibility", testChangeVisibility},
		{"StaleReceipt", testStaleReceipt},
		{"DeleteIdempotent", testDeleteIdempotent},
		{"DeleteBatchPartialFailure", testDeleteBatchPartial},
		{"DeadLetter", testDeadLetter},
		{"Delay", testDelay},
		{"SenderID", testSenderID},
		{"QueuesIsolated", testIsolated},
		{"OpenAndDeleteMissing", testMissing},
		{"CreateIdempotent", testCreateIdempotent},
		{"CreateInvalid", testCreateInvalid},
		{"DeleteQueue", testDeleteQueue},
		{"ListByPrefix", testList},
		{"ConcurrentConsumers", testConcurrentConsumers},
		{"Stats", testStats},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(newEnv(t, f, newBroker(t)))
		})
	}
}

// env is one test's view of the backend.
type env struct {
	t      *testing.T
	f      Features
	b      queue.Broker
	prefix string
	// unit is the visibility timeout or delay of a message whose hiding
	// the tests check: long enough for a loaded machine to make two calls
	// in it.
	unit time.Duration
	// tick is the shortest wait or timeout the tests use where nothing
	// depends on how fast the machine is.
	tick time.Duration
	// poll is the long-poll wait of receives that expect a message.
	poll time.Duration
}

func newEnv(t *testing.T, f Features, b queue.Broker) *env {
	e := &env{
		t: t, f: f, b: b,
		// "qt-" + 12 random base32 characters: unique, a valid SQS name
		// prefix, and short enough for any suffix the tests add.
		prefix: "qt-" + strings.ToLower(rand.Text()[:12]) + "-",
	}
	e.unit = e.round(250 * time.Millisecond)
	e.tick = e.round(100 * time.Millisecond)
	e.poll = e.round(2 * time.Second)
	return e
}

// round rounds d up to the backend's granularity.
func (e *env) round(d time.Duration) time.Duration {
	g := e.f.Granularity
	if g <= 0 || d%g == 0 {
		return d
	}
	return (d/g + 1) * g
}

func (e *env) ctx() context.Context { return e.t.Context() }

// name returns the test's queue name for suffix.
func (e *env) name(suffix string) string { return e.prefix + suffix }

// create creates the test's queue suffix and deletes it when the test
// ends.
func (e *env) create(suffix string, cfg queue.Config) queue.Queue {
	e.t.Helper()
	name := e.name(suffix)
	q, err := e.b.Create(e.ctx(), name, cfg)
	if err != nil {
		e.t.Fatalf("Create(%s): %v", name, err)
	}
	if q.Name() != name {
		e.t.Fatalf("Create(%s).Name() = %q", name, q.Name())
	}
	e.t.Cleanup(func() { e.deleteQueue(name) })
	return q
}

// deleteQueue deletes a queue at the end of a test; one already gone is
// fine.
func (e *env) deleteQueue(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := e.b.Delete(ctx, name); err != nil && !errors.Is(err, queue.ErrNotFound) {
		e.t.Errorf("cleanup: deleting queue %s: %v", name, err)
	}
}

// send sends msgs and returns their ids.
func (e *env) send(q queue.Queue, msgs ...queue.Outgoing) []string {
	e.t.Helper()
	ids, err := q.Send(e.ctx(), msgs...)
	if err != nil {
		e.t.Fatalf("Send(%s, %d messages): %v", q.Name(), len(msgs), err)
	}
	if len(ids) != len(msgs) {
		e.t.Fatalf("Send(%s, %d messages) returned %d ids", q.Name(), len(msgs), len(ids))
	}
	for i, id := range ids {
		if id == "" {
			e.t.Fatalf("Send(%s): message %d has no id", q.Name(), i)
		}
	}
	return ids
}

func text(s string) queue.Outgoing { return queue.Outgoing{Body: []byte(s)} }

// receive calls Receive once and checks what it returns.
func (e *env) receive(q queue.Queue, opts queue.ReceiveOptions) []queue.Message {
	e.t.Helper()
	msgs, err := q.Receive(e.ctx(), opts)
	if err != nil {
		e.t.Fatalf("Receive(%s, %+v): %v", q.Name(), opts, err)
	}
	if limit := max(opts.Max, 1); len(msgs) > limit {
		e.t.Fatalf("Receive(%s, %+v) returned %d messages, more than Max", q.Name(), opts, len(msgs))
	}
	for _, m := range msgs {
		e.check(m)
	}
	return msgs
}

// check checks the fields every received message has.
func (e *env) check(m queue.Message) {
	e.t.Helper()
	switch {
	case m.ID == "":
		e.t.Fatalf("received message without an id: %+v", m)
	case m.Receipt == "":
		e.t.Fatalf("received message %s without a receipt", m.ID)
	case m.ReceiveCount < 1:
		e.t.Fatalf("received message %s with ReceiveCount %d", m.ID, m.ReceiveCount)
	case m.SentAt.IsZero():
		e.t.Fatalf("received message %s without SentAt", m.ID)
	case e.f.SenderID != "" && m.SenderID != e.f.SenderID:
		e.t.Fatalf("received message %s with SenderID %q, want %q", m.ID, m.SenderID, e.f.SenderID)
	}
}

// receiveN receives until it has n messages, failing after Timeout or
// when more arrive. opts.Wait defaults to e.poll and opts.Max to what is
// still missing. It also returns when the call that completed the set
// started.
func (e *env) receiveN(q queue.Queue, n int, opts queue.ReceiveOptions) ([]queue.Message, time.Time) {
	e.t.Helper()
	if opts.Wait == 0 {
		opts.Wait = e.poll
	}
	perCall := opts.Max
	deadline := time.Now().Add(Timeout)
	var got []queue.Message
	var start time.Time
	for len(got) < n {
		if time.Now().After(deadline) {
			e.t.Fatalf("received %d messages from %s in %s, want %d", len(got), q.Name(), Timeout, n)
		}
		opts.Max = n - len(got)
		if perCall > 0 {
			opts.Max = min(perCall, opts.Max)
		}
		start = time.Now()
		got = append(got, e.receive(q, opts)...)
	}
	return got, start
}

// receiveOne receives one message, waiting for it up to Timeout.
func (e *env) receiveOne(q queue.Queue, opts queue.ReceiveOptions) queue.Message {
	e.t.Helper()
	msgs, _ := e.receiveN(q, 1, opts)
	return msgs[0]
}

// expectNone fails if q returns a message within wait.
func (e *env) expectNone(q queue.Queue, wait time.Duration) {
	e.t.Helper()
	if msgs := e.receive(q, queue.ReceiveOptions{Max: queue.MaxBatch, Wait: wait}); len(msgs) > 0 {
		e.t.Fatalf("Receive(%s) returned %d messages (first %s, %q), want none", q.Name(), len(msgs), msgs[0].ID, msgs[0].Body)
	}
}

// expectHidden checks that q returns nothing right now, knowing that its
// messages must stay hidden until `until`. A message that shows up earlier
// fails the test; one that shows up later means the machine was too slow
// to make the check: expectHidden then reports false.
func (e *env) expectHidden(q queue.Queue, until time.Time) bool {
	e.t.Helper()
	msgs := e.receive(q, queue.ReceiveOptions{Max: queue.MaxBatch})
	if len(msgs) == 0 {
		return true
	}
	if time.Now().Before(until) {
		e.t.Fatalf("message %s of %s visible %s before it may be", msgs[0].ID, q.Name(), time.Until(until).Round(time.Millisecond))
	}
	return false
}

// timed makes a check that needs the machine to act within a window (a
// visibility timeout, a delay): check gets the attempt's number and its
// window, and reports false when the window passed before it could tell.
// The check is then made again with a window twice as long, up to
// MaxWindow; a machine too slow for every window fails the test, and a
// widened window is logged.
func (e *env) timed(what string, check func(attempt int, window time.Duration) bool) {
	e.t.Helper()
	window := e.unit
	for attempt := 1; ; attempt++ {
		if check(attempt, window) {
			return
		}
		if window >= MaxWindow {
			e.t.Fatalf("%s: the machine was too slow to check it, even with a %s window", what, window)
		}
		e.t.Logf("%s: the machine was too slow to check it with a %s window; again with %s", what, window, e.round(2*window))
		window = e.round(2 * window)
	}
}

// wantErr fails unless err wraps target.
func (e *env) wantErr(what string, err, target error) {
	e.t.Helper()
	if !errors.Is(err, target) {
		e.t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// deleteMsgs deletes received messages.
func (e *env) deleteMsgs(q queue.Queue, msgs ...queue.Message) {
	e.t.Helper()
	for c := range slices.Chunk(msgs, queue.MaxBatch) {
		receipts := make([]string, len(c))
		for i, m := range c {
			receipts[i] = m.Receipt
		}
		if err := q.Delete(e.ctx(), receipts...); err != nil {
			e.t.Fatalf("Delete(%s, %d receipts): %v", q.Name(), len(receipts), err)
		}
	}
}

// roundTripBody mixes scripts, symbols, markup and whitespace.
const roundTripBody = "{\"schema\":\"run_order/v1\",\"args\":[\"plan\",\"-var=x=\\\"y\\\"\"]}\n" +
	"déploiement ✓ — 日本語 — Ελληνικά — 🚀\t<xml a='1'>&amp;</xml>\r\n  trailing spaces  "

func testRoundTrip(e *env) {
	q := e.create("q", queue.Config{})
	attrs := map[string]string{
		"job_id":          "01JD0000000000000000000000",
		"schema":          "run_order/v1",
		"Unicode.Value-1": "wörld ✓ 🚀",
	}
	before := time.Now()
	ids := e.send(q, queue.Outgoing{Body: []byte(roundTripBody), Attributes: attrs})
	after := time.Now()
	m := e.receiveOne(q, queue.ReceiveOptions{})
	if m.ID != ids[0] {
		e.t.Errorf("ID = %q, want the id Send returned, %q", m.ID, ids[0])
	}
	if string(m.Body) != roundTripBody {
		e.t.Errorf("Body = %q, want %q", m.Body, roundTripBody)
	}
	if !maps.Equal(m.Attributes, attrs) {
		e.t.Errorf("Attributes = %v, want %v", m.Attributes, attrs)
	}
	if m.ReceiveCount != 1 {
		e.t.Errorf("ReceiveCount = %d, want 1", m.ReceiveCount)
	}
	if m.SentAt.Before(before.Add(-clockSkew)) || m.SentAt.After(after.Add(clockSkew)) {
		e.t.Errorf("SentAt = %s, want between %s and %s", m.SentAt, before, after)
	}
	e.deleteMsgs(q, m)

	// Without attributes.
	e.send(q, text("plain"))
	m = e.receiveOne(q, queue.ReceiveOptions{})
	if string(m.Body) != "plain" || len(m.Attributes) != 0 {
		e.t.Errorf("got body %q, attributes %v; want \"plain\" and none", m.Body, m.Attributes)
	}
	e.deleteMsgs(q, m)
}

func testBodiesExact(e *env) {
	q := e.create("q", queue.Config{})
	var ascii strings.Builder
	for c := 0x20; c < 0x7f; c++ {
		ascii.WriteByte(byte(c))
	}
	bodies := []string{
		"x",
		" ",
		"\n",
		"\t\r\n\r",
		ascii.String(),
		"\u007f\u0080\u07ff\u0800\ud7ff\ue000\ufffd\U00010000\U0010ffff",
		"  leading and trailing whitespace \n\n",
		`\u0000 is not a NUL, "quotes", 'apostrophes', back\slash, %s %d %!`,
		strings.Repeat("é", 1000),
	}
	out := make([]queue.Outgoing, len(bodies))
	for i, b := range bodies {
		out[i] = text(b)
	}
	ids := e.send(q, out...)
	want := map[string]string{}
	for i, id := range ids {
		want[id] = bodies[i]
	}
	msgs, _ := e.receiveN(q, len(bodies), queue.ReceiveOptions{Max: queue.MaxBatch})
	for _, m := range msgs {
		w, ok := want[m.ID]
		if !ok {
			e.t.Fatalf("received unknown or duplicate message %s", m.ID)
		}
		delete(want, m.ID)
		if string(m.Body) != w {
			e.t.Errorf("message %s: Body = %q, want %q", m.ID, m.Body, w)
		}
	}
	e.deleteMsgs(q, msgs...)
}

func testLargeBody(e *env) {
	q := e.create("q", queue.Config{})
	big := make([]byte, queue.MaxBodySize)
	for i := range big {
		big[i] = 'a' + byte(i%26)
	}
	copy(big[100:], "ü€𝄞") // multi-byte characters inside
	ids := e.send(q, queue.Outgoing{Body: big})
	m := e.receiveOne(q, queue.ReceiveOptions{})
	if m.ID != ids[0] || string(m.Body) != string(big) {
		e.t.Fatalf("received %s with a %d-byte body, want %s with the %d bytes sent", m.ID, len(m.Body), ids[0], len(big))
	}
	e.deleteMsgs(q, m)

	_, err := q.Send(e.ctx(), queue.Outgoing{Body: append(big, 'x')})
	e.wantErr("Send of MaxBodySize+1 bytes", err, queue.ErrTooLarge)
	_, err = q.Send(e.ctx(), queue.Outgoing{Body: big, Attributes: map[string]string{"k": "v"}})
	e.wantErr("Send of MaxBodySize bytes plus an attribute", err, queue.ErrTooLarge)
	half := queue.Outgoing{Body: big[:queue.MaxBodySize/2+1]}
	_, err = q.Send(e.ctx(), half, half)
	e.wantErr("Send of a batch larger than MaxBodySize", err, queue.ErrTooLarge)
	e.expectNone(q, 0)
}

func testInvalidMessages(e *env) {
	q := e.create("q", queue.Config{})
	tooMany := map[string]string{}
	for i := range queue.MaxAttributes + 1 {
		tooMany[fmt.Sprintf("a%d", i)] = "v"
	}
	cases := []struct {
		name string
		msg  queue.Outgoing
	}{
		{"empty body", text("")},
		{"NUL", text("a\x00b")},
		{"control character", text("a\x01b")},
		{"invalid UTF-8", queue.Outgoing{Body: []byte{'a', 0xff, 0xfe}}},
		{"surrogate", queue.Outgoing{Body: []byte{0xed, 0xa0, 0x80}}},
		{"empty attribute value", queue.Outgoing{Body: []byte("x"), Attributes: map[string]string{"k": ""}}},
		{"reserved attribute name", queue.Outgoing{Body: []byte("x"), Attributes: map[string]string{"AWS.trace": "v"}}},
		{"attribute name with space", queue.Outgoing{Body: []byte("x"), Attributes: map[string]string{"a b": "v"}}},
		{"too many attributes", queue.Outgoing{Body: []byte("x"), Attributes: tooMany}},
		{"negative delay", queue.Outgoing{Body: []byte("x"), Delay: -time.Second}},
		{"delay over 15m", queue.Outgoing{Body: []byte("x"), Delay: 16 * time.Minute}},
	}
	for _, c := range cases {
		_, err := q.Send(e.ctx(), c.msg)
		e.wantErr("Send with "+c.name, err, queue.ErrInvalid)
	}
	e.expectNone(q, 0)
}

func testSendBatch(e *env) {
	q := e.create("q", queue.Config{})
	out := make([]queue.Outgoing, queue.MaxBatch)
	for i := range out {
		out[i] = queue.Outgoing{Body: fmt.Appendf(nil, "message %d", i), Attributes: map[string]string{"i": fmt.Sprint(i)}}
	}
	ids := e.send(q, out...)
	if len(slices.Compact(slices.Sorted(slices.Values(ids)))) != len(ids) {
		e.t.Fatalf("Send returned duplicate ids: %v", ids)
	}
	msgs, _ := e.receiveN(q, len(out), queue.ReceiveOptions{Max: queue.MaxBatch})
	for _, m := range msgs {
		i := slices.Index(ids, m.ID)
		if i < 0 {
			e.t.Fatalf("received message %s that was not sent", m.ID)
		}
		if string(m.Body) != string(out[i].Body) || m.Attributes["i"] != fmt.Sprint(i) {
			e.t.Errorf("message %s: got %q %v, want %q %v", m.ID, m.Body, m.Attributes, out[i].Body, out[i].Attributes)
		}
	}
	e.deleteMsgs(q, msgs...)

	_, err := q.Send(e.ctx(), append(out, text("eleventh"))...)
	e.wantErr("Send of 11 messages", err, queue.ErrInvalid)
	_, err = q.Send(e.ctx())
	e.wantErr("Send of no messages", err, queue.ErrInvalid)
	e.expectNone(q, 0)
}

func testReceiveMax(e *env) {
	q := e.create("q", queue.Config{})
	ids := e.send(q, text("1"), text("2"), text("3"), text("4"), text("5"))
	// receiveN fails on any call returning more than Max.
	msgs, _ := e.receiveN(q, len(ids), queue.ReceiveOptions{Max: 2})
	var got []string
	for _, m := range msgs {
		got = append(got, m.ID)
	}
	slices.Sort(got)
	slices.Sort(ids)
	if !slices.Equal(got, ids) {
		e.t.Errorf("received %v, want each of %v once", got, ids)
	}
	e.deleteMsgs(q, msgs...)
}

func testReceiveOptions(e *env) {
	q := e.create("q", queue.Config{})
	for _, o := range []queue.ReceiveOptions{
		{Max: queue.MaxBatch + 1},
		{Max: -1},
		{Wait: -time.Second},
		{Wait: queue.MaxWait + time.Second},
		{Visibility: -time.Second},
		{Visibility: queue.MaxVisibility + time.Hour},
	} {
		_, err := q.Receive(e.ctx(), o)
		e.wantErr(fmt.Sprintf("Receive(%+v)", o), err, queue.ErrInvalid)
	}
	// Max 0 means 1.
	e.send(q, text("a"), text("b"))
	m := e.receiveOne(q, queue.ReceiveOptions{Max: 0})
	e.deleteMsgs(q, m)
}

func testLongPollWakes(e *env) {
	q := e.create("q", queue.Config{})
	wait := e.round(10 * time.Second)
	type result struct {
		msgs    []queue.Message
		err     error
		elapsed time.Duration
	}
	started := make(chan struct{})
	done := make(chan result, 1)
	go func() {
		close(started)
		start := time.Now()
		msgs, err := q.Receive(e.ctx(), queue.ReceiveOptions{Wait: wait})
		done <- result{msgs, err, time.Since(start)}
	}()
	<-started
	ids := e.send(q, text("wake up"))
	var r result
	select {
	case r = <-done:
	case <-time.After(Timeout):
		e.t.Fatalf("Receive did not return in %s", Timeout)
	}
	if r.err != nil {
		e.t.Fatalf("Receive: %v", r.err)
	}
	if len(r.msgs) != 1 || r.msgs[0].ID != ids[0] {
		e.t.Fatalf("Receive returned %d messages, want the one sent (%s)", len(r.msgs), ids[0])
	}
	e.check(r.msgs[0])
	if r.elapsed > wait/2 {
		e.t.Errorf("Receive took %s of its %s wait: it did not return when the message arrived", r.elapsed, wait)
	}
	e.deleteMsgs(q, r.msgs...)
}

func testLongPollElapses(e *env) {
	q := e.create("q", queue.Config{})
	start := time.Now()
	e.expectNone(q, 0)
	if d := time.Since(start); d > Timeout/2 {
		e.t.Errorf("Receive without a wait took %s", d)
	}
	start = time.Now()
	e.expectNone(q, e.tick)
	// The backend may count from when it got the call, a little later.
	if d := time.Since(start); d < e.tick*9/10 {
		e.t.Errorf("Receive with a %s wait returned after %s", e.tick, d)
	}
}

func testLongPollCancelled(e *env) {
	q := e.create("q", queue.Config{})

	// Cancelled by the caller.
	ctx, cancel := context.WithCancel(e.ctx())
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		close(started)
		_, err := q.Receive(ctx, queue.ReceiveOptions{Wait: queue.MaxWait})
		done <- err
	}()
	<-started
	cancel()
	select {
	case err := <-done:
		e.wantErr("Receive with a cancelled context", err, context.Canceled)
	case <-time.After(Timeout / 3):
		e.t.Fatalf("Receive did not return %s after its context was cancelled", Timeout/3)
	}

	// Deadline in the middle of the wait.
	const deadline = 100 * time.Millisecond
	ctx, cancel = context.WithTimeout(e.ctx(), deadline)
	defer cancel()
	start := time.Now()
	_, err := q.Receive(ctx, queue.ReceiveOptions{Wait: queue.MaxWait})
	e.wantErr("Receive past its context's deadline", err, context.DeadlineExceeded)
	if d := time.Since(start); d > deadline+5*time.Second {
		e.t.Errorf("Receive returned %s after its context's %s deadline", d-deadline, deadline)
	}
}

func testVisibility(e *env) {
	e.timed("a received message stays hidden for its visibility timeout", func(attempt int, unit time.Duration) bool {
		q := e.create(fmt.Sprintf("q%d", attempt), queue.Config{})
		ids := e.send(q, text("hide me"))
		m1, start := e.receiveN(q, 1, queue.ReceiveOptions{Visibility: unit})
		hiddenUntil := start.Add(unit)
		if !e.expectHidden(q, hiddenUntil) {
			return false
		}
		m2 := e.receiveOne(q, queue.ReceiveOptions{Visibility: 10 * time.Minute})
		if time.Now().Before(hiddenUntil) {
			e.t.Fatalf("message came back %s before its visibility timeout ended", time.Until(hiddenUntil))
		}
		switch {
		case m2.ID != ids[0] || m2.ID != m1[0].ID:
			e.t.Fatalf("redelivered %s, want %s", m2.ID, ids[0])
		case m2.ReceiveCount != 2:
			e.t.Errorf("ReceiveCount = %d on the second delivery, want 2", m2.ReceiveCount)
		case m2.Receipt == m1[0].Receipt:
			e.t.Errorf("the second delivery has the first one's receipt")
		case string(m2.Body) != "hide me":
			e.t.Errorf("Body = %q on the second delivery", m2.Body)
		}
		e.deleteMsgs(q, m2)
		return true
	})
}

func testChangeVisibility(e *env) {
	var q queue.Queue
	var m2 queue.Message
	e.timed("ChangeVisibility extends a visibility timeout, and 0 ends it", func(attempt int, unit time.Duration) bool {
		q = e.create(fmt.Sprintf("q%d", attempt), queue.Config{})
		e.send(q, text("extend me"))
		m := e.receiveOne(q, queue.ReceiveOptions{Visibility: unit})

		// Extend well past the original timeout and check it stays hidden.
		extended := time.Now()
		if err := q.ChangeVisibility(e.ctx(), m.Receipt, 8*unit); err != nil {
			e.t.Fatalf("ChangeVisibility(%s): %v", 8*unit, err)
		}
		hiddenUntil := extended.Add(8 * unit)
		// Unextended, it would be back within one unit of the extension.
		for time.Since(extended) < 2*unit {
			msgs := e.receive(q, queue.ReceiveOptions{Wait: e.tick})
			if len(msgs) > 0 {
				if time.Now().Before(hiddenUntil) {
					e.t.Fatalf("message visible %s after its visibility was extended by %s", time.Since(extended), 8*unit)
				}
				return false // too slow to tell
			}
		}

		// 0 makes it visible at once.
		if err := q.ChangeVisibility(e.ctx(), m.Receipt, 0); err != nil {
			e.t.Fatalf("ChangeVisibility(0): %v", err)
		}
		m2 = e.receiveOne(q, queue.ReceiveOptions{Visibility: 10 * time.Minute})
		if !time.Now().Before(hiddenUntil) {
			// Too late to tell ChangeVisibility(0) from the timeout ending.
			return false
		}
		if m2.ID != m.ID || m2.ReceiveCount != 2 {
			e.t.Errorf("got %s with ReceiveCount %d, want %s with 2", m2.ID, m2.ReceiveCount, m.ID)
		}
		return true
	})

	for _, d := range []time.Duration{-time.Second, queue.MaxVisibility + time.Hour} {
		err := q.ChangeVisibility(e.ctx(), m2.Receipt, d)
		e.wantErr(fmt.Sprintf("ChangeVisibility(%s)", d), err, queue.ErrInvalid)
	}
	err := q.ChangeVisibility(e.ctx(), "not-a-receipt", time.Minute)
	e.wantErr("ChangeVisibility with a malformed receipt", err, queue.ErrInvalidReceipt)
	e.deleteMsgs(q, m2)
}

func testStaleReceipt(e *env) {
	q := e.create("q", queue.Config{})
	e.send(q, text("received twice"))
	long := queue.ReceiveOptions{Visibility: 10 * time.Minute}
	m1 := e.receiveOne(q, long)
	if err := q.ChangeVisibility(e.ctx(), m1.Receipt, 0); err != nil {
		e.t.Fatalf("ChangeVisibility(0): %v", err)
	}
	m2 := e.receiveOne(q, long)
	if m2.ID != m1.ID || m2.Receipt == m1.Receipt || m2.ReceiveCount != 2 {
		e.t.Fatalf("second delivery: id %s (want %s), ReceiveCount %d (want 2), receipt changed %v",
			m2.ID, m1.ID, m2.ReceiveCount, m2.Receipt != m1.Receipt)
	}

	err := q.Delete(e.ctx(), m1.Receipt)
	if !e.f.LaxReceipts {
		e.wantErr("Delete with a stale receipt", err, queue.ErrInvalidReceipt)
		var be *queue.BatchError
		if !errors.As(err, &be) || be.Failed[0] == nil {
			e.t.Errorf("Delete with a stale receipt: %v, want a *queue.BatchError with entry 0", err)
		}
		err = q.ChangeVisibility(e.ctx(), m1.Receipt, time.Minute)
		e.wantErr("ChangeVisibility with a stale receipt", err, queue.ErrInvalidReceipt)
	} else if err != nil && !errors.Is(err, queue.ErrInvalidReceipt) {
		e.t.Fatalf("Delete with a stale receipt: %v", err)
	}

	// The stale receipt deleted nothing: the current one still works.
	if err := q.ChangeVisibility(e.ctx(), m2.Receipt, 0); err != nil {
		e.t.Fatalf("ChangeVisibility with the current receipt after a stale Delete: %v", err)
	}
	m3 := e.receiveOne(q, long)
	if m3.ID != m1.ID || m3.ReceiveCount != 3 {
		e.t.Fatalf("third delivery: %s with ReceiveCount %d, want %s with 3", m3.ID, m3.ReceiveCount, m1.ID)
	}
	e.deleteMsgs(q, m3)
	if !e.f.LaxReceipts {
		err = q.ChangeVisibility(e.ctx(), m3.Receipt, 0)
		e.wantErr("ChangeVisibility of a deleted message", err, queue.ErrInvalidReceipt)
	}
}

func testDeleteIdempotent(e *env) {
	q := e.create("q", queue.Config{})
	e.send(q, text("delete me"))
	m := e.receiveOne(q, queue.ReceiveOptions{Visibility: e.tick})
	for i := range 2 {
		if err := q.Delete(e.ctx(), m.Receipt); err != nil {
			e.t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if err := q.Delete(e.ctx(), m.Receipt, m.Receipt); err != nil {
		e.t.Fatalf("Delete of one receipt twice in a batch: %v", err)
	}
	// Deleted, it does not come back when its visibility timeout ends.
	e.expectNone(q, 3*e.tick)

	err := q.Delete(e.ctx())
	e.wantErr("Delete of no receipts", err, queue.ErrInvalid)
	err = q.Delete(e.ctx(), make([]string, queue.MaxBatch+1)...)
	e.wantErr("Delete of 11 receipts", err, queue.ErrInvalid)
}

func testDeleteBatchPartial(e *env) {
	q := e.create("q", queue.Config{})
	long := queue.ReceiveOptions{Visibility: 10 * time.Minute}
	// c is received twice, so its first receipt is stale; it stays hidden.
	e.send(q, text("c"))
	c1 := e.receiveOne(q, long)
	if err := q.ChangeVisibility(e.ctx(), c1.Receipt, 0); err != nil {
		e.t.Fatalf("ChangeVisibility(0): %v", err)
	}
	c2 := e.receiveOne(q, long)
	if c2.ID != c1.ID {
		e.t.Fatalf("received %s, want c (%s) again", c2.ID, c1.ID)
	}
	// a and b with a short timeout: they come back unless deleted.
	e.send(q, text("a"), text("b"))
	ab, _ := e.receiveN(q, 2, queue.ReceiveOptions{Visibility: e.tick})

	err := q.Delete(e.ctx(), ab[0].Receipt, "not-a-receipt", c1.Receipt, ab[1].Receipt)
	var be *queue.BatchError
	if !errors.As(err, &be) {
		e.t.Fatalf("Delete with a malformed receipt: %v, want a *queue.BatchError", err)
	}
	e.wantErr("Delete with a malformed receipt", err, queue.ErrInvalidReceipt)
	if !errors.Is(be.Failed[1], queue.ErrInvalidReceipt) {
		e.t.Errorf("entry 1 (malformed): %v, want %v", be.Failed[1], queue.ErrInvalidReceipt)
	}
	if !e.f.LaxReceipts && !errors.Is(be.Failed[2], queue.ErrInvalidReceipt) {
		e.t.Errorf("entry 2 (stale): %v, want %v", be.Failed[2], queue.ErrInvalidReceipt)
	}
	for _, i := range []int{0, 3} {
		if be.Failed[i] != nil {
			e.t.Errorf("entry %d (current receipt) failed: %v", i, be.Failed[i])
		}
	}
	// a and b are gone (they would be back after their short timeout);
	// c is still there under its current receipt.
	e.expectNone(q, 3*e.tick)
	e.deleteMsgs(q, c2)
}

func testDeadLetter(e *env) {
	const maxReceives = 2
	dlq := e.create("dlq", queue.Config{})
	q := e.create("main", queue.Config{DeadLetter: &queue.Redrive{Queue: dlq.Name(), MaxReceiveCount: maxReceives}})
	attrs := map[string]string{"job_id": "01JD0000000000000000000000", "attempt": "1"}
	ids := e.send(q, queue.Outgoing{Body: []byte(roundTripBody), Attributes: attrs})
	long := queue.ReceiveOptions{Visibility: 10 * time.Minute}
	for i := 1; i <= maxReceives; i++ {
		m := e.receiveOne(q, long)
		if m.ID != ids[0] || m.ReceiveCount != i {
			e.t.Fatalf("receive %d: %s with ReceiveCount %d, want %s with %d", i, m.ID, m.ReceiveCount, ids[0], i)
		}
		if err := q.ChangeVisibility(e.ctx(), m.Receipt, 0); err != nil {
			e.t.Fatalf("ChangeVisibility(0): %v", err)
		}
	}
	// The next receive moves it to the dead-letter queue instead.
	deadline := time.Now().Add(Timeout)
	for {
		if time.Now().After(deadline) {
			e.t.Fatalf("message not in the dead-letter queue after %s", Timeout)
		}
		if msgs := e.receive(q, queue.ReceiveOptions{}); len(msgs) > 0 {
			e.t.Fatalf("received %s from the source queue with ReceiveCount %d, want it dead-lettered after %d receives",
				msgs[0].ID, msgs[0].ReceiveCount, maxReceives)
		}
		msgs := e.receive(dlq, queue.ReceiveOptions{Wait: e.tick})
		if len(msgs) == 0 {
			continue
		}
		m := msgs[0]
		if string(m.Body) != roundTripBody || !maps.Equal(m.Attributes, attrs) {
			e.t.Errorf("dead letter: body %q, attributes %v; want %q, %v", m.Body, m.Attributes, roundTripBody, attrs)
		}
		e.deleteMsgs(dlq, m)
		break
	}
	e.expectNone(q, 0)
}

func testDelay(e *env) {
	e.timed("a delayed message stays hidden for its delay", func(attempt int, delay time.Duration) bool {
		q := e.create(fmt.Sprintf("q%d", attempt), queue.Config{})
		sent := time.Now()
		ids := e.send(q, queue.Outgoing{Body: []byte("later"), Delay: delay}, text("now"))
		m := e.receiveOne(q, queue.ReceiveOptions{Visibility: 10 * time.Minute})
		if m.ID != ids[1] {
			if time.Now().Before(sent.Add(delay)) {
				e.t.Fatalf("delayed message received %s before its delay ended", time.Until(sent.Add(delay)))
			}
			return false // too slow to tell
		}
		if !e.expectHidden(q, sent.Add(delay)) {
			return false
		}
		late := e.receiveOne(q, queue.ReceiveOptions{})
		if late.ID != ids[0] {
			e.t.Fatalf("received %s, want the delayed message %s", late.ID, ids[0])
		}
		if time.Now().Before(sent.Add(delay)) {
			e.t.Fatalf("delayed message received %s before its delay ended", time.Until(sent.Add(delay)))
		}
		e.deleteMsgs(q, m, late)
		return true
	})
}

func testSenderID(e *env) {
	if e.f.SenderID == "" {
		e.t.Skip("Features.SenderID not set")
	}
	q := e.create("q", queue.Config{})
	e.send(q, text("who sent this"))
	m := e.receiveOne(q, queue.ReceiveOptions{})
	if m.SenderID != e.f.SenderID {
		e.t.Errorf("SenderID = %q, want %q", m.SenderID, e.f.SenderID)
	}
	e.deleteMsgs(q, m)
}

func testIsolated(e *env) {
	a := e.create("a", queue.Config{})
	b := e.create("b", queue.Config{})
	ids := e.send(a, text("for a"))
	e.expectNone(b, 0)
	m := e.receiveOne(a, queue.ReceiveOptions{})
	if m.ID != ids[0] {
		e.t.Fatalf("received %s from a, want %s", m.ID, ids[0])
	}
	e.deleteMsgs(a, m)
}

func testMissing(e *env) {
	name := e.name("never-created")
	_, err := e.b.Open(e.ctx(), name)
	e.wantErr("Open of a missing queue", err, queue.ErrNotFound)
	err = e.b.Delete(e.ctx(), name)
	e.wantErr("Delete of a missing queue", err, queue.ErrNotFound)
}

func testCreateIdempotent(e *env) {
	cfg := queue.Config{VisibilityTimeout: e.round(time.Minute), Tags: map[string]string{"suite": "queuetest"}}
	q1 := e.create("q", cfg)
	q2 := e.create("q", cfg)
	q3, err := e.b.Open(e.ctx(), q1.Name())
	if err != nil {
		e.t.Fatalf("Open(%s): %v", q1.Name(), err)
	}
	if q2.Name() != q1.Name() || q3.Name() != q1.Name() {
		e.t.Fatalf("names %q, %q, %q; want all %q", q1.Name(), q2.Name(), q3.Name(), q1.Name())
	}
	ids := e.send(q1, text("one queue"))
	m := e.receiveOne(q2, queue.ReceiveOptions{})
	if m.ID != ids[0] {
		e.t.Fatalf("received %s through the second handle, want %s", m.ID, ids[0])
	}
	e.deleteMsgs(q3, m)
}

func testCreateInvalid(e *env) {
	// Should any of the refused creates below succeed after all.
	e.t.Cleanup(func() { e.deleteQueue(e.name("q")) })
	for _, name := range []string{"", "has space", "dot.ted", e.name(strings.Repeat("x", 80))} {
		_, err := e.b.Create(e.ctx(), name, queue.Config{})
		e.wantErr(fmt.Sprintf("Create(%q)", name), err, queue.ErrInvalid)
	}
	dlq := e.create("dlq", queue.Config{})
	_, err := e.b.Create(e.ctx(), e.name("q"), queue.Config{DeadLetter: &queue.Redrive{Queue: dlq.Name(), MaxReceiveCount: 0}})
	e.wantErr("Create with MaxReceiveCount 0", err, queue.ErrInvalid)
	_, err = e.b.Create(e.ctx(), e.name("q"), queue.Config{VisibilityTimeout: queue.MaxVisibility + time.Hour})
	e.wantErr("Create with a visibility timeout over 12h", err, queue.ErrInvalid)
	// Which error is the backend's business, but it must refuse.
	if _, err = e.b.Create(e.ctx(), e.name("q"), queue.Config{
		DeadLetter: &queue.Redrive{Queue: e.name("no-dlq"), MaxReceiveCount: 3},
	}); err == nil {
		e.t.Errorf("Create with a dead-letter queue that does not exist succeeded")
	}
}

func testDeleteQueue(e *env) {
	q := e.create("q", queue.Config{})
	e.send(q, text("going away"))
	if err := e.b.Delete(e.ctx(), q.Name()); err != nil {
		e.t.Fatalf("Delete(%s): %v", q.Name(), err)
	}
	// Backends may take a while to forget a queue (SQS: up to 60s).
	e.eventually("Open of a deleted queue fails with ErrNotFound", func() error {
		_, err := e.b.Open(e.ctx(), q.Name())
		return err
	}, queue.ErrNotFound)
	e.eventually("Send to a deleted queue fails with ErrNotFound", func() error {
		_, err := q.Send(e.ctx(), text("x"))
		return err
	}, queue.ErrNotFound)
	e.eventually("Receive from a deleted queue fails with ErrNotFound", func() error {
		_, err := q.Receive(e.ctx(), queue.ReceiveOptions{})
		return err
	}, queue.ErrNotFound)
	e.eventually("Delete of a deleted queue fails with ErrNotFound", func() error {
		return e.b.Delete(e.ctx(), q.Name())
	}, queue.ErrNotFound)
}

// eventually calls fn until it returns an error wrapping target, failing
// after Timeout.
func (e *env) eventually(what string, fn func() error, target error) {
	e.t.Helper()
	deadline := time.Now().Add(Timeout)
	backoff := 10 * time.Millisecond
	for {
		err := fn()
		if errors.Is(err, target) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: still %v after %s", what, err, Timeout)
		}
		// Waiting on nothing but the backend's own consistency: back off.
		select {
		case <-e.ctx().Done():
			e.t.Fatalf("%s: %v", what, e.ctx().Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

func testList(e *env) {
	for _, s := range []string{"list-c", "list-a", "listx", "list-b"} {
		e.create(s, queue.Config{})
	}
	prefix := e.name("list-")
	want := []string{prefix + "a", prefix + "b", prefix + "c"}
	e.listEventually(prefix, want)
	e.listEventually(prefix+"a", want[:1])
	e.listEventually(e.name("nothing-"), nil)
	if err := e.b.Delete(e.ctx(), want[1]); err != nil {
		e.t.Fatalf("Delete(%s): %v", want[1], err)
	}
	e.listEventually(prefix, []string{want[0], want[2]})
}

// listEventually waits until List(prefix) returns want (listings may lag).
func (e *env) listEventually(prefix string, want []string) {
	e.t.Helper()
	var got []string
	err := errors.New("not listed yet")
	e.eventually(fmt.Sprintf("List(%q) = %v", prefix, want), func() error {
		var lerr error
		got, lerr = e.b.List(e.ctx(), prefix)
		if lerr != nil {
			e.t.Fatalf("List(%q): %v", prefix, lerr)
		}
		if slices.Equal(got, want) {
			return nil
		}
		return fmt.Errorf("%w: got %v", err, got)
	}, nil)
}

func testConcurrentConsumers(e *env) {
	const consumers, messages = 4, 40
	q := e.create("q", queue.Config{})
	var sent []string
	for i := 0; i < messages; i += queue.MaxBatch {
		batch := make([]queue.Outgoing, queue.MaxBatch)
		for j := range batch {
			batch[j] = text(fmt.Sprintf("message %d", i+j))
		}
		sent = append(sent, e.send(q, batch...)...)
	}

	ctx, cancel := context.WithTimeout(e.ctx(), Timeout)
	defer cancel()
	var (
		mu    sync.Mutex
		seen  = map[string]int{}
		who   = map[string][]int{}
		wg    sync.WaitGroup
		errMu sync.Mutex
		errs  []error
	)
	fail := func(err error) {
		errMu.Lock()
		errs = append(errs, err)
		errMu.Unlock()
		cancel()
	}
	for c := range consumers {
		wg.Go(func() {
			for ctx.Err() == nil {
				// Invisible for longer than the test may take: a second
				// delivery can only be a double delivery.
				msgs, err := q.Receive(ctx, queue.ReceiveOptions{Max: 1 + c%3, Wait: e.poll, Visibility: 2 * Timeout})
				if err != nil {
					if ctx.Err() == nil {
						fail(fmt.Errorf("consumer %d: Receive: %w", c, err))
					}
					return
				}
				for _, m := range msgs {
					if err := q.Delete(e.ctx(), m.Receipt); err != nil { //nolint:contextcheck // the suite's own bounded context
						fail(fmt.Errorf("consumer %d: Delete(%s): %w", c, m.ID, err))
						return
					}
					mu.Lock()
					seen[m.ID]++
					who[m.ID] = append(who[m.ID], c)
					if len(seen) == messages {
						cancel()
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		e.t.Error(err)
	}
	for _, id := range sent {
		switch n := seen[id]; {
		case n == 0:
			e.t.Errorf("message %s never delivered", id)
		case n > 1 && !e.f.MayDuplicate:
			e.t.Errorf("message %s delivered %d times, to consumers %v, while invisible", id, n, who[id])
		}
		delete(seen, id)
	}
	for id := range seen {
		e.t.Errorf("received message %s that was not sent", id)
	}
}

// testStats checks a queue's counts in each state a message can be in,
// and the age of its oldest message where the backend reports it. SQS's
// counts are approximate and lag, so the suite asks again until they
// match, up to Timeout.
func testStats(e *env) {
	_, err := e.b.Stats(e.ctx(), e.name("missing"))
	e.wantErr("Stats of a missing queue", err, queue.ErrNotFound)

	q := e.create("q", queue.Config{})
	if s := e.waitStats(q.Name(), queue.Stats{}); s.AgeKnown {
		e.t.Fatalf("Stats of an empty queue: the oldest message is %s old, want no age", s.OldestAge)
	}
	sent := time.Now()
	e.send(q, text("a"), text("b"), queue.Outgoing{Body: []byte("later"), Delay: queue.MaxDelay})
	m := e.receiveOne(q, queue.ReceiveOptions{Visibility: 10 * time.Minute})
	s := e.waitStats(q.Name(), queue.Stats{Visible: 1, InFlight: 1, Delayed: 1})
	switch {
	case e.f.NoOldestAge && s.AgeKnown:
		e.t.Fatalf("Stats reports an oldest message %s old; the backend was said not to know it", s.OldestAge)
	case !e.f.NoOldestAge && !s.AgeKnown:
		e.t.Fatalf("Stats of a queue holding 3 messages reports no oldest message age")
	case s.AgeKnown && (s.OldestAge < 0 || s.OldestAge > time.Since(sent)+clockSkew):
		e.t.Fatalf("Stats: oldest message %s old, sent %s ago", s.OldestAge, time.Since(sent))
	}
	e.deleteMsgs(q, m)
	e.waitStats(q.Name(), queue.Stats{Visible: 1, Delayed: 1})
}

// waitStats asks for the named queue's stats until its counts are
// want's (the age is not compared), polling every tick up to Timeout,
// and returns them.
func (e *env) waitStats(name string, want queue.Stats) queue.Stats {
	e.t.Helper()
	deadline := time.Now().Add(Timeout)
	tick := time.NewTicker(e.tick)
	defer tick.Stop()
	for {
		s, err := e.b.Stats(e.ctx(), name)
		if err != nil {
			e.t.Fatalf("Stats(%s): %v", name, err)
		}
		if s.Visible == want.Visible && s.InFlight == want.InFlight && s.Delayed == want.Delayed {
			return s
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("Stats(%s) = %d visible, %d in flight, %d delayed after %s; want %d, %d, %d",
				name, s.Visible, s.InFlight, s.Delayed, Timeout, want.Visible, want.InFlight, want.Delayed)
		}
		select {
		case <-tick.C:
		case <-e.ctx().Done():
			e.t.Fatalf("Stats(%s): %v", name, e.ctx().Err())
		}
	}
}
