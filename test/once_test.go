package test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/deployerhq/deployer/internal/awsbackend"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/embedded"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// Every request ends once: one the gatekeeper cannot accept or cannot
// forward is rejected at once, "deployer run" (or "wait") prints why and
// exits 77, and "deployer status" shows the rejection. Both tests give
// the commands a --max-wait-time of 90s: a request that is retried
// instead of ended makes them exit 75 after it, not 77 at once.

// bigArgs returns n arguments of size bytes each.
func bigArgs(n, size int) []string {
	return strings.Fields(strings.Repeat(strings.Repeat("x", size)+" ", n))
}

// checkRejectedHistory checks that "deployer status" shows the job
// rejected with code.
func checkRejectedHistory(t *testing.T, e *env, id, code string) {
	t.Helper()
	if r := e.run("status", id); r.code != 0 || !strings.Contains(r.stdout, "rejected") {
		t.Errorf("status %s: exit %d\nstdout:\n%s\nstderr:\n%s", id, r.code, r.stdout, r.stderr)
	}
	history, err := e.history(id)
	if err != nil {
		t.Fatal(err)
	}
	if last, ok := producer.Terminal(history); !ok || last.Type != schemas.EventRejected || last.ReasonCode != code {
		t.Fatalf("history of %s: %+v, want a rejection [%s] last", id, history, code)
	}
}

var tooLargeLine = regexp.MustCompile(`(?m)^deployer: rejected \[request_too_large\]: the run order would be ([0-9,]+) bytes; the run queue takes at most 262,144 bytes: shorten the arguments$`)

// checkTooLargeRejected runs script of container with 35 arguments of
// 4,000 bytes: the request fits its queue, the run order (the arguments
// in the request and again in the argv) does not.
func checkTooLargeRejected(t *testing.T, e *env, container, script string) {
	t.Helper()
	start := time.Now()
	r := e.run(append([]string{"run", "--max-wait-time", "90s", "--", container, script}, bigArgs(35, 4000)...)...)
	took := time.Since(start)
	if r.code != 77 || took > time.Minute {
		t.Fatalf("exit code %d after %s, want 77 at once; stderr:\n%.2000s", r.code, took.Round(time.Second), r.stderr)
	}
	if !tooLargeLine.MatchString(r.stderr) {
		t.Errorf("no rejection with the sizes in stderr:\n%.2000s", r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("a rejected job printed output: %.200q", r.stdout)
	}
	m := jobSubmitted.FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("no job id in stderr:\n%.2000s", r.stderr)
	}
	checkRejectedHistory(t, e, m[1], "request_too_large")
}

// checkForeignStreamRejected enqueues, through c, a request of script of
// container crafted to name another job's stream, and checks that "wait"
// sees it rejected as malformed on its own job's stream and that the
// stream it named gets nothing.
func checkForeignStreamRejected(t *testing.T, e *env, c *producer.Client, container, script string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	victim, id := producer.NewJobID(), producer.NewJobID()
	victimStream, err := c.Streams.Create(ctx, victim, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	own, err := c.Streams.Create(ctx, id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Enqueue(ctx, schemas.JobRequest{
		JobID: id, Container: container, Script: script, Args: schemas.ArgList("hi"),
		Stream: victimStream, Attempt: 1, SubmittedAt: time.Now().UTC(),
	}); err != nil {
		t.Fatal(err)
	}

	r := e.run("wait", "--max-wait-time", "90s", id)
	line := regexp.MustCompile(`(?m)^deployer: rejected \[malformed_request\]: .*$`).FindString(r.stderr)
	if r.code != 77 || !strings.Contains(line, victimStream) || !strings.Contains(line, own) {
		t.Fatalf("wait: exit code %d, want 77 with a rejection naming %s and %s; stderr:\n%s", r.code, victimStream, own, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("a rejected job printed output: %q", r.stdout)
	}
	checkRejectedHistory(t, e, id, "malformed_request")

	sub, err := c.Streams.Subscribe(ctx, victimStream)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Close() }()
	if evs, err := sub.Next(ctx, time.Second); err != nil || len(evs) != 0 {
		t.Fatalf("the named stream holds %+v (%v)", evs, err)
	}
}

func TestRunOrderTooLargeIsRejectedAtOnce(t *testing.T) {
	t.Parallel()
	e := newPlatform(t)
	checkTooLargeRejected(t, e, "terraform-planner", "print")

	// 70 such arguments do not fit the request queue: refused before
	// anything is enqueued, as a usage error.
	r := e.run(append([]string{"run", "--", "terraform-planner", "print"}, bigArgs(70, 4000)...)...)
	if r.code != 64 || !strings.Contains(r.stderr, "the request queue takes at most 262144 bytes") || jobSubmitted.MatchString(r.stderr) {
		t.Fatalf("exit code %d, want 64 with the sizes and no job submitted; stderr:\n%.2000s", r.code, r.stderr)
	}
}

func TestRequestNamingAnotherJobsStreamIsRejected(t *testing.T) {
	t.Parallel()
	e := newPlatform(t)
	e.serve(t)
	b, err := embedded.Open(context.Background(), e.state, embedded.Options{Sender: factory.CurrentUser()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	checkForeignStreamRejected(t, e, b.Client(), "terraform-planner", "print")
}

// The same on the AWS backend, against the AWS fakes with "up
// --provision" serving: the foreign request is enqueued as the CI role the
// gatekeeper knows.
func TestRequestsEndOnceOnTheAWSBackend(t *testing.T) {
	t.Parallel()
	e := newEnv(t, awsConfig, awsScripts)
	f := startFaultyAWSFakes(t, e)
	up := e.start("up", "--provision", "--verbose")
	up.stderr.waitFor(t, regexp.MustCompile(`serving AWS deployment in us-east-1`), time.Minute)

	checkTooLargeRejected(t, e, "infra", "hello")

	cfg := awstest.Config(t, f.url, nil)
	cfg.Credentials = credentials.NewStaticCredentialsProvider("AROACIROLE", "test", "")
	b, err := awsbackend.NewWithConfig(cfg, awsbackend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := b.Client()
	if c.Requests, err = b.Broker.Open(context.Background(), topology.RequestQueue); err != nil {
		t.Fatal(err)
	}
	checkForeignStreamRejected(t, e, c, "infra", "hello")
}
