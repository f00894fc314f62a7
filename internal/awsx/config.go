package awsx

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/cenkalti/backoff/v4"
)

// Options tune Load. The zero value loads the default configuration.
type Options struct {
	// Region overrides AWS_REGION and the shared config's region.
	Region string
	// BaseEndpoint, when set, sends every service's calls to this URL (an
	// emulator), as AWS_ENDPOINT_URL does; it takes precedence over the
	// endpoint variables.
	BaseEndpoint string
	// HTTPClient replaces the SDK's HTTP client (a counting or
	// fault-injecting transport in tests and benchmarks). Its transport
	// owns TLS: AWS_CA_BUNDLE is not applied to it.
	HTTPClient *http.Client
	// StaticCredentials, when set, replaces the credential chain with an
	// access key pair (tests against emulators).
	StaticCredentials *Credentials
	// Retry is the retry policy. Zero values take DefaultRetry's.
	Retry RetryPolicy
}

// Credentials is a static access key pair.
type Credentials struct {
	AccessKeyID, SecretAccessKey string
}

// RetryPolicy bounds the retries of one call.
type RetryPolicy struct {
	// MaxAttempts is how many times a call is tried. Defaults to 8.
	MaxAttempts int
	// Initial is the first backoff. Defaults to 100ms.
	Initial time.Duration
	// Max caps one backoff. Defaults to 10s.
	Max time.Duration
}

// DefaultRetry is the retry policy of every call unless Options.Retry says
// otherwise: up to 8 tries, 100ms doubling to at most 10s, ±50% jitter
// (about 40s in all before giving up).
var DefaultRetry = RetryPolicy{MaxAttempts: 8, Initial: 100 * time.Millisecond, Max: 10 * time.Second}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultRetry.MaxAttempts
	}
	if p.Initial <= 0 {
		p.Initial = DefaultRetry.Initial
	}
	if p.Max <= 0 {
		p.Max = DefaultRetry.Max
	}
	return p
}

// Load returns the AWS configuration every adapter uses: the default
// credential chain and region resolution, the endpoint variables
// (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_SQS, ...), and the retry policy. A
// configuration with no region is an error, not a guess.
func Load(ctx context.Context, o Options) (aws.Config, error) {
	loaders := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer { return NewRetryer(o.Retry) }),
	}
	if o.Region != "" {
		loaders = append(loaders, config.WithRegion(o.Region))
	}
	if o.BaseEndpoint != "" {
		loaders = append(loaders, config.WithBaseEndpoint(o.BaseEndpoint))
	}
	if c := o.StaticCredentials; c != nil {
		loaders = append(loaders, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loaders...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if o.HTTPClient != nil {
		// Set after loading: the SDK applies AWS_CA_BUNDLE only to its own
		// client type and refuses any other while loading.
		cfg.HTTPClient = o.HTTPClient
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = awshttp.NewBuildableClient()
	}
	cfg.HTTPClient = bufferedBodies{next: cfg.HTTPClient}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: no region: set --region, AWS_REGION or a profile's region")
	}
	return cfg, nil
}

// NewRetryer returns the SDK retryer of policy p: the SDK's standard
// classification of retryable errors (throttling codes, 5xx, connection
// resets, timeouts), delays drawn from a cenkalti/backoff exponential
// backoff with jitter, and no client-side retry quota, so a burst of
// throttling slows calls down instead of failing them early.
func NewRetryer(p RetryPolicy) aws.Retryer {
	p = p.withDefaults()
	return retry.NewStandard(func(so *retry.StandardOptions) {
		so.MaxAttempts = p.MaxAttempts
		so.MaxBackoff = p.Max
		so.Backoff = delayer(p)
		so.RateLimiter = ratelimit.None
	})
}

// delayer computes the backoff before retry attempt n (1-based) with
// backoff/v4's exponential policy.
type delayer RetryPolicy

func (d delayer) BackoffDelay(attempt int, _ error) (time.Duration, error) {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(d.Initial),
		backoff.WithMaxInterval(d.Max),
		backoff.WithMaxElapsedTime(0),
	)
	var delay time.Duration
	for range max(attempt, 1) {
		delay = b.NextBackOff()
	}
	return delay, nil
}

// bufferedBodies sends every request with an in-memory copy of its body.
// The SDK closes a request's body as soon as the response headers arrive,
// which races with net/http's write loop: now and then the connection is
// closed while the response body is still being read ("use of closed
// network connection", aws/aws-sdk-go-v2#1825 and #2737) and the call is
// retried — an extra call at best, a failed one when retries run out. Our
// request bodies are small (at most about 1 MiB, a PutLogEvents batch).
type bufferedBodies struct{ next aws.HTTPClient }

func (b bufferedBodies) Do(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return b.next.Do(req)
	}
	body, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("reading the body of %s: %w", Operation(req), err)
	}
	req = req.Clone(req.Context())
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return b.next.Do(req)
}
