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
// hides its messages for the 30s visibility timeout, a delay, not a
// fault the adapter could absorb.
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
