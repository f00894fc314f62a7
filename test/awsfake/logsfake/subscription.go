package logsfake

import (
	"bytes"
	"compress/gzip"
	"container/heap"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/deployerhq/deployer/test/awsfake"
)

// Subscription filter limits and messages, as CloudWatch Logs documents
// them.
const (
	// MaxSubscriptionFilters is how many subscription filters a log group
	// may have.
	MaxSubscriptionFilters = 2
	// ControlMessage is the message of the CONTROL_MESSAGE CloudWatch
	// Logs sends a Lambda destination when its subscription is put.
	ControlMessage = "CWL CONTROL MESSAGE: Checking health of destination Lambda function."
	// lambdaRetries is how often Lambda retries an asynchronous
	// invocation that failed.
	lambdaRetries = 2
)

// Destination is what a subscription filter delivers to: a Lambda
// function's handler, given each event as Lambda hands it over (awslogs.data:
// base64 of gzip of the JSON document). An error fails the invocation;
// it is retried twice (Delivery.RetryDelay apart), as Lambda retries an
// asynchronous invocation, then dropped.
type Destination func(ctx context.Context, ev events.CloudwatchLogsEvent) error

// Delivery is how subscription filters deliver. The zero value delivers
// each batch once, in order, DefaultDeliveryDelay after its first event.
// The faults are what CloudWatch Logs and Lambda are allowed to do: a
// batch delivered twice, batches overtaking each other, a batch coming
// long after the later ones.
type Delivery struct {
	// Delay is how long a batch takes in more events of its log stream
	// before it is delivered. Defaults to DefaultDeliveryDelay.
	Delay time.Duration
	// MaxBatchEvents and MaxBatchBytes bound a batch (bytes: messages
	// plus EventOverhead each). Default 10,000 and 1 MiB.
	MaxBatchEvents, MaxBatchBytes int
	// Duplicate is the probability that a batch is delivered a second
	// time, up to ReorderBy after the first.
	Duplicate float64
	// Reorder is the probability that a batch is held back up to
	// ReorderBy, so that later batches may overtake it. ReorderBy
	// defaults to five Delays.
	Reorder   float64
	ReorderBy time.Duration
	// Late is the probability that a batch is held back LateBy (default
	// one second): after the task has ended, when tasks are short.
	Late   float64
	LateBy time.Duration
	// RetryDelay separates the retries of a failed delivery. Defaults to
	// Delay.
	RetryDelay time.Duration
	// Seed seeds the faults; 0 seeds from the clock.
	Seed uint64
}

// DefaultDeliveryDelay is Delivery.Delay's default.
const DefaultDeliveryDelay = 20 * time.Millisecond

func (d Delivery) withDefaults() Delivery {
	if d.Delay <= 0 {
		d.Delay = DefaultDeliveryDelay
	}
	if d.MaxBatchEvents <= 0 {
		d.MaxBatchEvents = MaxBatchEvents
	}
	if d.MaxBatchBytes <= 0 {
		d.MaxBatchBytes = MaxBatchBytes
	}
	if d.ReorderBy <= 0 {
		d.ReorderBy = 5 * d.Delay
	}
	if d.LateBy <= 0 {
		d.LateBy = time.Second
	}
	if d.RetryDelay <= 0 {
		d.RetryDelay = d.Delay
	}
	if d.Seed == 0 {
		d.Seed = uint64(time.Now().UnixNano()) //nolint:gosec // a seed, not a secret
	}
	return d
}

// DeliveryStats counts what the subscription filters did.
type DeliveryStats struct {
	// Control counts CONTROL_MESSAGEs, Batches DATA_MESSAGE invocations
	// that succeeded (duplicates included), Events the events they held.
	Control, Batches, Events int
	// Duplicated, Reordered and Late count the batches each fault hit;
	// Retries the failed invocations retried, Dropped the batches given
	// up after the retries.
	Duplicated, Reordered, Late, Retries, Dropped int
}

// subscription is one subscription filter of a log group.
type subscription struct {
	name, group, pattern, destination, role, distribution string
	created                                               int64
	match                                                 func(string) bool
}

// batch is one delivery: events of one log stream for one subscription
// (or a control message).
type batch struct {
	sub     *subscription
	stream  string
	events  []events.CloudwatchLogsLogEvent
	bytes   int
	open    bool // still taking events
	decided bool // faults rolled
	tries   int
	due     time.Time
	order   uint64
}

// batches is a heap of batches by due time, then order.
type batches []*batch

func (h batches) Len() int { return len(h) }
func (h batches) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].order < h[j].order
}
func (h batches) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *batches) Push(x any)   { *h = append(*h, x.(*batch)) }
func (h *batches) Pop() any {
	old := *h
	b := old[len(old)-1]
	*h = old[:len(old)-1]
	return b
}

// deliveries is the subscription machinery of a Fake. Its fields are
// guarded by Fake.mu.
type deliveries struct {
	opts     Delivery
	rng      *rand.Rand
	dests    map[string]Destination
	queue    batches
	open     map[string]*batch // by subscription and stream
	order    uint64
	inflight int
	stats    DeliveryStats
	wake     chan struct{}
	idle     chan struct{} // closed and replaced when nothing is pending
	started  bool
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// SetDelivery sets how subscription filters deliver from now on.
func (f *Fake) SetDelivery(d Delivery) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d = d.withDefaults()
	f.sub.opts = d
	f.sub.rng = rand.New(rand.NewPCG(d.Seed, d.Seed>>1|1)) //nolint:gosec // fault injection needs no cryptographic randomness
}

// SetDestination makes arn (a Lambda function's ARN) deliver to d; nil
// removes it.
func (f *Fake) SetDestination(arn string, d Destination) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d == nil {
		delete(f.sub.dests, arn)
		return
	}
	f.sub.dests[arn] = d
}

// DeliveryStats returns what the subscription filters did so far.
func (f *Fake) DeliveryStats() DeliveryStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sub.stats
}

// WaitDelivered waits until every event stored so far that a subscription
// filter matched has been delivered (held back, duplicated and retried
// deliveries included), or ctx ends.
func (f *Fake) WaitDelivered(ctx context.Context) error {
	for {
		f.mu.Lock()
		pending := len(f.sub.queue) + f.sub.inflight
		idle := f.sub.idle
		f.mu.Unlock()
		if pending == 0 {
			return nil
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops delivering (what is pending is dropped) and waits for the
// delivery goroutine. It is idempotent; Start calls it when the test
// ends.
func (f *Fake) Close() {
	f.mu.Lock()
	cancel := f.sub.cancel
	f.mu.Unlock()
	cancel()
	f.sub.wg.Wait()
}

// route queues a stored event for the group's subscription filters.
// f.mu is held.
func (f *Fake) route(g *group, s *stream, e stored) {
	for _, sub := range g.subs {
		if !sub.match(e.msg) {
			continue
		}
		d := &f.sub
		key := sub.name + "\x00" + s.name
		b := d.open[key]
		size := len(e.msg) + EventOverhead
		if b == nil || len(b.events) >= d.opts.MaxBatchEvents || b.bytes+size > d.opts.MaxBatchBytes {
			if b != nil {
				b.open = false
			}
			b = &batch{sub: sub, stream: s.name, open: true, due: time.Now().Add(d.opts.Delay)}
			d.open[key] = b
			f.push(b)
		}
		b.events = append(b.events, events.CloudwatchLogsLogEvent{ID: e.id(), Timestamp: e.ts, Message: e.msg})
		b.bytes += size
	}
}

// push queues b and wakes the delivery goroutine. f.mu is held.
func (f *Fake) push(b *batch) {
	d := &f.sub
	d.order++
	b.order = d.order
	heap.Push(&d.queue, b)
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// startDelivering starts the delivery goroutine once. f.mu is held.
func (f *Fake) startDelivering() {
	if f.sub.started || f.sub.ctx.Err() != nil {
		return
	}
	f.sub.started = true
	f.sub.wg.Add(1)
	go f.deliverLoop()
}

// deliverLoop delivers batches when they are due, one at a time, as a
// Lambda function with a reserved concurrency of one is invoked.
func (f *Fake) deliverLoop() {
	d := &f.sub
	defer d.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		f.mu.Lock()
		next, wait := f.nextDue(time.Now())
		f.mu.Unlock()
		if next != nil {
			f.deliver(next)
			continue
		}
		timer.Reset(wait)
		select {
		case <-d.ctx.Done():
			return
		case <-d.wake:
		case <-timer.C:
		}
	}
}

// nextDue pops the next batch due at now, after rolling its faults, or
// says how long until one may be. f.mu is held.
func (f *Fake) nextDue(now time.Time) (*batch, time.Duration) {
	d := &f.sub
	for len(d.queue) > 0 {
		b := d.queue[0]
		if now.Before(b.due) {
			return nil, b.due.Sub(now)
		}
		heap.Pop(&d.queue)
		if b.open {
			b.open = false
			if key := b.sub.name + "\x00" + b.stream; d.open[key] == b {
				delete(d.open, key)
			}
		}
		if !b.decided && b.sub != nil {
			b.decided = true
			o := d.opts
			switch {
			case o.Late > 0 && d.rng.Float64() < o.Late:
				d.stats.Late++
				b.due = now.Add(o.LateBy)
				f.push(b)
				continue
			case o.Reorder > 0 && d.rng.Float64() < o.Reorder:
				d.stats.Reordered++
				b.due = now.Add(time.Duration(1 + d.rng.Int64N(int64(o.ReorderBy))))
				f.push(b)
				continue
			}
			if o.Duplicate > 0 && d.rng.Float64() < o.Duplicate {
				d.stats.Duplicated++
				dup := *b
				dup.due = now.Add(time.Duration(1 + d.rng.Int64N(int64(o.ReorderBy))))
				f.push(&dup)
			}
		}
		d.inflight++
		return b, 0
	}
	return nil, time.Hour
}

// deliver invokes the batch's destination, outside the lock.
func (f *Fake) deliver(b *batch) {
	d := &f.sub
	f.mu.Lock()
	dest := d.dests[b.sub.destination]
	f.mu.Unlock()
	err := errNoDestination
	if dest != nil {
		err = dest(d.ctx, SubscriptionEvent(events.CloudwatchLogsData{
			Owner: Account, LogGroup: b.sub.group, LogStream: b.stream, SubscriptionFilters: []string{b.sub.name},
			MessageType: "DATA_MESSAGE", LogEvents: b.events,
		}))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	d.inflight--
	switch {
	case err == nil:
		d.stats.Batches++
		d.stats.Events += len(b.events)
	case d.ctx.Err() != nil:
	case b.tries < lambdaRetries && dest != nil:
		d.stats.Retries++
		b.tries++
		b.due = time.Now().Add(d.opts.RetryDelay)
		f.push(b)
	default:
		d.stats.Dropped++
	}
	if len(d.queue)+d.inflight == 0 {
		close(d.idle)
		d.idle = make(chan struct{})
	}
}

// errNoDestination fails the delivery of a subscription whose
// destination was removed.
var errNoDestination = errors.New("no such destination")

// SubscriptionEvent is data as Lambda receives it from a subscription
// filter: awslogs.data, base64 of gzip of the JSON document.
func SubscriptionEvent(data events.CloudwatchLogsData) events.CloudwatchLogsEvent {
	if data.SubscriptionFilters == nil {
		data.SubscriptionFilters = []string{}
	}
	raw, _ := json.Marshal(data) // strings and numbers only
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	_, _ = w.Write(raw) // writes to memory do not fail
	_ = w.Close()
	return events.CloudwatchLogsEvent{AWSLogs: events.CloudwatchLogsRawData{Data: base64.StdEncoding.EncodeToString(gz.Bytes())}}
}

// controlEvent is the CONTROL_MESSAGE of a new subscription.
func controlEvent(now time.Time) events.CloudwatchLogsEvent {
	return SubscriptionEvent(events.CloudwatchLogsData{
		Owner: "CloudwatchLogs", MessageType: "CONTROL_MESSAGE",
		LogEvents: []events.CloudwatchLogsLogEvent{{Timestamp: now.UnixMilli(), Message: ControlMessage}},
	})
}

// --- the API ---

type subscriptionOut struct {
	FilterName     string `json:"filterName"`
	LogGroupName   string `json:"logGroupName"`
	FilterPattern  string `json:"filterPattern"`
	DestinationArn string `json:"destinationArn"`
	RoleArn        string `json:"roleArn,omitempty"`
	Distribution   string `json:"distribution"`
	CreationTime   int64  `json:"creationTime"`
}

func (f *Fake) putSubscriptionFilter(body []byte) (any, error) {
	var in struct {
		LogGroupName   *string `json:"logGroupName"`
		FilterName     *string `json:"filterName"`
		FilterPattern  *string `json:"filterPattern"`
		DestinationArn *string `json:"destinationArn"`
		RoleArn        *string `json:"roleArn"`
		Distribution   *string `json:"distribution"`
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	for field, v := range map[string]*string{"logGroupName": in.LogGroupName, "filterName": in.FilterName, "filterPattern": in.FilterPattern, "destinationArn": in.DestinationArn} {
		if err := required(field, v); err != nil {
			return nil, err
		}
	}
	if !streamNameRE.MatchString(*in.FilterName) {
		return nil, invalid("1 validation error detected: Value '%s' at 'filterName' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*", *in.FilterName)
	}
	if len(*in.FilterPattern) > 1024 {
		return nil, invalid("1 validation error detected: Value at 'filterPattern' failed to satisfy constraint: Member must have length less than or equal to 1024")
	}
	match, err := filterOf(in.FilterPattern)
	if err != nil {
		return nil, err
	}
	dist := "ByLogStream"
	if in.Distribution != nil {
		if *in.Distribution != "ByLogStream" && *in.Distribution != "Random" {
			return nil, invalid("1 validation error detected: Value '%s' at 'distribution' failed to satisfy constraint: Member must satisfy enum value set: [Random, ByLogStream]", *in.Distribution)
		}
		dist = *in.Distribution
	}
	f.mu.Lock()
	g := f.groups[*in.LogGroupName]
	if g == nil {
		f.mu.Unlock()
		return nil, groupNotFound()
	}
	existing := -1
	for i, s := range g.subs {
		if s.name == *in.FilterName {
			existing = i
		}
	}
	if existing < 0 && len(g.subs) >= MaxSubscriptionFilters {
		f.mu.Unlock()
		return nil, awsfake.ClientError("LimitExceededException", "Resource limit exceeded.")
	}
	dest := f.sub.dests[*in.DestinationArn]
	f.mu.Unlock()
	// CloudWatch Logs checks the destination with a control message
	// before it puts the filter.
	if dest == nil || dest(f.sub.ctx, controlEvent(time.Now())) != nil {
		if strings.Contains(*in.DestinationArn, ":lambda:") {
			return nil, invalid("Could not execute the lambda function. Make sure you have given CloudWatch Logs permission to execute your function.")
		}
		return nil, invalid("Could not deliver test message to specified destination. Check if the destination is valid.")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sub.stats.Control++
	if f.groups[*in.LogGroupName] != g {
		return nil, groupNotFound() // deleted meanwhile
	}
	sub := &subscription{
		name: *in.FilterName, group: g.name, pattern: *in.FilterPattern, destination: *in.DestinationArn,
		distribution: dist, created: f.now(), match: match,
	}
	if in.RoleArn != nil {
		sub.role = *in.RoleArn
	}
	g.subs = slices.DeleteFunc(g.subs, func(s *subscription) bool { return s.name == sub.name })
	g.subs = append(g.subs, sub)
	f.startDelivering()
	return struct{}{}, nil
}

func (f *Fake) describeSubscriptionFilters(body []byte) (any, error) {
	var in struct {
		LogGroupName     *string `json:"logGroupName"`
		FilterNamePrefix *string `json:"filterNamePrefix"`
		Limit            *int32  `json:"limit"`
		NextToken        *string `json:"nextToken"`
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("logGroupName", in.LogGroupName); err != nil {
		return nil, err
	}
	limit, err := limitOf(in.Limit, 50, 50)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.groups[*in.LogGroupName]
	if g == nil {
		return nil, groupNotFound()
	}
	var subs []*subscription
	for _, s := range g.subs {
		if in.FilterNamePrefix == nil || strings.HasPrefix(s.name, *in.FilterNamePrefix) {
			subs = append(subs, s)
		}
	}
	sort.Slice(subs, func(i, j int) bool { return subs[i].name < subs[j].name })
	page, next, err := pageOf(subs, in.NextToken, limit)
	if err != nil {
		return nil, err
	}
	out := struct {
		SubscriptionFilters []subscriptionOut `json:"subscriptionFilters"`
		NextToken           *string           `json:"nextToken,omitempty"`
	}{SubscriptionFilters: []subscriptionOut{}, NextToken: next}
	for _, s := range page {
		out.SubscriptionFilters = append(out.SubscriptionFilters, subscriptionOut{
			FilterName: s.name, LogGroupName: s.group, FilterPattern: s.pattern, DestinationArn: s.destination,
			RoleArn: s.role, Distribution: s.distribution, CreationTime: s.created,
		})
	}
	return out, nil
}

func (f *Fake) deleteSubscriptionFilter(body []byte) (any, error) {
	var in struct {
		LogGroupName *string `json:"logGroupName"`
		FilterName   *string `json:"filterName"`
	}
	if err := awsfake.Decode(body, &in); err != nil {
		return nil, err
	}
	if err := required("logGroupName", in.LogGroupName); err != nil {
		return nil, err
	}
	if err := required("filterName", in.FilterName); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.groups[*in.LogGroupName]
	if g == nil {
		return nil, groupNotFound()
	}
	n := len(g.subs)
	g.subs = slices.DeleteFunc(g.subs, func(s *subscription) bool { return s.name == *in.FilterName })
	if len(g.subs) == n {
		return nil, notFound("The specified subscription filter does not exist.")
	}
	return struct{}{}, nil
}
