package gatekeeper

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/internal/tracing"
	"github.com/deployerhq/deployer/schemas"
)

// refusals are the port errors that say a message, event or address is
// refused as it is: sending it again gets the same answer.
var refusals = []error{
	schemas.ErrMalformed, schemas.ErrTooLarge, schemas.ErrUnsupportedSchema,
	stream.ErrInvalidAddress, queue.ErrTooLarge, queue.ErrInvalid,
}

// permanent reports whether err is a failure no retry mends: one of the
// refusals, and nothing transient beside it. Anything else — a service
// unreachable, throttling or failing with a 5xx, the context ending, an
// error no adapter has classified — is transient: the request is tried
// again, and the request queue's redrive policy dead-letters it if it
// keeps failing.
func permanent(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, queue.ErrThrottled) || errors.Is(err, stream.ErrThrottled) {
		return false
	}
	for _, target := range refusals {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// runOrderMessage encodes order as the message that carries it to the run
// queue and checks it as the queue adapters will, body and attributes
// counted. A message the queue would refuse is returned with the
// rejection of its request.
func runOrderMessage(ctx context.Context, order schemas.RunOrder) (queue.Outgoing, *policy.Rejection, error) {
	body, err := order.Encode()
	if err != nil {
		return queue.Outgoing{}, nil, fmt.Errorf("encoding run order of job %s: %w", order.JobID, err)
	}
	out := queue.Outgoing{
		Body:       body,
		Attributes: map[string]string{"job_id": order.JobID, "schema": schemas.RunOrderV1},
	}
	tracing.Inject(ctx, out.Attributes) // the decision's trace context, for the worker
	if _, err := queue.CheckMessage(out); err != nil {
		if errors.Is(err, queue.ErrTooLarge) {
			return out, &policy.Rejection{Code: ReasonTooLarge, Message: fmt.Sprintf(
				"the run order would be %s bytes; the run queue takes at most %s bytes: shorten the arguments",
				grouped(queue.Size(out)), grouped(queue.MaxBodySize))}, nil
		}
		return out, refusedOrder(out, err), nil
	}
	return out, nil, nil
}

// refusedOrder is the rejection of a request whose run order the run
// queue refused for good.
func refusedOrder(out queue.Outgoing, err error) *policy.Rejection {
	if errors.Is(err, queue.ErrTooLarge) || errors.Is(err, schemas.ErrTooLarge) {
		return &policy.Rejection{Code: ReasonTooLarge, Message: fmt.Sprintf(
			"the run queue refused the run order of %s bytes as too large (%v): shorten the arguments",
			grouped(queue.Size(out)), err)}
	}
	return &policy.Rejection{Code: ReasonMalformed, Message: fmt.Sprintf("the run queue refused the run order: %v", err)}
}

// grouped formats n with thousands separators: 262144 as "262,144".
func grouped(n int) string {
	s := strconv.Itoa(n)
	sign := ""
	if n < 0 {
		sign, s = "-", s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return sign + s
}
