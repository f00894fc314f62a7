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

	"github.com/deployerhq/deployer/internal/iamcheck"
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

// allowed reports whether the policy allows the call on every one of its
// resources (iamcheck's evaluator: an explicit Deny wins, and what it
// cannot decide never allows).
func allowed(p iamcheck.Policy, c awsCall) bool {
	if len(c.Resources) == 0 {
		return false
	}
	for _, res := range c.Resources {
		if iamcheck.Evaluate(iamcheck.Request{Action: c.Action, Resource: res, Context: c.Context}, p).Decision != iamcheck.Allowed {
			return false
		}
	}
	return true
}

func parsePolicy(t *testing.T, doc string) iamcheck.Policy {
	t.Helper()
	p, err := iamcheck.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("policy %s: %v", doc, err)
	}
	return p
}

// checkCallsAllowed fails for every call of key that its policy does not
// allow, and when key made no call at all.
func checkCallsAllowed(t *testing.T, calls []awsCall, policies map[string]iamcheck.Policy) {
	t.Helper()
	made := map[string]int{}
	for _, c := range calls {
		p, ok := policies[c.Key]
		if !ok {
			continue
		}
		made[c.Key]++
		if !allowed(p, c) {
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

// checkCallsRequired fails for every call a principal made (its key is
// the principal's name) that iamcheck.Required does not list for it, so
// the rights "deployer doctor" checks are the calls the code makes. It
// logs the rights no call exercised (the janitor, timeouts, new lanes
// and scheduled jobs do not happen in these tests).
func checkCallsRequired(t *testing.T, calls []awsCall, d iamcheck.Deployment) {
	t.Helper()
	rights := map[string][]iamcheck.Right{}
	for _, r := range iamcheck.Required(d) {
		rights[string(r.Principal)] = append(rights[string(r.Principal)], r)
	}
	used := map[iamcheck.Principal]map[int]bool{}
	for _, c := range calls {
		mine, ok := rights[c.Key]
		if !ok {
			continue
		}
		if !allowed(iamcheck.MinimalPolicy(mine), c) {
			t.Errorf("a call iamcheck.Required does not list (add it to internal/iamcheck's rights): %s", c)
			continue
		}
		for i, r := range mine {
			for _, res := range c.Resources {
				one := iamcheck.MinimalPolicy([]iamcheck.Right{r})
				if iamcheck.Evaluate(iamcheck.Request{Action: c.Action, Resource: res, Context: c.Context}, one).Decision == iamcheck.Allowed {
					if used[r.Principal] == nil {
						used[r.Principal] = map[int]bool{}
					}
					used[r.Principal][i] = true
				}
			}
		}
	}
	for who, mine := range rights {
		for i, r := range mine {
			if !used[iamcheck.Principal(who)][i] {
				t.Logf("not exercised here: %s %s on %s (%s)", who, r.Action, r.Resource, r.Why)
			}
		}
	}
}
