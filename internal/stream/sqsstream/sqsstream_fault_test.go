package sqsstream_test

import (
	"net/http"
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

// TestConformanceUnderFaults runs the stream suite through sqsqueue against
// the SQS fake, over a transport that throttles, answers 500 and resets
// connections before the request is sent (3% each) with up to 10ms of
// added latency. It also resets 5% of the sends and deletes after SQS
// took them: a resent event is a duplicate, which the stream's features
// allow (Duplicates: followers dedupe by event id), and a repeated delete
// changes nothing. Receives are not reset after the fact: a lost answer
// hides its messages for the 30s visibility timeout, a delay the suite's
// waits do not allow for (a follower waits it out:
// TestSubscriptionSaysWhatALostReadHid).
func TestConformanceUnderFaults(t *testing.T) {
	_, endpoint := sqsfake.StartWith(t, sqsfake.Options{}, &awsfake.Server{})
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	after := &awsx.FaultTransport{Next: tr, ResetAfter: 0.05,
		Only: []string{"sqs:SendMessage", "sqs:SendMessageBatch", "sqs:DeleteMessage", "sqs:DeleteMessageBatch"}, FirstOfEach: true}
	ft := &awsx.FaultTransport{Next: after, Throttle: 0.03, ServerError: 0.03, ResetBefore: 0.03, Latency: 10 * time.Millisecond, FirstOfEach: true}
	hc := &http.Client{Transport: ft, Timeout: time.Minute}
	b := sqsqueue.New(sqs.NewFromConfig(awstest.Config(t, endpoint, hc), func(o *sqs.Options) { o.RetryMaxAttempts = faultAttempts }), sqsqueue.Options{Prefix: prefix})
	f := features
	f.Timeout = 45 * time.Second
	t.Run("suite", func(t *testing.T) {
		streamtest.Run(t, f, func(*testing.T) stream.Streams {
			return sqsstream.New(b, sqsstream.Options{})
		})
	})
	t.Logf("faults absorbed: %v; resets after a send or delete reached SQS: %v", ft.Faults(), after.Faults())
	if m := append(ft.Missing(), after.Missing()...); len(m) > 0 {
		t.Errorf("faults never injected: %v: the test proved less than it says", m)
	}
}

// faultAttempts replaces the test config's five attempts: a call meets up
// to 14% of faults, and five in a row happen over a suite's thousands of
// calls; eight in a row (about 1.5e-7) do not.
const faultAttempts = 8

// TestSubscriptionSaysWhatALostReadHid: a receive whose answer is lost
// after SQS handed the event over hides it for the visibility timeout
// the subscription asks for; HiddenUntil says until when, so that a
// follower does not give up on the event before it is back. Cut off while
// it is read, the answer fails Next; reset after it came, the SDK's retry
// comes back empty. A read that lost nothing leaves HiddenUntil zero.
func TestSubscriptionSaysWhatALostReadHid(t *testing.T) {
	_, endpoint := sqsfake.StartWith(t, sqsfake.Options{}, &awsfake.Server{})
	for _, c := range []struct {
		name  string
		fault *awsx.FaultTransport
		fails bool
	}{
		{"answer cut off half way", &awsx.FaultTransport{CutAnswer: 1e-12}, true},
		{"connection reset after the answer", &awsx.FaultTransport{ResetAfter: 1e-12}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			clk := newClock()
			clean := sqsstream.New(sqsBroker(t, endpoint, nil), sqsstream.Options{Now: clk.Now})
			tr := &http.Transport{}
			t.Cleanup(tr.CloseIdleConnections)
			c.fault.Next, c.fault.Only, c.fault.FirstOfEach = tr, []string{"sqs:ReceiveMessage"}, true
			hc := &http.Client{Transport: c.fault, Timeout: time.Minute}
			faulty := sqsstream.New(sqsqueue.New(sqs.NewFromConfig(awstest.Config(t, endpoint, hc)), sqsqueue.Options{Prefix: prefix}),
				sqsstream.Options{Now: clk.Now})

			jobID := newJob()
			address, err := clean.Create(ctx, jobID, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			read := func(s *sqsstream.Streams) (stream.Subscription, []schemas.JobEvent, error) {
				t.Helper()
				if err := clean.Publish(ctx, address, event(jobID, 1)); err != nil {
					t.Fatal(err)
				}
				sub, err := s.Subscribe(ctx, address)
				if err != nil {
					t.Fatal(err)
				}
				if !sub.HiddenUntil().IsZero() {
					t.Fatalf("a new subscription says events are hidden until %s", sub.HiddenUntil())
				}
				evs, err := sub.Next(ctx, 0)
				return sub, evs, err
			}

			sub, evs, err := read(clean)
			if err != nil || len(evs) != 1 || !sub.HiddenUntil().IsZero() {
				t.Fatalf("a clean read: %d events, %v; hidden until %s", len(evs), err, sub.HiddenUntil())
			}

			clk.Add(time.Minute)
			sub, evs, err = read(faulty)
			if (err != nil) != c.fails || len(evs) != 0 {
				t.Fatalf("the lost read: %d events, %v; want none, and a failure: %v", len(evs), err, c.fails)
			}
			if m := c.fault.Missing(); m != nil {
				t.Fatalf("faults never injected: %v", m)
			}
			if got, want := sub.HiddenUntil(), clk.Now().Add(sqsstream.Visibility+time.Second); !got.Equal(want) {
				t.Errorf("hidden until %s, want %s (the visibility timeout and a second after the lost read)", got, want)
			}
		})
	}
}
