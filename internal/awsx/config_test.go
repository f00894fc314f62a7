package awsx_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/deployerhq/deployer/internal/awsx"
)

// A caller's HTTP client (counting calls) must work where AWS_CA_BUNDLE is
// set, as it is on many CI machines: the SDK refuses plain *http.Clients
// there.
func TestLoadAcceptsAClientWhenACABundleIsSet(t *testing.T) {
	t.Setenv("AWS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
	c := &awsx.CountingTransport{}
	cfg, err := awsx.Load(context.Background(), awsx.Options{Region: "us-east-1", HTTPClient: &http.Client{Transport: c}})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.HTTPClient == nil {
		t.Fatal("no HTTP client")
	}
}

func TestLoadWithoutRegionFails(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_PROFILE", "")
	if _, err := awsx.Load(context.Background(), awsx.Options{}); err == nil {
		t.Fatal("Load without a region succeeded")
	}
}

// Every call goes out with an in-memory copy of its body (see
// bufferedBodies): the server receives the whole body, and the caller's
// transport sees a body it can read again.
func TestRequestBodiesAreBuffered(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, string(b))
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = w.Write([]byte(`{"QueueUrls":[]}`))
	}))
	defer srv.Close()
	var rewindable bool
	client := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		rewindable = r.GetBody != nil
		return http.DefaultTransport.RoundTrip(r)
	})}
	cfg, err := awsx.Load(context.Background(), awsx.Options{Region: "us-east-1", HTTPClient: client,
		StaticCredentials: &awsx.Credentials{AccessKeyID: "AKID", SecretAccessKey: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	cfg.BaseEndpoint = aws.String(srv.URL)
	if _, err := sqs.NewFromConfig(cfg).ListQueues(context.Background(), &sqs.ListQueuesInput{QueueNamePrefix: aws.String("deployer-")}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !strings.Contains(got[0], `"QueueNamePrefix":"deployer-"`) || !rewindable {
		t.Fatalf("server got %q, rewindable %v", got, rewindable)
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
