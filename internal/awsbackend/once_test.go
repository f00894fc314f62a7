package awsbackend_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/deployerhq/deployer/gatekeeper"
	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/awsbackend"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/schemas"
)

// Every request ends once on AWS too: a request whose run order would
// not fit a queue, or that names another job's stream (which the SQS
// stream refuses to carry an event of this job), is rejected at once on
// its own job's stream and journaled, instead of being retried until the
// redrive policy dead-letters it.

// bigArgs returns n arguments of size bytes each.
func bigArgs(n, size int) []string {
	return strings.Fields(strings.Repeat(strings.Repeat("x", size)+" ", n))
}

// foreignRequest is a request of a new job whose stream is victim's; the
// streams of both exist, as their producers made them.
func foreignRequest(t *testing.T, ctx context.Context, c *producer.Client) (req schemas.JobRequest, own string) {
	t.Helper()
	victim, id := producer.NewJobID(), producer.NewJobID()
	victimStream, err := c.Streams.Create(ctx, victim, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Streams.Delete(context.Background(), victimStream) })
	if own, err = c.Streams.Create(ctx, id, time.Hour); err != nil {
		t.Fatal(err)
	}
	return schemas.JobRequest{
		JobID: id, Container: "infra", Script: "lines", Args: schemas.ArgList("1"),
		Stream: victimStream, Attempt: 1, SubmittedAt: time.Now().UTC(),
	}, own
}

// checkEnded checks that job was rejected with code, every part of want in
// the reason, both on its stream (what "deployer run" prints) and in its
// journal (what "deployer status" shows).
func checkEnded(t *testing.T, ctx context.Context, c *producer.Client, job producer.Job, code string, want ...string) {
	t.Helper()
	res, err := c.Follow(ctx, job, producer.FollowOptions{})
	if err != nil {
		t.Fatalf("following %s: %v (a request the gatekeeper cannot forward must end at once)", job.ID, err)
	}
	term := res.Terminal
	if term.Type != schemas.EventRejected || term.ReasonCode != code || producer.ExitCode(term) != producer.ExitRejected {
		t.Fatalf("terminal %+v, want a rejection [%s]", term, code)
	}
	for _, w := range want {
		if !strings.Contains(term.Reason, w) {
			t.Errorf("reason %q does not say %q", term.Reason, w)
		}
	}
	history, err := c.Status(ctx, job.ID)
	if err != nil {
		t.Fatalf("status of %s: %v", job.ID, err)
	}
	if last, ok := producer.Terminal(history); !ok || last.ReasonCode != code {
		t.Fatalf("journal of %s: %+v, want the rejection", job.ID, history)
	}
}

// requestsEndOnce runs both requests through the pipeline serving b.
func requestsEndOnce(t *testing.T, b *awsbackend.Backend) {
	c := b.Client()
	t.Run("run order too large", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		job, err := c.Submit(ctx, producer.Request{Container: "infra", Script: "lines", Args: bigArgs(35, 4000)})
		if err != nil {
			t.Fatal(err)
		}
		checkEnded(t, ctx, c, job, gatekeeper.ReasonTooLarge, "the run order would be ", "the run queue takes at most 262,144 bytes")
	})
	t.Run("another job's stream", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		req, own := foreignRequest(t, ctx, c)
		if err := c.Enqueue(ctx, req); err != nil {
			t.Fatal(err)
		}
		checkEnded(t, ctx, c, producer.Job{ID: req.JobID, Stream: own}, gatekeeper.ReasonMalformed, req.Stream, own)
		sub, err := c.Streams.Subscribe(ctx, req.Stream)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = sub.Close() }()
		if evs, err := sub.Next(ctx, time.Second); err != nil || len(evs) != 0 {
			t.Fatalf("the named stream holds %+v (%v)", evs, err)
		}
	})
}

func TestRequestsEndOnceOnAWSFakes(t *testing.T) {
	b, _ := open(t)
	requestsEndOnce(t, b)
}

func TestRequestsEndOnceOnMoto(t *testing.T) {
	requestsEndOnce(t, motoBackend(t))
}

// The gatekeeper Lambda's handler (what cmd/gatekeeper's init returns),
// fed an SQS batch as the event source mapping delivers it, rejects both
// requests and reports no failure for the batch: nothing is retried.
func TestGatekeeperLambdaEndsRequestsItCannotForward(t *testing.T) {
	b, _ := open(t)
	pol, err := policy.Parse([]byte(config), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := b.Gatekeeper(pol).HandleSQSEvent
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := b.Client()

	foreign, foreignOwn := foreignRequest(t, ctx, c)
	large := schemas.JobRequest{
		JobID: producer.NewJobID(), Container: "infra", Script: "lines", Args: schemas.ArgList(bigArgs(35, 4000)...),
		Attempt: 1, SubmittedAt: time.Now().UTC(),
	}
	if large.Stream, err = c.Streams.Create(ctx, large.JobID, time.Hour); err != nil {
		t.Fatal(err)
	}
	var batch events.SQSEvent
	for _, req := range []schemas.JobRequest{foreign, large} {
		body, err := req.Encode()
		if err != nil {
			t.Fatal(err)
		}
		batch.Records = append(batch.Records, events.SQSMessage{
			MessageId: "m-" + req.JobID, ReceiptHandle: "r-" + req.JobID, Body: string(body), EventSource: "aws:sqs",
			Attributes: map[string]string{"SenderId": callerKey, "ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"},
		})
	}
	resp, err := h(ctx, batch)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("response %+v, %v: both requests must end, not be retried", resp, err)
	}
	checkEnded(t, ctx, c, producer.Job{ID: foreign.JobID, Stream: foreignOwn}, gatekeeper.ReasonMalformed, foreign.Stream)
	checkEnded(t, ctx, c, producer.Job{ID: large.JobID, Stream: large.Stream}, gatekeeper.ReasonTooLarge, "262,144 bytes")
}
