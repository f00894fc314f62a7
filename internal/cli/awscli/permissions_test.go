package awscli

import (
	"testing"

	"github.com/deployerhq/deployer/internal/iamcheck"
)

func TestFindingsOfADeploymentWithoutTheModulesRoles(t *testing.T) {
	gone := func(p iamcheck.Principal) iamcheck.Finding {
		return iamcheck.Finding{Principal: p, Status: iamcheck.StatusMissing, Message: "role d-" + string(p) + " does not exist"}
	}
	denied := iamcheck.Finding{Principal: iamcheck.Gatekeeper, Status: iamcheck.StatusMissing, Action: "sqs:SendMessage",
		Resource: "arn:aws:sqs:us-east-1:1:d-runs-lane-*", Message: "lacks sqs:SendMessage"}

	// Served by deployer up: none of the three roles; said, not failed.
	all := findingsOf([]iamcheck.Finding{gone(iamcheck.Gatekeeper), gone(iamcheck.Worker), gone(iamcheck.Logshipper)}, "d-")
	for _, f := range all {
		if !f.Unchecked {
			t.Errorf("no module roles at all: %+v fails, want it said", f)
		}
	}
	// A module deployment that lost one role, or a right: failures.
	some := findingsOf([]iamcheck.Finding{gone(iamcheck.Worker), denied}, "d-")
	if len(some) != 2 || some[0].Unchecked || some[1].Unchecked || some[1].Fix == "" {
		t.Errorf("one role gone and a right denied: %+v, want two failures, the right's with a fix", some)
	}
}
