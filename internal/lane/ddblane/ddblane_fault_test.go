package ddblane_test

import (
	"bytes"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/internal/lane"
	"github.com/deployerhq/deployer/internal/lane/ddblane"
	"github.com/deployerhq/deployer/internal/lane/lanetest"
	"github.com/deployerhq/deployer/test/awsfake/ddbfake"
)

// faultClient is a DynamoDB client for endpoint whose calls go through
// next, fault-injecting.
func faultClient(t *testing.T, endpoint string, next *awsx.FaultTransport) *dynamodb.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	last := next
	for last.Next != nil {
		last = last.Next.(*awsx.FaultTransport)
	}
	last.Next = tr
	// Eight attempts, not the test config's five: a call meets up to 14%
	// of faults, and five in a row (5e-5) happened over the suite's
	// thousands of calls; eight in a row is about 1.5e-7.
	return dynamodb.NewFromConfig(awstest.Config(t, endpoint, &http.Client{Transport: crcTransport{next}, Timeout: time.Minute}),
		func(o *dynamodb.Options) { o.RetryMaxAttempts = 8 })
}

// crcTransport stamps the error answers FaultTransport makes up with the
// X-Amz-Crc32 header DynamoDB sends with every answer, so that the SDK's
// checksum validation sees what it would from DynamoDB.
type crcTransport struct{ next http.RoundTripper }

func (c crcTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil || resp.Header.Get("X-Amz-Crc32") != "" {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.Header.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	return resp, nil
}

// TestConformanceUnderFaults runs the lane suite against the fake over a
// transport that throttles, answers 500 and resets connections before the
// request is sent (3% each), with up to 10ms of added latency: the SDK
// retryer absorbs them and the suite passes unchanged.
func TestConformanceUnderFaults(t *testing.T) {
	ft := &awsx.FaultTransport{Throttle: 0.03, ServerError: 0.03, ResetBefore: 0.03, Latency: 10 * time.Millisecond, FirstOfEach: true}
	_, url := fakeEndpoint(t, ddbfake.Options{}, nil)
	l := newLimiter(t, faultClient(t, url, ft), ddblane.Options{})
	t.Run("suite", func(t *testing.T) {
		lanetest.Run(t, func(t *testing.T) lane.Limiter { return l })
	})
	t.Logf("faults absorbed: %v", ft.Faults())
	if m := ft.Missing(); len(m) > 0 {
		t.Errorf("faults never injected: %v: the test proved less than it says", m)
	}
}

// TestConformanceUnderResetsAfter also resets 5% of the calls after
// DynamoDB acted on them: a conditional write whose answer is lost is
// sent again and must not be mistaken for another holder's.
func TestConformanceUnderResetsAfter(t *testing.T) {
	after := &awsx.FaultTransport{ResetAfter: 0.05, FirstOfEach: true}
	ft := &awsx.FaultTransport{Next: after, Throttle: 0.03, ServerError: 0.03, ResetBefore: 0.03, Latency: 5 * time.Millisecond, FirstOfEach: true}
	_, url := fakeEndpoint(t, ddbfake.Options{}, nil)
	l := newLimiter(t, faultClient(t, url, ft), ddblane.Options{})
	t.Run("suite", func(t *testing.T) {
		lanetest.Run(t, func(t *testing.T) lane.Limiter { return l })
	})
	t.Logf("faults absorbed: %v; answers lost after DynamoDB acted: %v", ft.Faults(), after.Faults())
	if m := append(ft.Missing(), after.Missing()...); len(m) > 0 {
		t.Errorf("faults never injected: %v: the test proved less than it says", m)
	}
}
