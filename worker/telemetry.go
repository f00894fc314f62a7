package worker

import (
	"context"
	"log/slog"
	"maps"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/tracing"
	"github.com/deployerhq/deployer/schemas"
)

// arrival is how a run order's message came, for its job's spans: the
// trace context it carries, when it was sent and how often received.
type arrival struct {
	parent   trace.SpanContext
	sent     time.Time
	receives int
}

// arrivalOf reads a received run order's arrival: its trace context is
// the message's traceparent attribute (the gatekeeper's decision), else
// the request's own traceparent, else SQS's AWSTraceHeader.
func arrivalOf(ctx context.Context, msg queue.Message, o schemas.RunOrder) arrival {
	parent := tracing.MessageParent(ctx, msg.Attributes, o.Request.TraceParent, msg.TraceHeader)
	return arrival{parent: parent, sent: msg.SentAt, receives: msg.ReceiveCount}
}

// orderLog is the worker's logger for an order's job: job_id, attempt
// and, when parent is valid, trace_id.
func (w *Worker) orderLog(o schemas.RunOrder, parent trace.SpanContext) *slog.Logger {
	attrs := []any{"job_id", o.JobID, "attempt", o.Attempt}
	if parent.IsValid() {
		attrs = append(attrs, tracing.LogTraceID, parent.TraceID().String())
	}
	return w.Logger.With(attrs...)
}

// jobAttrs are the attributes of a job's spans.
func jobAttrs(o schemas.RunOrder) trace.SpanStartEventOption {
	return trace.WithAttributes(
		attribute.String("deployer.job_id", o.JobID), attribute.Int("deployer.attempt", o.Attempt),
		attribute.String("deployer.lane", o.Lane), attribute.String("deployer.container", o.Container),
		attribute.String("deployer.script", o.Script))
}

// newJob makes the job of a run order taken now, with its spans: the
// order's wait in its queue (from its send to now), ended at once, and
// the job's run span, which lasts until the worker lets the job go; both
// children of the order's trace context only, never of one ctx holds. It
// runs under w.mu.
func (w *Worker) newJob(ctx context.Context, o schemas.RunOrder, q queue.Queue, receipt, holder string, stopStart context.CancelFunc, a arrival) *job {
	parent := tracing.WithParent(ctx, a.parent)
	now := time.Now()
	if !a.sent.IsZero() && a.sent.Before(now) {
		_, wait := w.Tracer.Start(parent, tracing.SpanQueueWait, jobAttrs(o), trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithTimestamp(a.sent), trace.WithAttributes(attribute.String("deployer.queue", q.Name()), attribute.Int("deployer.receive_count", a.receives)))
		wait.End(trace.WithTimestamp(now))
	}
	_, span := w.Tracer.Start(parent, tracing.SpanRun, jobAttrs(o), trace.WithTimestamp(now))
	return &job{
		order: o, lease: holder, q: q, deliveries: []delivery{{q: q, receipt: receipt}}, stopStart: stopStart,
		parent: a.parent, span: span, log: w.orderLog(o, a.parent),
	}
}

// spanContext is a context holding the job's run span, for its children.
func (j *job) spanContext(ctx context.Context) context.Context {
	return trace.ContextWithSpan(ctx, j.span)
}

// taskEnv is the task's environment: the order's, with the job's run
// span as TRACEPARENT (and TRACESTATE) when there is a trace — unless a
// secret of the order takes the name.
func (j *job) taskEnv(ctx context.Context) map[string]string {
	env := maps.Clone(j.order.Environment)
	for k, v := range tracing.SpanEnv(ctx, j.span.SpanContext()) {
		if _, secret := j.order.Secrets[k]; secret {
			continue
		}
		if env == nil {
			env = map[string]string{}
		}
		env[k] = v
	}
	return env
}

// endSpan ends the job's run span with its outcome ("" when the worker
// let the job go without one: handed back, or taken over elsewhere).
func (j *job) endSpan(outcome schemas.Outcome, reason string, exit *int) {
	if outcome == "" {
		j.span.SetAttributes(attribute.Bool("deployer.handed_back", true))
	} else {
		j.span.SetAttributes(attribute.String("deployer.outcome", string(outcome)))
		if exit != nil {
			j.span.SetAttributes(attribute.Int("deployer.exit_code", *exit))
		}
		if outcome != schemas.OutcomeSucceeded && outcome != schemas.OutcomeCancelled {
			j.span.SetStatus(codes.Error, reason)
		}
	}
	j.span.End()
}

// observe tells the observer that a job ended.
func (w *Worker) observe(o schemas.RunOrder, outcome schemas.Outcome, ran time.Duration) {
	if w.Observer != nil && !o.Canary {
		w.Observer.JobFinished(o.Lane, outcome, ran)
	}
}

// LaneLimits returns the lanes' limits as the run orders received so far
// name them (a run order carries its lane's limit), by lane.
func (w *Worker) LaneLimits() map[string]int {
	w.setup()
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.limits)
}

// JobOfLease reads a lane lease's holder: the job id and attempt whose
// task the lease counts, or ok false for a slot reserved before a
// receive (see Options.Visibility), which counts no task.
func JobOfLease(holder string) (jobID string, attempt int, ok bool) {
	return parseLeaseHolder(holder)
}

// logFor is the logger of the order's job: the tracked job's, else one
// with the trace context the order was parked with or its request
// carries.
func (w *Worker) logFor(ctx context.Context, o schemas.RunOrder) *slog.Logger {
	k := key(o.JobID, o.Attempt)
	w.mu.Lock()
	j, p := w.jobs[k], w.parked[k]
	w.mu.Unlock()
	switch {
	case j != nil:
		return j.log
	case p != nil:
		return w.orderLog(o, p.arrival.parent)
	}
	return w.orderLog(o, tracing.MessageParent(ctx, nil, o.Request.TraceParent, ""))
}

// jobLog is the logger of a job known by its id only (a cancel order's):
// that of its latest attempt this worker tracks, else one with its
// job_id.
func (w *Worker) jobLog(jobID string) *slog.Logger {
	w.mu.Lock()
	defer w.mu.Unlock()
	var found *job
	for _, j := range w.jobs {
		if j.order.JobID == jobID && (found == nil || j.order.Attempt > found.order.Attempt) {
			found = j
		}
	}
	if found != nil {
		return found.log
	}
	return w.Logger.With("job_id", jobID)
}
