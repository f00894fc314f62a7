package doctor

import (
	"context"
	"fmt"

	"github.com/deployerhq/deployer/internal/awsbackend"
	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/iamcheck"
)

// permissionsFor returns the permission checker of an opened backend:
// the static IAM policy check (internal/iamcheck) of an AWS deployment's
// roles and of the identity doctor runs as; none on the embedded
// backend, which has no IAM.
func permissionsFor(b backend.Backend) PermissionChecker {
	ab, ok := b.(*awsbackend.Backend)
	if !ok {
		return nil
	}
	return &iamPermissions{b: ab}
}

// iamPermissions checks an AWS deployment's IAM policies with iamcheck.
type iamPermissions struct{ b *awsbackend.Backend }

func (p *iamPermissions) Check(ctx context.Context) ([]Finding, error) {
	c, err := iamcheck.New(p.b.Config, iamcheck.Options{Deployment: iamcheck.Deployment{Options: p.b.Options}})
	if err != nil {
		return nil, err
	}
	found, err := c.Check(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Finding, 0, len(found))
	for _, f := range found {
		out = append(out, findingOf(f))
	}
	return out, nil
}

// findingOf is doctor's view of an iamcheck finding: a missing right
// fails, a right the check could not judge (or one only some commands
// need) is said and passes.
func findingOf(f iamcheck.Finding) Finding {
	subject := string(f.Principal)
	if f.Identity != "" {
		subject += " (" + f.Identity + ")"
	}
	out := Finding{Subject: subject, Message: f.Message, Unchecked: !f.Failed()}
	if f.Failed() && f.Action != "" {
		out.Fix = fmt.Sprintf("Grant %s %s on %s (%s); the Terraform module grants it: re-apply it, or see docs/aws.md#least-privilege.",
			subject, f.Action, f.Resource, f.Why)
	}
	return out
}
