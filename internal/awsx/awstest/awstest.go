// Package awstest points the AWS adapters' tests at an endpoint: an
// emulator named by DEPLOYER_TEST_AWS_ENDPOINT (moto, LocalStack,
// ElasticMQ, a real account's proxy) or an in-process HTTP fake, always
// with dummy credentials and short retries.
package awstest

import (
	"context"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/deployerhq/deployer/internal/awsx"
)

// Environment variables that point the suites at an external endpoint.
const (
	EnvEndpoint = "DEPLOYER_TEST_AWS_ENDPOINT"
	EnvServices = "DEPLOYER_TEST_AWS_SERVICES"
)

// Endpoint returns the external endpoint that provides service ("sqs",
// "logs", "ecs") and true, or skips the test when none is configured for
// it. DEPLOYER_TEST_AWS_SERVICES (comma-separated) limits which services
// the endpoint provides; unset, it provides all.
func Endpoint(t testing.TB, service string) string {
	t.Helper()
	ep := os.Getenv(EnvEndpoint)
	if ep == "" {
		t.Skipf("%s is not set: no external AWS endpoint to test against", EnvEndpoint)
	}
	if s := os.Getenv(EnvServices); s != "" && !slices.Contains(strings.Split(s, ","), service) {
		t.Skipf("%s does not list %s", EnvServices, service)
	}
	return ep
}

// Config returns an aws.Config for endpoint with dummy credentials, region
// us-east-1 and quick retries. client may be nil.
func Config(t testing.TB, endpoint string, client *http.Client) aws.Config {
	t.Helper()
	if client == nil {
		client = &http.Client{Timeout: 60 * time.Second}
	}
	cfg, err := awsx.Load(context.Background(), awsx.Options{
		Region:            "us-east-1",
		HTTPClient:        client,
		StaticCredentials: &awsx.Credentials{AccessKeyID: "AKIDTESTTESTTESTTEST", SecretAccessKey: "test-secret"},
		Retry:             awsx.RetryPolicy{MaxAttempts: 5, Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond},
	})
	if err != nil {
		t.Fatalf("aws config: %v", err)
	}
	cfg.BaseEndpoint = aws.String(endpoint)
	return cfg
}
