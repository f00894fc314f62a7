package awsbackend

import (
	"context"
	"fmt"
	"strings"

	"github.com/deployerhq/deployer/schemas"
)

// Identify turns the SenderId SQS recorded for a request into the
// caller's identity, through the configured principals: "AIDA…" (an IAM
// user) maps to the user's ARN; "AROA…:session" (an assumed role) maps to
// the role's ARN, with the session named in Source. A sender the
// configuration does not know is an error: the gatekeeper rejects the
// request as caller_unknown rather than guess.
func (o Options) Identify(_ context.Context, sender string) (schemas.Identity, error) {
	if sender == "" {
		return schemas.Identity{}, fmt.Errorf("SQS reported no SenderId")
	}
	id, session, _ := strings.Cut(sender, ":")
	arn, ok := o.Principals[id]
	if !ok {
		return schemas.Identity{}, fmt.Errorf("sender %s is not a configured principal (DEPLOYER_PRINCIPALS)", sender)
	}
	src := "sqs_sender_id"
	if session != "" {
		src += " (session " + session + ")"
	}
	return schemas.Identity{Principal: arn, Source: src}, nil
}
