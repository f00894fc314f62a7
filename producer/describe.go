package producer

import (
	"context"
	"errors"
	"fmt"

	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/schemas"
)

// ErrDescribeRejected reports that the gatekeeper refused a describe
// request (the caller's identity could not be verified, say).
var ErrDescribeRejected = errors.New("describe request rejected")

// Describe asks the gatekeeper what the caller may run and waits for its
// answer: the containers and scripts the verified caller may run under the
// current policy, nothing about the others, and the principal it verified
// the caller as. It is how callers on AWS learn the allow-list without
// holding a copy of it.
func (c *Client) Describe(ctx context.Context, caller schemas.CallerMetadata) ([]schemas.ContainerInfo, string, error) {
	d, err := c.DescribePolicy(ctx, caller)
	return d.Containers, d.Principal, err
}

// Description is the gatekeeper's answer to a describe request.
type Description struct {
	// Containers are what the verified caller may run.
	Containers []schemas.ContainerInfo
	// Principal is who the gatekeeper verified the caller as.
	Principal string
	// PolicyDigest names the policy in force ("sha256:…"); empty from a
	// gatekeeper that predates it.
	PolicyDigest string
	// Features lists what the gatekeeper can do beyond running scripts
	// (schemas.FeatureCanary); empty from a gatekeeper that predates it.
	Features []string
}

// DescribePolicy is Describe, with the digest of the policy in force.
func (c *Client) DescribePolicy(ctx context.Context, caller schemas.CallerMetadata) (Description, error) {
	ev, err := c.ask(ctx, "describe request", func(requestID, replyStream string) (queue.Outgoing, error) {
		req := schemas.DescribeRequest{RequestID: requestID, ReplyStream: replyStream, Caller: caller, SubmittedAt: c.now().UTC()}
		if err := req.Validate(); err != nil {
			return queue.Outgoing{}, err
		}
		body, err := req.Encode()
		return queue.Outgoing{Body: body, Attributes: map[string]string{"schema": schemas.DescribeRequestV1}}, err
	}, func(t schemas.EventType) bool { return t == schemas.EventDescribed || t == schemas.EventRejected })
	if err != nil {
		return Description{}, err
	}
	if ev.Type == schemas.EventRejected {
		return Description{}, fmt.Errorf("%w: %s (%s)", ErrDescribeRejected, ev.Reason, ev.ReasonCode)
	}
	return Description{Containers: ev.Containers, Principal: ev.Principal, PolicyDigest: ev.PolicyDigest, Features: ev.Features}, nil
}
