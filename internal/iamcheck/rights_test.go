package iamcheck

import (
	"slices"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/internal/awsbackend"
)

func find(rights []Right, p Principal, action, resource string) *Right {
	for i, r := range rights {
		if r.Principal == p && r.Action == action && r.Resource == resource {
			return &rights[i]
		}
	}
	return nil
}

// The rights are on the resources the components open: names from
// awsbackend's options (defaults included) and topology's queues.
func TestRequiredNames(t *testing.T) {
	const account = "210987654321"
	rights := Required(Deployment{Region: "eu-west-1", Account: account, Options: awsbackend.Options{Prefix: "d-"}})
	sqs := "arn:aws:sqs:eu-west-1:" + account + ":"
	ecs := "arn:aws:ecs:eu-west-1:" + account + ":"
	logs := "arn:aws:logs:eu-west-1:" + account + ":log-group:"
	for _, want := range []struct {
		p              Principal
		action, on     string
		context        map[string]string
		optional, oper bool
	}{
		{p: Caller, action: "sqs:SendMessage", on: sqs + "d-requests"},
		{p: Caller, action: "sqs:CreateQueue", on: sqs + "d-job-*"},
		{p: Caller, action: "logs:GetLogEvents", on: logs + "/d-tasks:log-stream:*"},
		{p: Caller, action: "logs:GetLogEvents", on: logs + "/d-jobs"},
		{p: Caller, action: "dynamodb:Query", on: "arn:aws:dynamodb:eu-west-1:" + account + ":table/d-leases", optional: true},
		{p: Caller, action: "sqs:ReceiveMessage", on: sqs + "d-runs-dlq", oper: true},
		{p: Gatekeeper, action: "sqs:SendMessage", on: sqs + "d-runs-lane-*"},
		{p: Gatekeeper, action: "sqs:SendMessage", on: sqs + "d-requests-dlq"},
		{p: Gatekeeper, action: "logs:PutLogEvents", on: logs + "/aws/lambda/d-gatekeeper:log-stream:*"},
		{p: Worker, action: "ecs:RunTask", on: ecs + "task-definition/*", context: map[string]string{"ecs:cluster": ecs + "cluster/d-tasks"}},
		{p: Worker, action: "iam:PassRole", on: "arn:aws:iam::" + account + ":role/d-task-execution",
			context: map[string]string{"iam:PassedToService": "ecs-tasks.amazonaws.com"}},
		{p: Worker, action: "sqs:ListQueues", on: sqs + "*"},
		{p: Logshipper, action: "ecs:DescribeTasks", on: ecs + "task/d-tasks/*", context: map[string]string{"ecs:cluster": ecs + "cluster/d-tasks"}},
	} {
		r := find(rights, want.p, want.action, want.on)
		if r == nil {
			t.Errorf("no right of the %s to %s on %s", want.p, want.action, want.on)
			continue
		}
		if r.Optional != want.optional || r.Operator != want.oper || (want.context != nil && !equalMaps(r.Context, want.context)) {
			t.Errorf("%+v, want optional %v, operator %v, context %v", *r, want.optional, want.oper, want.context)
		}
	}
	for _, no := range []struct {
		p          Principal
		action, on string
	}{
		{Caller, "sqs:SendMessage", sqs + "d-runs-lane-*"}, // only the gatekeeper writes run orders
		{Caller, "ecs:RunTask", ecs + "task-definition/*"},
		{Logshipper, "sqs:SendMessage", sqs + "d-runs-lane-*"},
		{Worker, "sqs:SendMessage", sqs + "d-runs-lane-*"},
	} {
		if r := find(rights, no.p, no.action, no.on); r != nil {
			t.Errorf("the %s must not need %s on %s: %+v", no.p, no.action, no.on, *r)
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Names the options override, and the partition, reach the rights.
func TestRequiredOverrides(t *testing.T) {
	d := Deployment{Region: "cn-north-1", Account: "210987654321",
		Options: awsbackend.Options{Prefix: "x-", Cluster: "arn:aws-cn:ecs:cn-north-1:210987654321:cluster/shared",
			JournalLogGroup: "/custom/journal", TaskLogGroup: "/custom/tasks", LeaseTable: "locks"},
		GatekeeperFunction: "gk", TaskDefinitions: []string{"terraform", "packer"},
		PassRoles: []string{"arn:aws-cn:iam::210987654321:role/a", "arn:aws-cn:iam::210987654321:role/b"},
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	rights := Required(d)
	for _, want := range []struct {
		p          Principal
		action, on string
	}{
		{Worker, "ecs:RunTask", "arn:aws-cn:ecs:cn-north-1:210987654321:task-definition/terraform:*"},
		{Worker, "ecs:RunTask", "arn:aws-cn:ecs:cn-north-1:210987654321:task-definition/packer:*"},
		{Worker, "ecs:StopTask", "arn:aws-cn:ecs:cn-north-1:210987654321:task/shared/*"},
		{Worker, "iam:PassRole", "arn:aws-cn:iam::210987654321:role/b"},
		{Worker, "dynamodb:PutItem", "arn:aws-cn:dynamodb:cn-north-1:210987654321:table/locks"},
		{Gatekeeper, "logs:CreateLogStream", "arn:aws-cn:logs:cn-north-1:210987654321:log-group:/custom/journal"},
		{Gatekeeper, "logs:CreateLogStream", "arn:aws-cn:logs:cn-north-1:210987654321:log-group:/aws/lambda/gk"},
		{Logshipper, "logs:CreateLogStream", "arn:aws-cn:logs:cn-north-1:210987654321:log-group:/aws/lambda/x-logshipper"},
		{Caller, "logs:GetLogEvents", "arn:aws-cn:logs:cn-north-1:210987654321:log-group:/custom/tasks:log-stream:*"},
	} {
		if find(rights, want.p, want.action, want.on) == nil {
			t.Errorf("no right of the %s to %s on %s", want.p, want.action, want.on)
		}
	}
	if r := find(rights, Worker, "ecs:RunTask", "arn:aws-cn:ecs:cn-north-1:210987654321:task-definition/*"); r != nil {
		t.Errorf("named task definitions, yet %+v", *r)
	}
	if r := find(rights, Worker, "ecs:RunTask", "arn:aws-cn:ecs:cn-north-1:210987654321:task-definition/terraform:*"); r == nil ||
		r.Context["ecs:cluster"] != d.Options.Cluster {
		t.Errorf("RunTask on the cluster ARN given: %+v", r)
	}
}

func TestDeploymentValidate(t *testing.T) {
	err := Deployment{Options: awsbackend.Options{Prefix: "bad prefix!"}, Account: "12", TaskDefinitions: []string{"a:3"}, PassRoles: []string{"role/x"}}.Validate()
	for _, says := range []string{"no region", `account "12"`, "prefix", `family "a:3"`, `pass role "role/x"`} {
		if err == nil || !strings.Contains(err.Error(), says) {
			t.Errorf("Validate: %v, want it to say %q", err, says)
		}
	}
}

// Every right is well formed, listed once, and needed: the minimal
// policy of a principal's rights allows each, and without a right's
// statement that right is no longer allowed (no right covers another).
func TestRequiredWellFormed(t *testing.T) {
	rights := Required(Deployment{Region: "us-east-1", Account: "123456789012"})
	seen := map[string]bool{}
	for _, r := range rights {
		key := string(r.Principal) + " " + r.Action + " " + r.Resource
		if seen[key] {
			t.Errorf("listed twice: %s", key)
		}
		seen[key] = true
		svc, op, ok := strings.Cut(r.Action, ":")
		if !ok || svc == "" || op == "" || strings.ContainsAny(r.Action, "*?") || !slices.Contains(Principals(), r.Principal) ||
			!strings.HasPrefix(r.Resource, "arn:aws:") || r.Why == "" || (r.Operator && r.Principal != Caller) {
			t.Errorf("malformed: %+v", r)
		}
	}
	for _, p := range Principals() {
		var mine []Right
		for _, r := range rights {
			if r.Principal == p {
				mine = append(mine, r)
			}
		}
		if len(mine) == 0 {
			t.Errorf("the %s needs nothing?", p)
		}
		all := MinimalPolicy(mine)
		for i, r := range mine {
			if got := Evaluate(r.Request(), all); got.Decision != Allowed {
				t.Errorf("the minimal policy does not allow %+v: %s", r, got.Reason)
			}
			without := MinimalPolicy(slices.Delete(slices.Clone(mine), i, i+1))
			if got := Evaluate(r.Request(), without); got.Decision == Allowed {
				t.Errorf("%s %s on %s is also allowed by another right (%s): redundant", p, r.Action, r.Resource, got.Reason)
			}
		}
	}
}
