package iamcheck

import (
	"strings"
	"testing"
)

func mustParse(t *testing.T, doc string) Policy {
	t.Helper()
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatalf("policy %s: %v", doc, err)
	}
	return p
}

func sqsReq(action, queue string) Request {
	return Request{Action: action, Resource: "arn:aws:sqs:us-east-1:123456789012:" + queue}
}

// TestIAMEvaluator pins the evaluator the permission checks rely on, so
// that a permissive bug in it cannot pass a policy AWS would refuse.
// (These are the cases test/iam_test.go held when the evaluator lived
// there.)
func TestIAMEvaluator(t *testing.T) {
	p := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["sqs:SendMessage","sqs:GetQueueUrl"],"Resource":"arn:aws:sqs:us-east-1:123456789012:d-job-*"},
		{"Effect":"Allow","Action":"ecs:RunTask","Resource":"arn:aws:ecs:us-east-1:123456789012:task-definition/*",
		 "Condition":{"ArnEquals":{"ecs:cluster":"arn:aws:ecs:us-east-1:123456789012:cluster/d-tasks"}}},
		{"Effect":"Allow","Action":"logs:GetLogEvents","Resource":"arn:aws:logs:us-east-1:123456789012:log-group:/d-jobs:*"},
		{"Effect":"Allow","Action":"iam:PassRole","Resource":"*","Condition":{"StringEquals":{"iam:PassedToService":"ecs-tasks.amazonaws.com"}}}]}`)
	runTask := func(cluster string) Request {
		return Request{Action: "ecs:RunTask", Resource: "arn:aws:ecs:us-east-1:123456789012:task-definition/demo",
			Context: map[string]string{"ecs:cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/" + cluster}}
	}
	group := "arn:aws:logs:us-east-1:123456789012:log-group:/d-jobs"
	for _, tt := range []struct {
		req  Request
		want Decision
	}{
		{sqsReq("sqs:SendMessage", "d-job-1"), Allowed},
		{sqsReq("SQS:sendmessage", "d-job-1"), Allowed}, // actions are case-insensitive
		{sqsReq("sqs:SendMessage", "D-job-1"), ImplicitDeny},
		{sqsReq("sqs:SendMessage", "d-requests"), ImplicitDeny},
		{sqsReq("sqs:DeleteQueue", "d-job-1"), ImplicitDeny},
		{sqsReq("sqs:SendMessage", "d-job-*"), Allowed}, // every job stream
		{sqsReq("sqs:SendMessage", "d-*"), ImplicitDeny},
		{Request{Action: "sqs:SendMessage"}, ImplicitDeny}, // no resource: nothing to allow
		{runTask("d-tasks"), Allowed},
		{runTask("other"), ImplicitDeny},
		{Request{Action: "ecs:RunTask", Resource: "arn:aws:ecs:us-east-1:123456789012:task-definition/demo"}, ImplicitDeny},
		{Request{Action: "logs:GetLogEvents", Resource: group + ":log-stream:jobs/x"}, Allowed},
		{Request{Action: "logs:GetLogEvents", Resource: group}, ImplicitDeny}, // the group's own ARN is not under "…:/d-jobs:*"
		{Request{Action: "iam:PassRole", Resource: "arn:aws:iam::123456789012:role/x"}, ImplicitDeny},
		{Request{Action: "iam:PassRole", Resource: "arn:aws:iam::123456789012:role/x",
			Context: map[string]string{"iam:PassedToService": "ecs-tasks.amazonaws.com"}}, Allowed},
		{Request{Action: "iam:PassRole", Resource: "arn:aws:iam::123456789012:role/x",
			Context: map[string]string{"iam:passedtoservice": "lambda.amazonaws.com"}}, ImplicitDeny}, // key names fold
	} {
		if got := Evaluate(tt.req, p); got.Decision != tt.want {
			t.Errorf("Evaluate(%+v) = %v (%s), want %v", tt.req, got.Decision, got.Reason, tt.want)
		}
	}
}

func TestEvaluateDeny(t *testing.T) {
	allowAll := mustParse(t, `{"Statement":{"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"}}`)
	allowAll.Name = "admin"
	for _, tt := range []struct {
		name, deny string
		req        Request
		want       Decision
		says       string
	}{
		{name: "explicit deny wins", deny: `{"Sid":"NoSend","Effect":"Deny","Action":"sqs:SendMessage","Resource":"*"}`,
			req: sqsReq("sqs:SendMessage", "d-requests"), want: ExplicitDeny, says: `denied by statement "NoSend" of deny`},
		{name: "deny of another action", deny: `{"Effect":"Deny","Action":"sqs:DeleteQueue","Resource":"*"}`,
			req: sqsReq("sqs:SendMessage", "d-requests"), want: Allowed},
		{name: "deny with wildcard action", deny: `{"Effect":"Deny","Action":"sqs:Send*","Resource":"*"}`,
			req: sqsReq("sqs:SendMessage", "d-requests"), want: ExplicitDeny, says: "statement #1"},
		{name: "deny of part of a family", deny: `{"Effect":"Deny","Action":"sqs:*","Resource":"arn:aws:sqs:*:*:d-job-secret*"}`,
			req: sqsReq("sqs:SendMessage", "d-job-*"), want: ExplicitDeny},
		{name: "deny of another family", deny: `{"Effect":"Deny","Action":"sqs:*","Resource":"arn:aws:sqs:*:*:d-runs-*"}`,
			req: sqsReq("sqs:SendMessage", "d-job-*"), want: Allowed},
		{name: "NotAction deny", deny: `{"Effect":"Deny","NotAction":["sqs:ReceiveMessage","sqs:DeleteMessage"],"Resource":"*"}`,
			req: sqsReq("sqs:SendMessage", "d-requests"), want: ExplicitDeny},
		{name: "NotAction deny spares its actions", deny: `{"Effect":"Deny","NotAction":["sqs:ReceiveMessage","sqs:Send*"],"Resource":"*"}`,
			req: sqsReq("sqs:SendMessage", "d-requests"), want: Allowed},
		{name: "NotResource deny", deny: `{"Effect":"Deny","Action":"*","NotResource":"arn:aws:sqs:*:*:d-job-*"}`,
			req: sqsReq("sqs:SendMessage", "d-requests"), want: ExplicitDeny},
		{name: "NotResource deny spares its resources", deny: `{"Effect":"Deny","Action":"*","NotResource":"arn:aws:sqs:*:*:d-*"}`,
			req: sqsReq("sqs:SendMessage", "d-job-*"), want: Allowed},
		{name: "NotResource deny touching part of a family", deny: `{"Effect":"Deny","Action":"*","NotResource":"arn:aws:sqs:*:*:d-job-0*"}`,
			req: sqsReq("sqs:SendMessage", "d-job-*"), want: ExplicitDeny},
		{name: "deny under a condition that holds", deny: `{"Effect":"Deny","Action":"ecs:RunTask","Resource":"*","Condition":{"ArnNotEquals":{"ecs:cluster":"arn:aws:ecs:*:*:cluster/d-tasks"}}}`,
			req:  Request{Action: "ecs:RunTask", Resource: "arn:aws:ecs:us-east-1:1:task-definition/x", Context: map[string]string{"ecs:cluster": "arn:aws:ecs:us-east-1:1:cluster/other"}},
			want: ExplicitDeny},
		{name: "deny under a condition that fails", deny: `{"Effect":"Deny","Action":"ecs:RunTask","Resource":"*","Condition":{"ArnNotEquals":{"ecs:cluster":"arn:aws:ecs:*:*:cluster/d-tasks"}}}`,
			req:  Request{Action: "ecs:RunTask", Resource: "arn:aws:ecs:us-east-1:1:task-definition/x", Context: map[string]string{"ecs:cluster": "arn:aws:ecs:us-east-1:1:cluster/d-tasks"}},
			want: Allowed},
		{name: "deny under a global key", deny: `{"Sid":"Https","Effect":"Deny","Action":"*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`,
			req: sqsReq("sqs:SendMessage", "d-requests"), want: Undecided, says: `statement "Https" of deny denies it under a condition`},
		{name: "deny with a policy variable", deny: `{"Effect":"Deny","Action":"*","Resource":"arn:aws:sqs:*:*:${aws:username}"}`,
			req: sqsReq("sqs:SendMessage", "d-requests"), want: Undecided},
	} {
		t.Run(tt.name, func(t *testing.T) {
			deny := mustParse(t, `{"Statement":[`+tt.deny+`]}`)
			deny.Name = "deny"
			got := Evaluate(tt.req, allowAll, deny)
			if got.Decision != tt.want || !strings.Contains(got.Reason, tt.says) {
				t.Fatalf("Evaluate = %v (%s), want %v saying %q", got.Decision, got.Reason, tt.want, tt.says)
			}
			// A deny in the same policy counts the same.
			both := Policy{Statements: append(append([]Statement{}, allowAll.Statements...), deny.Statements...)}
			if again := Evaluate(tt.req, both); again.Decision != tt.want {
				t.Fatalf("in one policy: %v (%s), want %v", again.Decision, again.Reason, tt.want)
			}
		})
	}
}

func TestEvaluateAllow(t *testing.T) {
	cluster := map[string]string{"ecs:cluster": "arn:aws:ecs:us-east-1:1:cluster/d-tasks"}
	task := "arn:aws:ecs:us-east-1:1:task/d-tasks/abc"
	for _, tt := range []struct {
		name, allow string
		req         Request
		want        Decision
	}{
		{"wildcard service", `{"Effect":"Allow","Action":"ecs:*","Resource":"*"}`,
			Request{Action: "ecs:StopTask", Resource: task}, Allowed},
		{"question mark", `{"Effect":"Allow","Action":"ecs:?topTask","Resource":"arn:aws:ecs:us-east-1:1:task/d-tasks/???"}`,
			Request{Action: "ecs:StopTask", Resource: task}, Allowed},
		{"question mark is one character", `{"Effect":"Allow","Action":"ecs:StopTask","Resource":"arn:aws:ecs:us-east-1:1:task/d-tasks/??"}`,
			Request{Action: "ecs:StopTask", Resource: task}, ImplicitDeny},
		{"resources are case-sensitive", `{"Effect":"Allow","Action":"ecs:StopTask","Resource":"arn:aws:ecs:us-east-1:1:task/D-tasks/*"}`,
			Request{Action: "ecs:StopTask", Resource: task}, ImplicitDeny},
		{"NotAction allow", `{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}`,
			Request{Action: "ecs:StopTask", Resource: task}, Allowed},
		{"NotAction allow leaves out its actions", `{"Effect":"Allow","NotAction":"ecs:*","Resource":"*"}`,
			Request{Action: "ecs:StopTask", Resource: task}, ImplicitDeny},
		{"NotResource allow", `{"Effect":"Allow","Action":"sqs:*","NotResource":"arn:aws:sqs:*:*:d-runs-*"}`,
			sqsReq("sqs:SendMessage", "d-job-*"), Allowed},
		{"NotResource allow leaves out part of a family", `{"Effect":"Allow","Action":"sqs:*","NotResource":"arn:aws:sqs:*:*:d-job-0*"}`,
			sqsReq("sqs:SendMessage", "d-job-*"), ImplicitDeny},
		{"StringLike", `{"Effect":"Allow","Action":"ecs:StopTask","Resource":"*","Condition":{"StringLike":{"ecs:cluster":"arn:aws:ecs:*:*:cluster/d-*"}}}`,
			Request{Action: "ecs:StopTask", Resource: task, Context: cluster}, Allowed},
		{"ArnLike per part", `{"Effect":"Allow","Action":"ecs:StopTask","Resource":"*","Condition":{"ArnLike":{"ecs:cluster":"arn:aws:ecs:*:*:cluster/d-tasks"}}}`,
			Request{Action: "ecs:StopTask", Resource: task, Context: cluster}, Allowed},
		{"StringNotEquals on an absent key holds", `{"Effect":"Allow","Action":"ecs:StopTask","Resource":"*","Condition":{"StringNotEquals":{"ecs:cluster":"x"}}}`,
			Request{Action: "ecs:StopTask", Resource: task}, Allowed},
		{"IfExists on an absent key holds", `{"Effect":"Allow","Action":"ecs:StopTask","Resource":"*","Condition":{"StringEqualsIfExists":{"ecs:cluster":"x"}}}`,
			Request{Action: "ecs:StopTask", Resource: task}, Allowed},
		{"IfExists on a present key compares", `{"Effect":"Allow","Action":"ecs:StopTask","Resource":"*","Condition":{"StringEqualsIfExists":{"ecs:cluster":"x"}}}`,
			Request{Action: "ecs:StopTask", Resource: task, Context: cluster}, ImplicitDeny},
		{"Null true on an absent key", `{"Effect":"Allow","Action":"ecs:StopTask","Resource":"*","Condition":{"Null":{"ecs:cluster":"true"}}}`,
			Request{Action: "ecs:StopTask", Resource: task}, Allowed},
		{"Null false on a present key", `{"Effect":"Allow","Action":"ecs:StopTask","Resource":"*","Condition":{"Null":{"ecs:cluster":"false"}}}`,
			Request{Action: "ecs:StopTask", Resource: task, Context: cluster}, Allowed},
		{"values are alternatives", `{"Effect":"Allow","Action":"ecs:StopTask","Resource":"*","Condition":{"StringEquals":{"ecs:cluster":["a","arn:aws:ecs:us-east-1:1:cluster/d-tasks"]}}}`,
			Request{Action: "ecs:StopTask", Resource: task, Context: cluster}, Allowed},
		{"conditions all hold", `{"Effect":"Allow","Action":"ecs:StopTask","Resource":"*","Condition":{"StringLike":{"ecs:cluster":"*"},"StringEquals":{"ecs:cluster":"x"}}}`,
			Request{Action: "ecs:StopTask", Resource: task, Context: cluster}, ImplicitDeny},
		{"a global key is unknown", `{"Effect":"Allow","Action":"ecs:StopTask","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}`,
			Request{Action: "ecs:StopTask", Resource: task}, Undecided},
		{"an operator it cannot evaluate", `{"Effect":"Allow","Action":"ecs:StopTask","Resource":"*","Condition":{"NumericLessThan":{"ecs:cluster":"3"}}}`,
			Request{Action: "ecs:StopTask", Resource: task, Context: cluster}, Undecided},
		{"set operators", `{"Effect":"Allow","Action":"ecs:StopTask","Resource":"*","Condition":{"ForAllValues:StringEquals":{"ecs:cluster":"x"}}}`,
			Request{Action: "ecs:StopTask", Resource: task}, Undecided},
		{"an unknown allow does not beat a clear one", `{"Effect":"Allow","Action":"ecs:StopTask","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}},{"Effect":"Allow","Action":"ecs:StopTask","Resource":"*"}`,
			Request{Action: "ecs:StopTask", Resource: task}, Allowed},
		{"a policy variable is unknown", `{"Effect":"Allow","Action":"sqs:*","Resource":"arn:aws:sqs:*:*:${aws:username}-*"}`,
			sqsReq("sqs:SendMessage", "d-requests"), Undecided},
		{"allows are not added up", `{"Effect":"Allow","Action":"sqs:*","Resource":"arn:aws:sqs:*:*:d-job-0*"},{"Effect":"Allow","Action":"sqs:*","Resource":"arn:aws:sqs:*:*:d-job-[^0]*"}`,
			sqsReq("sqs:SendMessage", "d-job-*"), ImplicitDeny},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, `{"Statement":[`+tt.allow+`]}`)
			if got := Evaluate(tt.req, p); got.Decision != tt.want {
				t.Fatalf("Evaluate = %v (%s), want %v", got.Decision, got.Reason, tt.want)
			}
		})
	}
	if got := Evaluate(sqsReq("sqs:SendMessage", "x")); got.Decision != ImplicitDeny {
		t.Fatalf("with no policy: %v", got.Decision)
	}
}
