package test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The account and region of the emulator; ARNs of the calls are built in
// them.
const (
	iamAccount = "123456789012"
	iamRegion  = "us-east-1"
)

// awsCall is one AWS API call as IAM authorizes it: who made it (the
// access key id it was signed with), the action, the resources it acts on
// and the request's condition keys.
type awsCall struct {
	Key       string
	Action    string
	Resources []string
	Context   map[string]string
}

func (c awsCall) String() string {
	return fmt.Sprintf("%s %s on %s %v", c.Key, c.Action, strings.Join(c.Resources, ", "), c.Context)
}

// callRecorder is a reverse proxy in front of an AWS endpoint that records
// every call going through it.
type callRecorder struct {
	url   string
	mu    sync.Mutex
	calls []awsCall
	bad   []string
}

func startCallRecorder(t *testing.T, target string) *callRecorder {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	r := &callRecorder{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	// Calls cut short when their process stops are not the test's business.
	proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
		cs, err := describeCall(req, body)
		r.mu.Lock()
		if err != nil {
			r.bad = append(r.bad, err.Error())
		} else {
			r.calls = append(r.calls, cs...)
		}
		r.mu.Unlock()
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

// recorded returns the calls so far and the requests it could not read.
func (r *callRecorder) recorded() ([]awsCall, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls), slices.Clone(r.bad)
}

var (
	credentialKey = regexp.MustCompile(`Credential=([^/]+)/`)
	// The JSON protocols name the service in X-Amz-Target.
	targetServices = map[string]string{
		"AmazonSQS":                          "sqs",
		"Logs_20140328":                      "logs",
		"DynamoDB_20120810":                  "dynamodb",
		"AmazonEC2ContainerServiceV20141113": "ecs",
	}
	// Batch operations are authorized as their single forms.
	batchActions = map[string]string{
		"sqs:SendMessageBatch":             "sqs:SendMessage",
		"sqs:DeleteMessageBatch":           "sqs:DeleteMessage",
		"sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
	}
)

// describeCall reads an SDK request (JSON protocol) as IAM authorizes it:
// the call itself, and the actions it implies (tagging at creation).
func describeCall(req *http.Request, body []byte) ([]awsCall, error) {
	m := credentialKey.FindStringSubmatch(req.Header.Get("Authorization"))
	if m == nil {
		return nil, fmt.Errorf("unsigned request %s %s", req.Method, req.URL)
	}
	prefix, op, ok := strings.Cut(req.Header.Get("X-Amz-Target"), ".")
	svc := targetServices[prefix]
	if !ok || svc == "" {
		return nil, fmt.Errorf("request without a known X-Amz-Target: %q", req.Header.Get("X-Amz-Target"))
	}
	var in struct {
		QueueURL       string          `json:"QueueUrl"`
		QueueName      string          `json:"QueueName"`
		LogGroupName   string          `json:"logGroupName"`
		LogStreamName  string          `json:"logStreamName"`
		TableName      string          `json:"TableName"`
		Cluster        string          `json:"cluster"`
		TaskDefinition string          `json:"taskDefinition"`
		Tasks          []string        `json:"tasks"`
		Task           string          `json:"task"`
		Tags           json.RawMessage `json:"tags"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, fmt.Errorf("%s:%s body: %w", svc, op, err)
	}
	c := awsCall{Key: m[1], Action: svc + ":" + op, Context: map[string]string{}}
	if a, ok := batchActions[c.Action]; ok {
		c.Action = a
	}
	arn := func(service, resource string) string {
		return fmt.Sprintf("arn:aws:%s:%s:%s:%s", service, iamRegion, iamAccount, resource)
	}
	cluster := in.Cluster
	if cluster == "" {
		cluster = "default"
	}
	if !strings.HasPrefix(cluster, "arn:") {
		cluster = arn("ecs", "cluster/"+cluster)
	}
	clusterName := path.Base(cluster)
	task := func(id string) string {
		if strings.HasPrefix(id, "arn:") {
			return id
		}
		return arn("ecs", "task/"+clusterName+"/"+id)
	}
	switch {
	case svc == "sqs" && in.QueueURL != "":
		c.Resources = []string{arn("sqs", path.Base(in.QueueURL))}
	case svc == "sqs" && in.QueueName != "":
		c.Resources = []string{arn("sqs", in.QueueName)}
	case c.Action == "sqs:ListQueues":
		c.Resources = []string{arn("sqs", "*")}
	case svc == "logs" && in.LogGroupName != "":
		// Authorized on the group or on the stream, depending on the
		// action: require both, so the policy is right either way.
		group := arn("logs", "log-group:"+in.LogGroupName)
		c.Resources = []string{group}
		if in.LogStreamName != "" {
			c.Resources = append(c.Resources, group+":log-stream:"+in.LogStreamName)
		}
	case svc == "dynamodb" && in.TableName != "":
		c.Resources = []string{arn("dynamodb", "table/"+in.TableName)}
	case c.Action == "ecs:RunTask":
		c.Resources = []string{arn("ecs", "task-definition/"+in.TaskDefinition)}
		c.Context["ecs:cluster"] = cluster
	case c.Action == "ecs:DescribeTasks":
		for _, id := range in.Tasks {
			c.Resources = append(c.Resources, task(id))
		}
		c.Context["ecs:cluster"] = cluster
	case c.Action == "ecs:StopTask":
		c.Resources = []string{task(in.Task)}
		c.Context["ecs:cluster"] = cluster
	case c.Action == "ecs:ListTasks":
		c.Resources = []string{arn("ecs", "container-instance/"+clusterName+"/*")}
		c.Context["ecs:cluster"] = cluster
	default:
		return nil, fmt.Errorf("%s: no resource this checker knows how to name in %s", c.Action, body)
	}
	calls := []awsCall{c}
	if tagged := len(in.Tags) > 0 && !slices.Contains([]string{"null", "{}", "[]"}, string(in.Tags)); tagged {
		// Tags given at creation need the tagging permission too.
		switch c.Action {
		case "sqs:CreateQueue":
			calls = append(calls, awsCall{Key: c.Key, Action: "sqs:TagQueue", Resources: c.Resources, Context: map[string]string{}})
		case "ecs:RunTask":
			calls = append(calls, awsCall{Key: c.Key, Action: "ecs:TagResource", Resources: []string{task("*")},
				Context: map[string]string{"ecs:CreateAction": "RunTask"}})
		}
	}
	return calls, nil
}

// iamPolicy is an identity policy document.
type iamPolicy struct {
	Statement []struct {
		Effect    string
		Action    stringOrList
		Resource  stringOrList
		Condition map[string]map[string]stringOrList
	}
}

type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*s = []string{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(s))
}

func parsePolicy(t *testing.T, doc string) iamPolicy {
	t.Helper()
	var p iamPolicy
	if err := json.Unmarshal([]byte(doc), &p); err != nil || len(p.Statement) == 0 {
		t.Fatalf("policy %s: %v", doc, err)
	}
	return p
}

// allows reports whether the policy allows the call on every one of its
// resources: some Allow statement matches action, resource and every
// condition, and no Deny statement matches. A condition this evaluator
// does not know never matches, so an unknown one cannot grant.
func (p iamPolicy) allows(c awsCall) bool {
	if len(c.Resources) == 0 {
		return false
	}
	for _, res := range c.Resources {
		allowed := false
		for _, st := range p.Statement {
			if !globAny(st.Action, c.Action, true) || !globAny(st.Resource, res, false) || !conditionsHold(st.Condition, c.Context) {
				continue
			}
			if st.Effect == "Deny" {
				return false
			}
			allowed = allowed || st.Effect == "Allow"
		}
		if !allowed {
			return false
		}
	}
	return true
}

func conditionsHold(cond map[string]map[string]stringOrList, ctx map[string]string) bool {
	for op, keys := range cond {
		for key, values := range keys {
			v, ok := ctx[key]
			if !ok {
				return false
			}
			switch op {
			case "StringEquals", "ArnEquals":
				if !slices.Contains(values, v) {
					return false
				}
			case "StringLike", "ArnLike":
				if !globAny(values, v, false) {
					return false
				}
			default:
				return false
			}
		}
	}
	return true
}

// globAny reports whether s matches one of the IAM patterns (* and ?).
func globAny(patterns []string, s string, foldCase bool) bool {
	for _, p := range patterns {
		if foldCase {
			p, s = strings.ToLower(p), strings.ToLower(s)
		}
		if iamGlob(p, s) {
			return true
		}
	}
	return false
}

func iamGlob(p, s string) bool {
	var re strings.Builder
	re.WriteString("^")
	for _, r := range p {
		switch r {
		case '*':
			re.WriteString(".*")
		case '?':
			re.WriteString(".")
		default:
			re.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	re.WriteString("$")
	return regexp.MustCompile(re.String()).MatchString(s)
}

// checkCallsAllowed fails for every call of key that its policy does not
// allow, and when key made no call at all.
func checkCallsAllowed(t *testing.T, calls []awsCall, policies map[string]iamPolicy) {
	t.Helper()
	made := map[string]int{}
	for _, c := range calls {
		p, ok := policies[c.Key]
		if !ok {
			continue
		}
		made[c.Key]++
		if !p.allows(c) {
			t.Errorf("denied by the module's policy: %s", c)
		}
	}
	for key := range policies {
		if made[key] == 0 {
			t.Errorf("%s made no AWS call: nothing was checked", key)
		}
	}
	t.Logf("AWS calls checked against the module's policies: %v", made)
}

// TestIAMEvaluator pins the evaluator the policy check relies on, so that
// a permissive bug in it cannot pass a policy that AWS would refuse.
func TestIAMEvaluator(t *testing.T) {
	p := parsePolicy(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["sqs:SendMessage","sqs:GetQueueUrl"],"Resource":"arn:aws:sqs:us-east-1:123456789012:d-job-*"},
		{"Effect":"Allow","Action":"ecs:RunTask","Resource":"arn:aws:ecs:us-east-1:123456789012:task-definition/*",
		 "Condition":{"ArnEquals":{"ecs:cluster":"arn:aws:ecs:us-east-1:123456789012:cluster/d-tasks"}}},
		{"Effect":"Allow","Action":"logs:GetLogEvents","Resource":"arn:aws:logs:us-east-1:123456789012:log-group:/d-jobs:*"},
		{"Effect":"Allow","Action":"iam:PassRole","Resource":"*","Condition":{"StringEquals":{"iam:PassedToService":"ecs-tasks.amazonaws.com"}}}]}`)
	sqsCall := func(action, queue string) awsCall {
		return awsCall{Action: action, Resources: []string{"arn:aws:sqs:us-east-1:123456789012:" + queue}}
	}
	runTask := func(cluster string) awsCall {
		return awsCall{Action: "ecs:RunTask", Resources: []string{"arn:aws:ecs:us-east-1:123456789012:task-definition/demo"},
			Context: map[string]string{"ecs:cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/" + cluster}}
	}
	logs := func(stream string) awsCall {
		group := "arn:aws:logs:us-east-1:123456789012:log-group:/d-jobs"
		return awsCall{Action: "logs:GetLogEvents", Resources: []string{group, group + ":log-stream:" + stream}}
	}
	for _, tt := range []struct {
		call awsCall
		want bool
	}{
		{sqsCall("sqs:SendMessage", "d-job-1"), true},
		{sqsCall("SQS:sendmessage", "d-job-1"), true}, // actions are case-insensitive
		{sqsCall("sqs:SendMessage", "D-job-1"), false},
		{sqsCall("sqs:SendMessage", "d-requests"), false},
		{sqsCall("sqs:DeleteQueue", "d-job-1"), false},
		{awsCall{Action: "sqs:SendMessage"}, false}, // no resource: nothing to allow
		{runTask("d-tasks"), true},
		{runTask("other"), false},
		{awsCall{Action: "ecs:RunTask", Resources: []string{"arn:aws:ecs:us-east-1:123456789012:task-definition/demo"}}, false},
		{logs("jobs/x"), false}, // the group's own ARN is not under "…:/d-jobs:*"
		{awsCall{Action: "iam:PassRole", Resources: []string{"arn:aws:iam::123456789012:role/x"}}, false},
	} {
		if got := p.allows(tt.call); got != tt.want {
			t.Errorf("allows(%s) = %v, want %v", tt.call, got, tt.want)
		}
	}
}
