package awscli

import (
	"context"
	"fmt"

	"github.com/deployerhq/deployer/internal/awsbackend"
	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/cli/doctor"
	"github.com/deployerhq/deployer/internal/iamcheck"
)

// Permissions implements doctor.AWS: the static IAM policy check
// (internal/iamcheck) of an AWS deployment's roles and of the identity
// doctor runs as; none for any other backend.
func (AWS) Permissions(b backend.Backend) doctor.PermissionChecker {
	ab, ok := b.(*awsbackend.Backend)
	if !ok {
		return nil
	}
	return &iamPermissions{b: ab}
}

// iamPermissions checks an AWS deployment's IAM policies with iamcheck.
type iamPermissions struct{ b *awsbackend.Backend }

func (p *iamPermissions) Check(ctx context.Context) ([]doctor.Finding, error) {
	c, err := iamcheck.New(p.b.Config, iamcheck.Options{Deployment: iamcheck.Deployment{Options: p.b.Options}})
	if err != nil {
		return nil, err
	}
	found, err := c.Check(ctx)
	if err != nil {
		return nil, err
	}
	return findingsOf(found, p.b.Options.Prefix), nil
}

// findingsOf is doctor's view of what iamcheck found on the deployment
// of prefix.
func findingsOf(found []iamcheck.Finding, prefix string) []doctor.Finding {
	// A deployment served by "deployer up --backend aws" runs as up's
	// own identity: none of the module's roles exists. Then there are no
	// deployment roles to judge, which is said, not failed; one role of
	// three missing is a deployment that lost it.
	noRoles := 0
	for _, f := range found {
		if roleMissing(f) {
			noRoles++
		}
	}
	out := make([]doctor.Finding, 0, len(found))
	for _, f := range found {
		if noRoles == 3 && roleMissing(f) {
			out = append(out, doctor.Finding{Subject: string(f.Principal), Unchecked: true, Message: fmt.Sprintf(
				"no %s role: none of the Terraform module's roles (%sgatekeeper, %sworker, %slogshipper) exists, as when deployer up serves the deployment under its own identity",
				f.Principal, prefix, prefix, prefix)})
			continue
		}
		out = append(out, findingOf(f))
	}
	return out
}

// roleMissing reports whether f says a deployment principal's role does
// not exist (a missing finding about no action).
func roleMissing(f iamcheck.Finding) bool {
	return f.Principal != iamcheck.Caller && f.Failed() && f.Action == ""
}

// findingOf is doctor's view of an iamcheck finding: a missing right
// fails, a right the check could not judge (or one only some commands
// need) is said and passes.
func findingOf(f iamcheck.Finding) doctor.Finding {
	subject := string(f.Principal)
	if f.Identity != "" {
		subject += " (" + f.Identity + ")"
	}
	out := doctor.Finding{Subject: subject, Message: f.Message, Unchecked: !f.Failed()}
	if f.Failed() && f.Action != "" {
		out.Fix = fmt.Sprintf("Grant %s %s on %s (%s); the Terraform module grants it: re-apply it, or see docs/aws.md#least-privilege.",
			subject, f.Action, f.Resource, f.Why)
	}
	return out
}
