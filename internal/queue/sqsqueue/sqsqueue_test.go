package sqsqueue_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/queue/queuetest"
	"github.com/deployerhq/deployer/internal/queue/sqsqueue"
	"github.com/deployerhq/deployer/test/awsfake"
	"github.com/deployerhq/deployer/test/awsfake/sqsfake"
)

// testKey is the access key id awstest.Config signs with; testSender is
// the unique id the fake reports for it, as SQS reports an IAM user's.
const (
	testKey    = "AKIDTESTTESTTESTTEST"
	testSender = "AIDATESTUSER0000000001"
)

// prefix is the deployment prefix of the tests' brokers.
const prefix = "deployer-test-"

func client(t testing.TB, endpoint string, hc *http.Client) *sqs.Client {
	t.Helper()
	return sqs.NewFromConfig(awstest.Config(t, endpoint, hc))
}

// startFake serves an SQS fake that reports testSender for testKey.
func startFake(t testing.TB, srv *awsfake.Server) (*sqsfake.Fake, string) {
	t.Helper()
	return sqsfake.StartWith(t, sqsfake.Options{Senders: map[string]string{testKey: testSender}}, srv)
}

// TestConformanceFake runs the suite against the HTTP-level fake. The fake
// delivers each message to one receiver at a time (sqlitequeue's
// guarantee), so MayDuplicate stays off; it accepts a stale receipt in
// DeleteMessage as SQS does, so LaxReceipts is on.
func TestConformanceFake(t *testing.T) {
	_, endpoint := startFake(t, &awsfake.Server{})
	b := sqsqueue.New(client(t, endpoint, nil), sqsqueue.Options{Prefix: prefix})
	queuetest.Run(t, queuetest.Features{
		SenderID:    testSender,
		Granularity: time.Second,
		LaxReceipts: true,
		NoOldestAge: true,
	}, func(*testing.T) queue.Broker { return b })
}

// TestConformanceExternal runs the suite against the endpoint named by
// DEPLOYER_TEST_AWS_ENDPOINT (moto, LocalStack, a proxy to an account).
// moto reports one fixed SenderId (AIDAIT2UOQQY3AUEKVGXU) whoever sends,
// so the SenderID check is off; it is a standard queue, so duplicates and
// lax receipts are allowed.
//
// moto (5.2) deletes a message given the receipt of any of its deliveries,
// where SQS, as documented, accepts a stale receipt without deleting
// anything; the StaleReceipt test is skipped there.
func TestConformanceExternal(t *testing.T) {
	endpoint := awstest.Endpoint(t, "sqs")
	b := sqsqueue.New(client(t, endpoint, nil), sqsqueue.Options{Prefix: prefix})
	moto := isMoto(t, endpoint)
	queuetest.Run(t, queuetest.Features{
		Granularity:  time.Second,
		LaxReceipts:  true,
		MayDuplicate: true,
		NoOldestAge:  true,
	}, func(t *testing.T) queue.Broker {
		if moto && strings.HasSuffix(t.Name(), "/StaleReceipt") {
			t.Skip("moto deletes a message given a stale receipt; SQS does not")
		}
		return b
	})
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
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_ = resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
