package gatekeeper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/internal/tracing"
	"github.com/deployerhq/deployer/internal/writes"
	"github.com/deployerhq/deployer/schemas"
)

// Reason codes of requests the gatekeeper cannot even evaluate, or cannot
// forward.
const (
	// ReasonMalformed: the request cannot be read, breaks its own
	// contract, or names a stream that is not its own job's.
	ReasonMalformed         = "malformed_request"
	ReasonUnsupportedSchema = "unsupported_schema"
	ReasonNoIdentity        = "caller_unknown"
	// ReasonTooLarge: the run order the request resolves to is larger
	// than the run queue takes.
	ReasonTooLarge = "request_too_large"
)

// Policy resolves requests into run orders. *policy.Policy implements it;
// a rejection is returned as a *policy.Rejection.
//
// A Policy that also has Digest() string (*policy.Policy, *policy.Live)
// names itself: the digest goes on the accepted and rejected events of
// the jobs it decides and on describe answers. A Policy that has
// Current() *policy.Policy (*policy.Live) may be swapped while the
// gatekeeper serves: each request is decided under one snapshot of it.
type Policy interface {
	Resolve(req schemas.JobRequest, caller schemas.Identity, now time.Time) (schemas.RunOrder, error)
}

// snapshot returns the policy to decide one request under, and its digest
// ("" when the policy does not name itself).
func (g *Gatekeeper) snapshot() (Policy, string) {
	pol := g.Policy
	if l, ok := pol.(interface{ Current() *policy.Policy }); ok {
		if cur := l.Current(); cur != nil {
			pol = cur
		}
	}
	var digest string
	if d, ok := pol.(interface{ Digest() string }); ok {
		digest = d.Digest()
	}
	return pol, digest
}

// RunQueues opens the run queue of a lane, creating it when needed.
type RunQueues func(ctx context.Context, lane string) (queue.Queue, error)

// Gatekeeper validates requests and forwards run orders.
type Gatekeeper struct {
	Policy Policy
	// RunQueue returns the run queue of a lane.
	RunQueue RunQueues
	// DeadLetters is the request dead-letter queue.
	DeadLetters queue.Queue
	Streams     stream.Streams
	// StreamAddress returns the address of a job's own stream on this
	// backend (sqlitestream.Address, sqsstream.Address). Required: a
	// request naming any other stream is rejected as malformed, and every
	// answer goes to the job's own stream, never to one a request names.
	StreamAddress func(jobID string) string
	Journal       journal.Journal
	// Together makes the writes of one step one, where the backend can
	// (see package writes): an event journaled and published; a
	// request's acceptance, its accepted event, run order and queued
	// event. Optional.
	Together writes.Together
	// Identify turns a message's verified sender id into the caller's
	// identity. Defaults to using the sender id as the principal.
	Identify func(ctx context.Context, senderID string) (schemas.Identity, error)
	Logger   *slog.Logger
	Now      func() time.Time
	// Tracer starts each job request's decision span, parented by the
	// trace context the request carries (see package tracing); the run
	// order it forwards carries the decision's. Defaults to a no-op tracer,
	// which passes the request's context on unchanged.
	Tracer trace.Tracer
	// Observer is told of every decision, for metrics. Optional.
	Observer Observer
}

// Decisions the gatekeeper makes on a request, as Observer hears them.
const (
	// DecisionAccepted: the request's run order was forwarded (or, for a
	// canary, accepted).
	DecisionAccepted = "accepted"
	// DecisionRejected: the request was refused and answered, with a
	// reason code.
	DecisionRejected = "rejected"
	// DecisionDeadLettered: the request could not be read or answered and
	// went to the request dead-letter queue, with a reason code.
	DecisionDeadLettered = "dead_lettered"
)

// ReasonNone is the reason Observer hears with DecisionAccepted.
const ReasonNone = "none"

// Observer is told of each decision once it is recorded: the decision
// and its reason code (ReasonNone for an accepted request). A request
// retried after a transient failure is told of once, when it is decided.
// *metrics.Metrics and the Lambda's EMF counter implement it.
type Observer interface {
	Decided(decision, reason string)
}

// decided tells the observer and the decision span of ctx.
func (g *Gatekeeper) decided(ctx context.Context, decision, reason string) {
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("deployer.decision", decision), attribute.String("deployer.reason", reason))
	if g.Observer != nil {
		g.Observer.Decided(decision, reason)
	}
}

func (g *Gatekeeper) tracer() trace.Tracer {
	if g.Tracer != nil {
		return g.Tracer
	}
	return noop.Tracer{}
}

// Handle decides the fate of one request message. It returns nil when the
// message is done with and may be deleted: forwarded, rejected and
// answered, or dead-lettered. An error means a transient failure (a
// service unreachable or throttling, the context ending); the message
// should be retried. A failure no retry can mend (an event or run order
// refused as malformed or too large) ends the request instead: rejected
// on its job's own stream and journaled, or dead-lettered with its
// reason when even that cannot be recorded.
//
// The request queue carries job, cancel and describe requests; Handle
// dispatches on the message's schema name. Anything that is not a cancel
// or describe request is read as a job request, so an unknown kind of
// message is dead-lettered as one that cannot be read.
func (g *Gatekeeper) Handle(ctx context.Context, msg queue.Message) error {
	switch schemas.SchemaName(msg.Body) {
	case schemas.CancelRequestName:
		return g.handleCancel(ctx, msg)
	case schemas.DescribeRequestName:
		return g.handleDescribe(ctx, msg)
	case schemas.ScheduleRequestName:
		return g.handleSchedule(ctx, msg)
	}
	if g.StreamAddress == nil {
		return errors.New("handling request: the gatekeeper has no StreamAddress, so it cannot tell a job's own stream")
	}
	req, err := schemas.DecodeJobRequest(msg.Body)
	if err != nil {
		return g.undecodable(ctx, msg, err)
	}
	return g.handleJob(ctx, msg, req)
}

// handleJob decides the fate of a decoded job request, as Handle does,
// in a decision span whose parent is the trace context the request
// carries.
func (g *Gatekeeper) handleJob(ctx context.Context, msg queue.Message, req schemas.JobRequest) (err error) {
	ctx, span := g.tracer().Start(tracing.FromMessage(ctx, msg.Attributes, req.TraceParent, msg.TraceHeader), tracing.SpanDecision,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("deployer.job_id", req.JobID), attribute.Int("deployer.attempt", req.Attempt),
			attribute.String("deployer.container", req.Container), attribute.String("deployer.script", req.Script)))
	defer func() {
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	log := g.logger().With(append([]any{"job_id", req.JobID, "attempt", req.Attempt, "container", req.Container, "script", req.Script},
		tracing.LogAttrs(ctx)...)...)
	pol, digest := g.snapshot()
	d := decision{digest: digest, log: log}

	caller, err := g.identify(ctx, msg.SenderID)
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		// Someone we cannot identify may only end a job nobody else has
		// used: never a stream another caller is following.
		owner, herr := g.owner(ctx, req.JobID)
		if herr != nil {
			return herr
		}
		if owner != "" {
			return g.deadLetterRaw(ctx, msg, req.JobID, ReasonJobIDTaken, fmt.Errorf("job id %s is another caller's; the sender could not be identified: %w", req.JobID, err))
		}
		rej := &policy.Rejection{Code: ReasonNoIdentity, Message: fmt.Sprintf("caller identity could not be verified: %v", err)}
		return g.end(ctx, msg, outOfBatch(req), rej, "", d)
	}
	// A job id belongs to whoever used it first: a request reusing another
	// caller's job id could otherwise end that caller's follower with a
	// rejection, or have its task adopted as theirs.
	owner, err := g.owner(ctx, req.JobID)
	if err != nil {
		return err
	}
	if owner != "" && owner != caller.Principal {
		log.Warn("request reuses another caller's job id", "caller", caller.Principal, "owner", owner)
		return g.deadLetterRaw(ctx, msg, req.JobID, ReasonJobIDTaken, fmt.Errorf("job id %s was already used by another caller", req.JobID))
	}
	log = log.With("caller", caller.Principal)
	d.log = log
	// A batch, too, belongs to whoever first put a job in it: a job of
	// someone else's batch could otherwise end it (fail_fast) or pose as
	// its part. Such a job is rejected outside the batch.
	if req.BatchID != "" {
		owner, err := g.owner(ctx, req.BatchID)
		if err != nil {
			return err
		}
		if owner != "" && owner != caller.Principal {
			log.Warn("request joins another caller's batch", "batch_id", req.BatchID, "caller", caller.Principal, "owner", owner)
			return g.end(ctx, msg, outOfBatch(req), &policy.Rejection{Code: ReasonBatchIDTaken, Message: fmt.Sprintf(
				"batch %s belongs to another caller: a job may only join its own caller's batch", req.BatchID)}, caller.Principal, d)
		}
	}
	if own := g.StreamAddress(req.JobID); req.Stream != own {
		return g.end(ctx, msg, req, &policy.Rejection{Code: ReasonMalformed, Message: fmt.Sprintf(
			"the request names stream %q, but job %s's stream is %q: a request may only name its own job's stream",
			req.Stream, req.JobID, own)}, caller.Principal, d)
	}
	order, err := pol.Resolve(req, caller, g.now())
	if err != nil {
		var rej *policy.Rejection
		if errors.As(err, &rej) {
			return g.end(ctx, msg, req, rej, caller.Principal, d)
		}
		return fmt.Errorf("resolving request of job %s: %w", req.JobID, err)
	}
	return g.accept(ctx, msg, order, d)
}

// decision is what a request's answers share: the digest of the policy
// it is decided under (see Policy) and its logger.
type decision struct {
	digest string
	log    *slog.Logger
}

// accept forwards a resolved request to its lane's run queue, telling its
// stream. A run order the queue cannot take (measured as the queue
// adapters measure it, before anything is published, or refused by the
// queue for good) rejects the request.
func (g *Gatekeeper) accept(ctx context.Context, msg queue.Message, order schemas.RunOrder, d decision) error {
	out, rej, err := runOrderMessage(ctx, order)
	if err != nil {
		return err
	}
	if rej != nil {
		return g.end(ctx, msg, order.Request, rej, order.Caller.Principal, d)
	}
	// The accepted event, the run order and the queued event are one
	// write where the backend can: a worker finds the order with its
	// job's events before it, and a retry after a failure finds none.
	var forwarded bool
	err = g.Together.Do(ctx, func(ctx context.Context) error {
		var err error
		forwarded, err = g.forwardAccepted(ctx, msg, order, out, d)
		return err
	})
	if err != nil || !forwarded {
		return err
	}
	g.decided(ctx, DecisionAccepted, ReasonNone)
	d.log.Info("request accepted", "lane", order.Lane, "argv", order.Argv, "policy_digest", d.digest)
	return nil
}

// forwardAccepted publishes the accepted event of order, forwards its
// run order's message out, and publishes the queued event (see accept).
// It reports whether the order was forwarded, rather than the request
// ended.
func (g *Gatekeeper) forwardAccepted(ctx context.Context, msg queue.Message, order schemas.RunOrder, out queue.Outgoing, d decision) (bool, error) {
	principal := order.Caller.Principal
	accepted := g.event(order.Request, schemas.EventAccepted)
	accepted.PolicyDigest = d.digest
	accepted.Container, accepted.Script, accepted.Argv = order.Container, order.Script, order.Argv
	accepted.Lane, accepted.LaneLimit, accepted.Principal = order.Lane, order.LaneLimit, principal
	accepted.Batch = order.Request.Batch
	accepted.Canary = order.Canary
	if err := g.publish(ctx, order.Request, accepted); err != nil {
		if !permanent(err) {
			return false, err
		}
		return false, g.end(ctx, msg, order.Request, &policy.Rejection{Code: ReasonMalformed, Message: fmt.Sprintf(
			"the request was accepted, but its accepted event could not be recorded: %v", err)}, principal, d)
	}
	if order.Canary {
		return false, g.forwardCanary(ctx, order, out, d)
	}
	if err := g.forward(ctx, order.Lane, order.JobID, out); err != nil {
		if !permanent(err) {
			return false, err
		}
		return false, g.end(ctx, msg, order.Request, refusedOrder(out, err), principal, d)
	}
	queued := g.event(order.Request, schemas.EventQueued)
	queued.Reason = "waiting for a worker in lane " + order.Lane
	if err := g.publish(ctx, order.Request, queued); err != nil {
		// The order is on its way; the worker's events will follow.
		d.log.Warn("publishing queued event", "err", err)
	}
	return true, nil
}

// forward sends a run order's message to the run queue of lane.
func (g *Gatekeeper) forward(ctx context.Context, lane, jobID string, out queue.Outgoing) error {
	q, err := g.RunQueue(ctx, lane)
	if err != nil {
		return fmt.Errorf("opening run queue of lane %s: %w", lane, err)
	}
	if _, err = q.Send(ctx, out); err != nil {
		return fmt.Errorf("forwarding run order of job %s to run queue %s: %w", jobID, q.Name(), err)
	}
	return nil
}

// ReasonNotForwarded is the reason code of a canary the gatekeeper
// accepted but could not forward to a run queue: it ends, could not
// start, at once.
const ReasonNotForwarded = "not_forwarded"

// forwardCanary forwards a canary's order twice: to the run queue of its
// container's lane, which proves that the gatekeeper may forward there,
// and to the cancel queue, which every worker receives from whatever room
// its lanes have, so that a full lane (hours-long applies) never keeps
// the canary waiting. Whichever copy a worker receives first runs the
// canary (a task starts once per job and attempt) and the other is
// dropped; neither takes a lane slot. A canary that cannot be forwarded
// ends at once, could not start with ReasonNotForwarded and the error,
// instead of being retried or dead-lettered: it exists to say what is
// broken, now.
func (g *Gatekeeper) forwardCanary(ctx context.Context, order schemas.RunOrder, out queue.Outgoing, d decision) error {
	err := g.forward(ctx, order.Lane, order.JobID, out)
	if err == nil {
		if err = g.forward(ctx, topology.CancelLane, order.JobID, out); err != nil {
			err = fmt.Errorf("the copy for workers whose lane is full: %w", err)
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if err != nil {
		ev := g.event(order.Request, schemas.EventFailed)
		ev.Outcome, ev.ReasonCode = schemas.OutcomeCouldNotStart, ReasonNotForwarded
		ev.Reason = fmt.Sprintf("the gatekeeper accepted the canary but could not forward it: %v", err)
		if perr := g.publish(ctx, order.Request, ev); perr != nil && !permanent(perr) {
			return perr
		}
		g.decided(ctx, DecisionAccepted, ReasonNone)
		d.log.Warn("canary not forwarded", "lane", order.Lane, "err", err)
		return nil
	}
	queued := g.event(order.Request, schemas.EventQueued)
	queued.Reason = "canary: waiting for any worker (it takes no slot of lane " + order.Lane + ")"
	if err := g.publish(ctx, order.Request, queued); err != nil {
		d.log.Warn("publishing queued event", "err", err)
	}
	g.decided(ctx, DecisionAccepted, ReasonNone)
	d.log.Info("canary accepted", "lane", order.Lane, "policy_digest", d.digest)
	return nil
}

// end rejects a request of principal (empty when unknown) for good. When
// the rejection cannot be recorded for a reason no retry mends, the
// request is dead-lettered with the rejection's reason instead. Only a
// transient failure returns an error.
func (g *Gatekeeper) end(ctx context.Context, msg queue.Message, req schemas.JobRequest, rej *policy.Rejection, principal string, d decision) error {
	log := d.log
	err := g.rejectAs(ctx, req, rej, principal, d)
	if err == nil || !permanent(err) {
		return err
	}
	log.Warn("rejection could not be recorded; dead-lettering the request", "reason_code", rej.Code, "err", err)
	return g.deadLetterRaw(ctx, msg, req.JobID, rej.Code, fmt.Errorf("%s (the rejection could not be recorded: %w)", rej.Message, err))
}

// rejectAs rejects a request of principal (empty when unknown), recording
// it as the job's requester.
func (g *Gatekeeper) rejectAs(ctx context.Context, req schemas.JobRequest, rej *policy.Rejection, principal string, d decision) error {
	log := d.log
	ev := g.event(req, schemas.EventRejected)
	ev.PolicyDigest = d.digest
	ev.Container, ev.Script, ev.Principal = req.Container, req.Script, principal
	ev.Batch, ev.Canary = req.Batch, req.Canary
	ev.Outcome = schemas.OutcomeRejected
	ev.Reason = rej.Message
	ev.ReasonCode = rej.Code
	if err := g.publish(ctx, req, ev); err != nil {
		return err
	}
	g.decided(ctx, DecisionRejected, rej.Code)
	log.Info("request rejected", "reason_code", rej.Code, "reason", rej.Message, "policy_digest", d.digest)
	return nil
}

// undecodable dead-letters a message that is not a valid request, and
// tells its job's stream when the message names one, so that the caller
// does not wait for nothing.
func (g *Gatekeeper) undecodable(ctx context.Context, msg queue.Message, cause error) error {
	code := ReasonMalformed
	if errors.Is(cause, schemas.ErrUnsupportedSchema) {
		code = ReasonUnsupportedSchema
	}
	log := g.logger().With("message_id", msg.ID, "reason_code", code)
	var head struct {
		JobID   string `json:"job_id"`
		Stream  string `json:"stream"`
		Attempt int    `json:"attempt"`
	}
	// Answer only for a job id nobody has used yet: an unreadable message
	// must not end the follower of someone else's job. The answer goes to
	// the job's own stream, whatever stream the message names.
	fresh := false
	if json.Unmarshal(msg.Body, &head) == nil && schemas.ValidJobID(head.JobID) && head.Stream != "" {
		owner, err := g.owner(ctx, head.JobID)
		if err != nil {
			return err
		}
		fresh = owner == ""
	}
	if fresh {
		req := schemas.JobRequest{JobID: head.JobID, Attempt: max(head.Attempt, 1)}
		ev := g.event(req, schemas.EventRejected)
		ev.Outcome, ev.Reason, ev.ReasonCode = schemas.OutcomeRejected, "request could not be read: "+cause.Error(), code
		if err := g.publish(ctx, req, ev); err != nil {
			// Not retried: a retry would find the job id used and not
			// answer. The dead letter below keeps the request and why.
			log.Warn("answering undecodable request", "job_id", head.JobID, "err", err)
		}
	}
	if !schemas.ValidJobID(head.JobID) {
		head.JobID = ""
	}
	return g.deadLetterRaw(ctx, msg, head.JobID, code, cause)
}

// ReasonJobIDTaken is the reason code of a request that names a job id
// another caller already used; ReasonBatchIDTaken of one that names
// another caller's batch.
const (
	ReasonJobIDTaken   = "job_id_taken"
	ReasonBatchIDTaken = "batch_id_taken"
)

// owner returns who first used jobID, from the job's journal: the
// principal of its accepted or rejected event, "?" when the journal has
// events but none names one, "" when the job id is new. With no journal
// every job id is new.
func (g *Gatekeeper) owner(ctx context.Context, jobID string) (string, error) {
	if g.Journal == nil {
		return "", nil
	}
	history, err := g.Journal.Read(ctx, jobID)
	if errors.Is(err, journal.ErrNotFound) || (err == nil && len(history) == 0) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading journal of job %s: %w", jobID, err)
	}
	for _, ev := range history {
		if (ev.Type == schemas.EventAccepted || ev.Type == schemas.EventRejected) && ev.Principal != "" {
			return ev.Principal, nil
		}
	}
	return "?", nil
}

// deadLetterRaw sends an unreadable message to the request dead-letter
// queue with the reason it could not be read.
func (g *Gatekeeper) deadLetterRaw(ctx context.Context, msg queue.Message, jobID, code string, cause error) error {
	log := g.logger().With("message_id", msg.ID, "reason_code", code)
	raw := msg.Body
	if len(raw) > maxRawBytes {
		raw = raw[:maxRawBytes]
	}
	dl := schemas.DeadLetter{
		JobID: jobID,
		Raw:   string(raw),
		Failure: schemas.Failure{
			Outcome:    schemas.OutcomeRejected,
			Reason:     cause.Error(),
			ReasonCode: code,
			Attempts:   msg.ReceiveCount,
			Time:       g.now().UTC(),
		},
	}
	body, err := dl.Encode()
	if err != nil {
		return fmt.Errorf("encoding dead letter: %w", err)
	}
	if _, err := g.DeadLetters.Send(ctx, queue.Outgoing{
		Body:       body,
		Attributes: map[string]string{"schema": schemas.DeadLetterV1, "reason_code": code},
	}); err != nil {
		return fmt.Errorf("dead-lettering undecodable request %s: %w", msg.ID, err)
	}
	g.decided(ctx, DecisionDeadLettered, code)
	log.Warn("undecodable request dead-lettered", "err", cause)
	return nil
}

// publish records an event in the job's journal, then sends it to the
// job's own stream (never to one a request names): a follower that sees
// it, and exits, finds it in the journal. A stream that is gone is not
// an error: its caller stopped waiting, and the journal records what
// happened. An event the journal refuses for good still goes to the
// stream, so that the caller learns what happened; the failures are
// returned. Doing it all again is harmless: the journal and followers
// drop an event id they already hold.
func (g *Gatekeeper) publish(ctx context.Context, req schemas.JobRequest, ev schemas.JobEvent) error {
	// A permanent failure of either write is returned once the other
	// is made; a transient one undoes both, to be retried.
	var refused error
	err := g.Together.Do(ctx, func(ctx context.Context) error {
		if g.Journal != nil {
			if err := journal.Record(ctx, g.Journal, req.JobID, req.BatchID, ev); err != nil {
				err = fmt.Errorf("journaling %s event of job %s: %w", ev.Type, req.JobID, err)
				if !permanent(err) {
					return err
				}
				refused = err
			}
		}
		if err := g.Streams.Publish(ctx, g.StreamAddress(req.JobID), ev); err != nil &&
			!errors.Is(err, stream.ErrNotFound) && !errors.Is(err, stream.ErrInvalidAddress) {
			err = fmt.Errorf("publishing %s event of job %s: %w", ev.Type, req.JobID, err)
			if !permanent(err) {
				return err
			}
			refused = errors.Join(refused, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return refused
}

func (g *Gatekeeper) event(req schemas.JobRequest, t schemas.EventType) schemas.JobEvent {
	return schemas.JobEvent{
		Schema:  schemas.JobEventV1,
		JobID:   req.JobID,
		ID:      fmt.Sprintf("gatekeeper:%d:%s", max(req.Attempt, 1), t),
		Time:    g.now().UTC(),
		Type:    t,
		Source:  "gatekeeper",
		Attempt: max(req.Attempt, 1),
		BatchID: req.BatchID,
	}
}

// outOfBatch returns req without its batch, to be rejected without a word
// in a batch it may not join.
func outOfBatch(req schemas.JobRequest) schemas.JobRequest {
	req.BatchID, req.Batch = "", nil
	return req
}

func (g *Gatekeeper) identify(ctx context.Context, senderID string) (schemas.Identity, error) {
	if g.Identify != nil {
		return g.Identify(ctx, senderID)
	}
	if senderID == "" {
		return schemas.Identity{}, errors.New("the queue reported no sender")
	}
	return schemas.Identity{Principal: senderID, Source: "queue_sender"}, nil
}

func (g *Gatekeeper) logger() *slog.Logger {
	if g.Logger != nil {
		return g.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (g *Gatekeeper) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// maxRawBytes bounds how much of an undecodable message a dead letter
// keeps, so that the dead letter itself fits a message even after JSON
// escaping.
const maxRawBytes = 32 * 1024
