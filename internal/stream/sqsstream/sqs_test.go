package sqsstream_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/internal/queue/sqsqueue"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/internal/stream/sqsstream"
	"github.com/deployerhq/deployer/internal/stream/streamtest"
	"github.com/deployerhq/deployer/schemas"
	"github.com/deployerhq/deployer/test/awsfake"
	"github.com/deployerhq/deployer/test/awsfake/sqsfake"
)

// prefix is the deployment prefix of the tests' SQS brokers: the suite's
// janitor runs only touch queues under it.
const prefix = "deployer-sqsstream-test-"

// sqsBroker returns an sqsqueue broker on endpoint whose HTTP calls go
// through counter (when not nil). Idle connections are closed when t
// ends, so no goroutine outlives the test.
func sqsBroker(t testing.TB, endpoint string, counter *awsx.CountingTransport) *sqsqueue.Broker {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	var rt http.RoundTripper = tr
	if counter != nil {
		counter.Next = tr
		rt = counter
	}
	hc := &http.Client{Transport: rt, Timeout: 60 * time.Second}
	return sqsqueue.New(sqs.NewFromConfig(awstest.Config(t, endpoint, hc)), sqsqueue.Options{Prefix: prefix})
}

// TestConformanceSQSFake runs the suite through sqsqueue against the
// HTTP-level SQS fake: the real SDK, real request and response shapes.
func TestConformanceSQSFake(t *testing.T) {
	_, endpoint := sqsfake.StartWith(t, sqsfake.Options{}, &awsfake.Server{})
	b := sqsBroker(t, endpoint, nil)
	f := features
	// A receive whose answer is lost (and retried by the SDK) hides its
	// messages for the 30s visibility timeout: wait longer than that.
	f.Timeout = 45 * time.Second
	streamtest.Run(t, f, func(*testing.T) stream.Streams {
		return sqsstream.New(b, sqsstream.Options{})
	})
}

// TestConformanceSQSExternal runs the suite through sqsqueue against the
// endpoint named by DEPLOYER_TEST_AWS_ENDPOINT (moto, LocalStack, a real
// account). Queues are made under prefix and deleted by the suite.
//
// moto (5.2.1) takes time proportional to the messages already in a queue
// to accept each SendMessageBatch (about 80ms on an empty queue and 1s at
// 800 messages on the test machine), so a burst of 2000 takes minutes;
// under moto the burst is 200 events.
func TestConformanceSQSExternal(t *testing.T) {
	endpoint := awstest.Endpoint(t, "sqs")
	b := sqsBroker(t, endpoint, nil)
	f := features
	f.Timeout = 90 * time.Second // SQS may take up to 60s to forget a deleted queue
	if isMoto(t, endpoint) {
		f.BurstSize = 200
	}
	streamtest.Run(t, f, func(*testing.T) stream.Streams {
		return sqsstream.New(b, sqsstream.Options{})
	})
}

// TestCallsPerEvent counts the SQS calls of a burst of events published
// in batches of 50 and read by one follower, through the fake: about one
// SendMessageBatch, one ReceiveMessage and one DeleteMessageBatch per ten
// events.
func TestCallsPerEvent(t *testing.T) {
	_, endpoint := sqsfake.StartWith(t, sqsfake.Options{}, &awsfake.Server{})
	counter := &awsx.CountingTransport{}
	s := sqsstream.New(sqsBroker(t, endpoint, counter), sqsstream.Options{})
	ctx := t.Context()
	job := newJob()
	addr, err := s.Create(ctx, job, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Delete(context.WithoutCancel(ctx), addr) }()
	const n = 500
	var evs []schemas.JobEvent
	for i := range n {
		evs = append(evs, event(job, i))
	}
	counter.Reset()
	for i := 0; i < n; i += 50 {
		if err := s.Publish(ctx, addr, evs[i:i+50]...); err != nil {
			t.Fatal(err)
		}
	}
	sends := counter.Total("sqs:SendMessageBatch")
	if sends != n/10 {
		t.Errorf("%d SendMessageBatch calls for %d events, want %d", sends, n, n/10)
	}
	sub, err := s.Subscribe(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Close() }()
	counter.Reset()
	seen := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for len(seen) < n {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d events", len(seen), n)
		}
		got, err := sub.Next(ctx, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range got {
			seen[ev.ID] = true
		}
	}
	receives, deletes := counter.Total("sqs:ReceiveMessage"), counter.Total("sqs:DeleteMessageBatch")
	if receives < n/10 || receives > n/10+5 || deletes != receives {
		t.Errorf("reading %d events took %d ReceiveMessage and %d DeleteMessageBatch calls, want about %d of each",
			n, receives, deletes, n/10)
	}
	if other := counter.Total() - receives - deletes; other != 0 {
		t.Errorf("%d other calls while reading: %v", other, counter.Counts())
	}
	t.Logf("%d events: %d SendMessageBatch, %d ReceiveMessage, %d DeleteMessageBatch calls", n, sends, receives, deletes)
	if strings.Contains(addr, prefix) {
		t.Errorf("address %q carries the broker's prefix", addr)
	}
}

// isMoto reports whether endpoint is a moto server (it answers its
// /moto-api/ dashboard).
func isMoto(t testing.TB, endpoint string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(endpoint, "/")+"/moto-api/", nil)
	if err != nil {
		return false
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
