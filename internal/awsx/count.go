package awsx

import (
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

// CountingTransport counts the HTTP requests it forwards by AWS operation
// ("sqs:ReceiveMessage", "logs:GetLogEvents", "ecs:DescribeTasks"), retries
// included, for the API-calls-per-job figures. It is safe for concurrent
// use.
type CountingTransport struct {
	// Next does the requests. Defaults to http.DefaultTransport.
	Next http.RoundTripper

	mu     sync.Mutex
	counts map[string]int
}

// RoundTrip counts req and forwards it.
func (c *CountingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	op := Operation(req)
	c.mu.Lock()
	if c.counts == nil {
		c.counts = map[string]int{}
	}
	c.counts[op]++
	c.mu.Unlock()
	next := c.Next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(req)
}

// Counts returns a copy of the counts so far.
func (c *CountingTransport) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.counts)
}

// Total returns how many requests were counted, or only those of the
// named operations when any are given.
func (c *CountingTransport) Total(ops ...string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for op, k := range c.counts {
		if len(ops) == 0 {
			n += k
			continue
		}
		for _, want := range ops {
			if op == want {
				n += k
			}
		}
	}
	return n
}

// Reset forgets the counts.
func (c *CountingTransport) Reset() {
	c.mu.Lock()
	c.counts = nil
	c.mu.Unlock()
}

// targetPrefixes maps the X-Amz-Target prefixes of the JSON protocols we
// speak to short service names.
var targetPrefixes = map[string]string{
	"AmazonSQS":                               "sqs",
	"Logs_20140328":                           "logs",
	"AmazonEC2ContainerServiceV20141113":      "ecs",
	"AWSSecurityTokenServiceV20110615":        "sts",
	"DynamoDB_20120810":                       "dynamodb",
	"AmazonEC2ContainerServiceV20141113Other": "ecs",
}

// Operation names the AWS operation of a request: from the X-Amz-Target
// header of JSON protocols, else the Action parameter of query protocols,
// else the method and path.
func Operation(req *http.Request) string {
	if t := req.Header.Get("X-Amz-Target"); t != "" {
		prefix, op, ok := strings.Cut(t, ".")
		if !ok {
			return t
		}
		if svc, ok := targetPrefixes[prefix]; ok {
			return svc + ":" + op
		}
		return prefix + ":" + op
	}
	if a := req.URL.Query().Get("Action"); a != "" {
		return a
	}
	if req.Method == http.MethodPost && req.Body != nil && req.GetBody != nil {
		if body, err := req.GetBody(); err == nil {
			defer func() { _ = body.Close() }()
			buf := make([]byte, 512)
			n, _ := body.Read(buf)
			if v, err := url.ParseQuery(string(buf[:n])); err == nil && v.Get("Action") != "" {
				return v.Get("Action")
			}
		}
	}
	return req.Method + " " + req.URL.Path
}
