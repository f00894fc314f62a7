package producer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/schemas"
)

// CancelAnswer is the gatekeeper's answer to a cancel request.
type CancelAnswer struct {
	// Accepted is set when the cancel was accepted: the job will end
	// cancelled unless it ends by itself first.
	Accepted bool
	// ReasonCode and Reason say why a cancel was rejected
	// ("caller_not_allowed", "unknown_job", "already_finished", ...), or
	// what happens next when it was accepted.
	ReasonCode string
	Reason     string
}

// CancelOptions tune Cancel.
type CancelOptions struct {
	// Reason is recorded with the cancel and shown with the job's end.
	Reason string
	// Caller describes where the request comes from (informational).
	Caller schemas.CallerMetadata
}

// Cancel asks the gatekeeper to cancel a job and waits for its answer. It
// creates a reply stream, enqueues a cancel request naming it, and reads
// the stream until the gatekeeper answers or ctx ends (ctx's error). Only
// the gatekeeper decides; the job itself ends, cancelled, when the worker
// tracking it has stopped its task (follow it to see).
func (c *Client) Cancel(ctx context.Context, jobID string, opts CancelOptions) (CancelAnswer, error) {
	ev, err := c.ask(ctx, "cancel request for job "+jobID, func(requestID, replyStream string) (queue.Outgoing, error) {
		req := schemas.CancelRequest{
			RequestID: requestID, JobID: jobID, Reason: opts.Reason, ReplyStream: replyStream,
			Caller: opts.Caller, SubmittedAt: c.now().UTC(),
		}
		if err := req.Validate(); err != nil {
			return queue.Outgoing{}, err
		}
		body, err := req.Encode()
		return queue.Outgoing{Body: body, Attributes: map[string]string{"job_id": jobID, "schema": schemas.CancelRequestV1}}, err
	}, func(t schemas.EventType) bool {
		return t == schemas.EventCancelAccepted || t == schemas.EventCancelRejected
	})
	if err != nil {
		return CancelAnswer{}, err
	}
	if ev.Type == schemas.EventCancelAccepted {
		return CancelAnswer{Accepted: true, Reason: ev.Reason}, nil
	}
	return CancelAnswer{ReasonCode: ev.ReasonCode, Reason: ev.Reason}, nil
}

// replyTTL is how long a request's reply stream is kept.
const replyTTL = time.Hour

// ask sends the gatekeeper a request that it answers on a reply stream of
// its own, and waits for the answer: it creates the stream under a fresh
// request id, enqueues what build makes of them, and reads the stream
// until an event of the request id whose type answer accepts comes, or ctx
// ends (ctx's error). The stream is deleted on return.
func (c *Client) ask(ctx context.Context, what string, build func(requestID, replyStream string) (queue.Outgoing, error),
	answer func(schemas.EventType) bool) (schemas.JobEvent, error) {
	requestID := NewJobID()
	addr, err := c.Streams.Create(ctx, requestID, replyTTL)
	if err != nil {
		return schemas.JobEvent{}, fmt.Errorf("creating reply stream of %s: %w", what, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = c.Streams.Delete(dctx, addr)
	}()
	msg, err := build(requestID, addr)
	if err != nil {
		return schemas.JobEvent{}, fmt.Errorf("building %s: %w", what, err)
	}
	sub, err := c.Streams.Subscribe(ctx, addr)
	if err != nil {
		return schemas.JobEvent{}, fmt.Errorf("reading reply stream of %s: %w", what, err)
	}
	defer func() { _ = sub.Close() }()
	if _, err := c.Requests.Send(ctx, msg); err != nil {
		return schemas.JobEvent{}, fmt.Errorf("enqueueing %s: %w", what, err)
	}
	for {
		evs, err := sub.Next(ctx, 20*time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return schemas.JobEvent{}, ctx.Err()
			}
			if errors.Is(err, stream.ErrNotFound) {
				return schemas.JobEvent{}, fmt.Errorf("waiting for the answer to %s: %w", what, ErrStreamGone)
			}
			if werr := sleepCtx(ctx, time.Second); werr != nil {
				return schemas.JobEvent{}, werr
			}
			continue
		}
		for _, ev := range evs {
			if ev.JobID == requestID && answer(ev.Type) {
				return ev, nil
			}
		}
	}
}
