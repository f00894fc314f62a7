package gatekeeper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/journal"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/schemas"
)

// Reason codes of rejected cancel requests (beside ReasonMalformed,
// ReasonUnsupportedSchema and ReasonNoIdentity).
const (
	// ReasonCancelNotAllowed: the caller neither asked for the job nor may
	// run its container and script under the current policy.
	ReasonCancelNotAllowed = policy.CodeCallerNotAllowed
	// ReasonUnknownJob: the journal has no accepted job of that id.
	ReasonUnknownJob = "unknown_job"
	// ReasonAlreadyFinished: the job has ended (its terminal event is
	// journaled).
	ReasonAlreadyFinished = "already_finished"
)

// Describer lists what a caller may run. *policy.Policy implements it;
// the gatekeeper authorizes cancel requests with it. A Policy that does
// not implement it lets only a job's own requester cancel it.
type Describer interface {
	Describe(caller schemas.Identity) []policy.ContainerInfo
}

// handleCancel decides the fate of one cancel request, as Handle does for
// job requests: nil when it is answered (accepted or rejected) or
// dead-lettered, an error when it should be retried.
//
// A caller may cancel a job when it is the job's own requester (the
// verified principal on the job's accepted event) or when the current
// policy lets it run the job's container and script. An accepted cancel
// is journaled as a cancel_requested event first (a worker checks for it
// before it starts any task, so a queued job never starts), then a cancel
// order goes to the cancel queue for the worker that tracks the job, then
// the caller is answered. The gatekeeper never ends the job itself: only
// the worker knows whether a task is running.
func (g *Gatekeeper) handleCancel(ctx context.Context, msg queue.Message) error {
	req, err := schemas.DecodeCancelRequest(msg.Body)
	if err != nil {
		return g.undecodableCancel(ctx, msg, err)
	}
	log := g.logger().With("job_id", req.JobID, "cancel_request", req.RequestID)
	caller, err := g.identify(ctx, msg.SenderID)
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		return g.answerCancel(ctx, req, ReasonNoIdentity, fmt.Sprintf("caller identity could not be verified: %v", err), log)
	}
	log = log.With("caller", caller.Principal)
	if g.Journal == nil {
		// Without a journal no job can be found, nor a cancel recorded.
		return g.answerCancel(ctx, req, ReasonUnknownJob, fmt.Sprintf("job %s cannot be looked up: this gatekeeper keeps no journal", req.JobID), log)
	}

	history, err := g.Journal.Read(ctx, req.JobID)
	if err != nil && !errors.Is(err, journal.ErrNotFound) {
		return fmt.Errorf("reading journal of job %s: %w", req.JobID, err)
	}
	var accepted *schemas.JobEvent
	for i := range history {
		if history[i].Type == schemas.EventAccepted {
			accepted = &history[i]
		}
	}
	if accepted == nil {
		// Unknown, or only ever rejected: say which without telling a
		// stranger more than that the job cannot be cancelled.
		if t, ok := lastTerminal(history); ok {
			return g.answerCancel(ctx, req, ReasonAlreadyFinished, fmt.Sprintf("job %s has already ended (%s)", req.JobID, t.Outcome), log)
		}
		return g.answerCancel(ctx, req, ReasonUnknownJob, fmt.Sprintf("no job %s has been accepted", req.JobID), log)
	}
	lane, allowed := g.mayCancel(caller, *accepted)
	if !allowed {
		return g.answerCancel(ctx, req, ReasonCancelNotAllowed, fmt.Sprintf(
			"caller %s may not cancel job %s: it did not submit it and may not run %s/%s",
			caller.Principal, req.JobID, accepted.Container, accepted.Script), log)
	}
	if t, ok := lastTerminal(history); ok {
		return g.answerCancel(ctx, req, ReasonAlreadyFinished, fmt.Sprintf("job %s has already ended (%s)", req.JobID, t.Outcome), log)
	}

	attempt := 1
	for _, ev := range history {
		attempt = max(attempt, ev.Attempt)
	}
	rec := schemas.JobEvent{
		Schema: schemas.JobEventV1, JobID: req.JobID, ID: "gatekeeper:cancel_requested:" + req.RequestID,
		Time: g.now().UTC(), Type: schemas.EventCancelRequested, Source: "gatekeeper", Attempt: attempt,
		Principal: caller.Principal, Reason: req.Reason,
	}
	if err := g.Journal.Append(ctx, req.JobID, rec); err != nil {
		return fmt.Errorf("journaling cancel request of job %s: %w", req.JobID, err)
	}
	order := schemas.CancelOrder{
		JobID: req.JobID, RequestID: req.RequestID, Lane: lane, Reason: req.Reason,
		Caller: caller, RequestedAt: rec.Time,
	}
	body, err := order.Encode()
	if err != nil {
		return fmt.Errorf("encoding cancel order of job %s: %w", req.JobID, err)
	}
	q, err := g.RunQueue(ctx, topology.CancelLane)
	if err != nil {
		return fmt.Errorf("opening the cancel queue: %w", err)
	}
	if _, err := q.Send(ctx, queue.Outgoing{
		Body:       body,
		Attributes: map[string]string{"job_id": req.JobID, "schema": schemas.CancelOrderV1},
	}); err != nil {
		return fmt.Errorf("sending cancel order of job %s: %w", req.JobID, err)
	}
	ev := g.cancelEvent(req, schemas.EventCancelAccepted)
	ev.Reason = fmt.Sprintf("cancel of job %s accepted; the worker tracking it will stop it", req.JobID)
	if err := g.reply(ctx, req, ev); err != nil {
		return err
	}
	log.Info("cancel accepted", "lane", lane, "reason", req.Reason)
	return nil
}

// mayCancel reports whether caller may cancel the job accepted says
// will run, and the job's lane.
func (g *Gatekeeper) mayCancel(caller schemas.Identity, accepted schemas.JobEvent) (lane string, ok bool) {
	lane = accepted.Lane
	ok = accepted.Principal != "" && caller.Principal == accepted.Principal
	d, isDescriber := g.Policy.(Describer)
	if !isDescriber || caller.Principal == "" {
		return lane, ok
	}
	for _, c := range d.Describe(caller) {
		if c.Name != accepted.Container {
			continue
		}
		if lane == "" {
			lane = c.Lane
		}
		for _, s := range c.Scripts {
			if s.Name == accepted.Script {
				ok = true
			}
		}
	}
	return lane, ok
}

func (g *Gatekeeper) answerCancel(ctx context.Context, req schemas.CancelRequest, code, why string, log *slog.Logger) error {
	ev := g.cancelEvent(req, schemas.EventCancelRejected)
	ev.Outcome, ev.ReasonCode, ev.Reason = schemas.OutcomeRejected, code, why
	if err := g.reply(ctx, req, ev); err != nil {
		return err
	}
	log.Info("cancel rejected", "reason_code", code, "reason", why)
	return nil
}

// reply answers on the request's reply stream. A stream that is gone is
// not an error: the caller stopped waiting.
func (g *Gatekeeper) reply(ctx context.Context, req schemas.CancelRequest, ev schemas.JobEvent) error {
	if err := g.Streams.Publish(ctx, req.ReplyStream, ev); err != nil &&
		!errors.Is(err, stream.ErrNotFound) && !errors.Is(err, stream.ErrInvalidAddress) {
		return fmt.Errorf("answering cancel request %s of job %s: %w", req.RequestID, req.JobID, err)
	}
	return nil
}

// cancelEvent is an answer on the request's reply stream. The stream
// belongs to the request id (stream adapters bind a stream to one id, so
// that nobody can publish into another job's stream), so the event does
// too; the reason names the job.
func (g *Gatekeeper) cancelEvent(req schemas.CancelRequest, t schemas.EventType) schemas.JobEvent {
	return schemas.JobEvent{
		Schema: schemas.JobEventV1, JobID: req.RequestID, ID: fmt.Sprintf("gatekeeper:%s:%s", t, req.RequestID),
		Time: g.now().UTC(), Type: t, Source: "gatekeeper", Attempt: 1,
	}
}

// undecodableCancel answers a cancel request that cannot be read, when it
// names a reply stream, and dead-letters it with its reason.
func (g *Gatekeeper) undecodableCancel(ctx context.Context, msg queue.Message, cause error) error {
	code := ReasonMalformed
	if errors.Is(cause, schemas.ErrUnsupportedSchema) {
		code = ReasonUnsupportedSchema
	}
	var head struct {
		RequestID   string `json:"request_id"`
		JobID       string `json:"job_id"`
		ReplyStream string `json:"reply_stream"`
	}
	// The answer goes to the reply stream of the request id: without a
	// valid one there is nobody to answer.
	if json.Unmarshal(msg.Body, &head) == nil && schemas.ValidJobID(head.JobID) && schemas.ValidJobID(head.RequestID) && head.ReplyStream != "" {
		req := schemas.CancelRequest{RequestID: head.RequestID, JobID: head.JobID, ReplyStream: head.ReplyStream}
		if err := g.answerCancel(ctx, req, code, "cancel request could not be read: "+cause.Error(), g.logger()); err != nil {
			g.logger().Warn("answering undecodable cancel request", "job_id", head.JobID, "err", err)
		}
	}
	if !schemas.ValidJobID(head.JobID) {
		head.JobID = ""
	}
	return g.deadLetterRaw(ctx, msg, head.JobID, code, cause)
}

// lastTerminal returns the last terminal event of a job's history.
func lastTerminal(history []schemas.JobEvent) (schemas.JobEvent, bool) {
	for i := len(history) - 1; i >= 0; i-- {
		if history[i].Type.Terminal() {
			return history[i], true
		}
	}
	return schemas.JobEvent{}, false
}
