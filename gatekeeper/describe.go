package gatekeeper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/schemas"
)

// handleDescribe answers a describe request with what the verified caller
// may run under the current policy — the same answer "deployer describe"
// computes locally on the embedded backend, with the digest of the policy
// in force, so that callers on AWS need no
// copy of the policy and learn nothing about containers they may not run.
// It returns nil when the request is answered or dead-lettered, an error
// when it should be retried.
func (g *Gatekeeper) handleDescribe(ctx context.Context, msg queue.Message) error {
	req, err := schemas.DecodeDescribeRequest(msg.Body)
	if err != nil {
		return g.undecodableDescribe(ctx, msg, err)
	}
	log := g.logger().With("describe_request", req.RequestID)
	ev := schemas.JobEvent{
		Schema: schemas.JobEventV1, JobID: req.RequestID, ID: "gatekeeper:described:" + req.RequestID,
		Time: g.now().UTC(), Type: schemas.EventDescribed, Source: "gatekeeper", Attempt: 1,
	}
	caller, err := g.identify(ctx, msg.SenderID)
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return err
	case err != nil:
		ev.Type, ev.Outcome, ev.ReasonCode = schemas.EventRejected, schemas.OutcomeRejected, ReasonNoIdentity
		ev.Reason = fmt.Sprintf("caller identity could not be verified: %v", err)
	default:
		pol, digest := g.snapshot()
		d, ok := pol.(Describer)
		if !ok {
			return fmt.Errorf("answering describe request %s: the policy cannot describe itself", req.RequestID)
		}
		ev.Containers = d.Describe(caller)
		ev.Principal = caller.Principal
		ev.PolicyDigest = digest
		ev.Features = []string{schemas.FeatureCanary}
	}
	if err := g.Streams.Publish(ctx, req.ReplyStream, ev); err != nil &&
		!errors.Is(err, stream.ErrNotFound) && !errors.Is(err, stream.ErrInvalidAddress) {
		return fmt.Errorf("answering describe request %s: %w", req.RequestID, err)
	}
	log.Info("describe answered", "caller", caller.Principal, "containers", len(ev.Containers))
	return nil
}

// undecodableDescribe dead-letters a describe request that cannot be read,
// answering it first when it names a request id and a reply stream.
func (g *Gatekeeper) undecodableDescribe(ctx context.Context, msg queue.Message, cause error) error {
	code := ReasonMalformed
	if errors.Is(cause, schemas.ErrUnsupportedSchema) {
		code = ReasonUnsupportedSchema
	}
	var head struct {
		RequestID   string `json:"request_id"`
		ReplyStream string `json:"reply_stream"`
	}
	if json.Unmarshal(msg.Body, &head) == nil && schemas.ValidJobID(head.RequestID) && head.ReplyStream != "" {
		ev := schemas.JobEvent{
			Schema: schemas.JobEventV1, JobID: head.RequestID, ID: "gatekeeper:described:" + head.RequestID,
			Time: g.now().UTC(), Type: schemas.EventRejected, Source: "gatekeeper", Attempt: 1,
			Outcome: schemas.OutcomeRejected, ReasonCode: code, Reason: "describe request could not be read: " + cause.Error(),
		}
		if err := g.Streams.Publish(ctx, head.ReplyStream, ev); err != nil {
			g.logger().Warn("answering undecodable describe request", "request_id", head.RequestID, "err", err)
		}
	}
	return g.deadLetterRaw(ctx, msg, "", code, cause)
}
