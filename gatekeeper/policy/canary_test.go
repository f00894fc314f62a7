package policy

import (
	"errors"
	"testing"
	"time"

	"github.com/deployerhq/deployer/schemas"
)

func canary(container string) schemas.JobRequest {
	return schemas.JobRequest{
		Schema: schemas.JobRequestV1, JobID: testJobID, Container: container, Canary: true,
		Stream: "sqlite:jobs/" + testJobID, Attempt: 1,
	}
}

// A canary of a container is allowed to a caller who may run one of its
// scripts, and runs the container's task with the version probe: no
// script, arguments, environment or secrets, a short timeout, no retry,
// no dead letter, in the container's lane.
func TestResolveCanary(t *testing.T) {
	p := testPolicy(t)
	o, err := p.Resolve(canary("terraform-planner"), ciRole, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !o.Canary || o.Script != "" || len(o.Argv) > 0 || len(o.Environment) > 0 || len(o.Secrets) > 0 {
		t.Errorf("order %+v: want a canary with no script, argv, environment or secrets", o)
	}
	if o.Image == "" || o.ScriptsDir == "" || o.TaskCPU != 1024 || o.TaskMemory != 2048 || o.LaunchType != "FARGATE" {
		t.Errorf("order %+v: want the container's task", o)
	}
	if o.Timeout.D() != CanaryTimeout || o.Retry.MaxAttempts > 1 || o.DeadLetterOn == nil || len(o.DeadLetterOn) > 0 || o.Lane != "deploys" || o.LaneLimit != 2 {
		t.Errorf("order %+v: want %s, no retry, dead_letter_on [], lane deploys of 2", o, CanaryTimeout)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("the canary's order does not validate: %v", err)
	}
	// alice may run the planner's plan and shell, not its apply: enough.
	if _, err := p.Resolve(canary("terraform-planner"), alice, testNow); err != nil {
		t.Errorf("alice's canary: %v", err)
	}
}

func TestResolveCanaryTimeoutIsCappedByTheContainers(t *testing.T) {
	p, err := Parse([]byte(`
containers:
  quick:
    image: x:1
    timeout: 30s
    script_config: {s: {}}
`), "")
	if err != nil {
		t.Fatal(err)
	}
	o, err := p.Resolve(canary("quick"), alice, testNow)
	if err != nil || o.Timeout.D() != 30*time.Second {
		t.Fatalf("order timeout %s (%v), want 30s", o.Timeout, err)
	}
}

// A caller the container lets in but none of whose scripts is refused.
func TestResolveCanaryNeedsARunnableScript(t *testing.T) {
	p, err := Parse([]byte(`
containers:
  shared:
    image: x:1
    allowed_callers: ["user:*"]
    script_config:
      apply: {allowed_callers: [user:bob]}
`), "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Resolve(canary("shared"), schemas.Identity{Principal: "user:bob"}, testNow); err != nil {
		t.Errorf("bob's canary: %v", err)
	}
	var rej *Rejection
	if _, err := p.Resolve(canary("shared"), alice, testNow); !errors.As(err, &rej) || rej.Code != CodeCallerNotAllowed {
		t.Errorf("alice's canary: %v, want caller_not_allowed", err)
	}
}

func TestResolveCanaryRefused(t *testing.T) {
	p := testPolicy(t)
	for name, tt := range map[string]struct {
		req    schemas.JobRequest
		caller schemas.Identity
		code   string
	}{
		"unknown container":       {canary("nope"), ciRole, CodeUnknownContainer},
		"caller not allowed":      {canary("terraform-planner"), mallory, CodeCallerNotAllowed},
		"no caller may run it":    {canary("locked"), ciRole, CodeCallerNotAllowed},
		"no identity":             {canary("terraform-planner"), schemas.Identity{}, CodeCallerNotAllowed},
		"canary with a script":    {with(canary("terraform-planner"), func(r *schemas.JobRequest) { r.Script = "plan" }), ciRole, CodeMalformedRequest},
		"canary with an override": {with(canary("terraform-planner"), func(r *schemas.JobRequest) { r.TaskCPU = 4096 }), ciRole, CodeMalformedRequest},
	} {
		_, err := p.Resolve(tt.req, tt.caller, testNow)
		var rej *Rejection
		if !errors.As(err, &rej) || rej.Code != tt.code {
			t.Errorf("%s: %v, want a rejection %s", name, err, tt.code)
		}
	}
}
