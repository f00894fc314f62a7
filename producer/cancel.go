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

// cancelReplyTTL is how long a cancel request's reply stream is kept.
const cancelReplyTTL = time.Hour

// Cancel asks the gatekeeper to cancel a job and waits for its answer. It
// creates a reply stream, enqueues a cancel request naming it, and reads
// the stream until the gatekeeper answers or ctx ends (ctx's error). Only
// the gatekeeper decides; the job itself ends, cancelled, when the worker
// tracking it has stopped its task (follow it to see).
func (c *Client) Cancel(ctx context.Context, jobID string, opts CancelOptions) (CancelAnswer, error) {
	requestID := NewJobID()
	addr, err := c.Streams.Create(ctx, requestID, cancelReplyTTL)
	if err != nil {
		return CancelAnswer{}, fmt.Errorf("creating reply stream of cancel request for job %s: %w", jobID, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = c.Streams.Delete(dctx, addr)
	}()
	req := schemas.CancelRequest{
		RequestID: requestID, JobID: jobID, Reason: opts.Reason, ReplyStream: addr,
		Caller: opts.Caller, SubmittedAt: c.now().UTC(),
	}
	if err := req.Validate(); err != nil {
		return CancelAnswer{}, fmt.Errorf("building cancel request for job %s: %w", jobID, err)
	}
	body, err := req.Encode()
	if err != nil {
		return CancelAnswer{}, fmt.Errorf("encoding cancel request for job %s: %w", jobID, err)
	}
	sub, err := c.Streams.Subscribe(ctx, addr)
	if err != nil {
		return CancelAnswer{}, fmt.Errorf("reading reply stream of cancel request for job %s: %w", jobID, err)
	}
	defer func() { _ = sub.Close() }()
	if _, err := c.Requests.Send(ctx, queue.Outgoing{
		Body:       body,
		Attributes: map[string]string{"job_id": jobID, "schema": schemas.CancelRequestV1},
	}); err != nil {
		return CancelAnswer{}, fmt.Errorf("enqueueing cancel request for job %s: %w", jobID, err)
	}
	for {
		evs, err := sub.Next(ctx, 20*time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return CancelAnswer{}, ctx.Err()
			}
			if errors.Is(err, stream.ErrNotFound) {
				return CancelAnswer{}, fmt.Errorf("waiting for the answer to cancel job %s: %w", jobID, ErrStreamGone)
			}
			if werr := sleepCtx(ctx, time.Second); werr != nil {
				return CancelAnswer{}, werr
			}
			continue
		}
		for _, ev := range evs {
			if ev.JobID != requestID {
				continue
			}
			switch ev.Type {
			case schemas.EventCancelAccepted:
				return CancelAnswer{Accepted: true, Reason: ev.Reason}, nil
			case schemas.EventCancelRejected:
				return CancelAnswer{ReasonCode: ev.ReasonCode, Reason: ev.Reason}, nil
			}
		}
	}
}
