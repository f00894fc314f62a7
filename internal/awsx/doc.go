// Package awsx is what every AWS adapter shares: how an aws.Config is
// loaded (default credential chain, region, AWS_ENDPOINT_URL and the
// per-service endpoint variables, which the SDK honours itself), the
// retry policy of every call (throttling, 5xx and broken connections
// retried with exponential backoff and jitter from cenkalti/backoff/v4,
// bounded, cancelled with the call's context), how a smithy API error is
// named, and an HTTP transport that counts calls per operation for the
// calls-per-job figures.
//
// Nothing outside the adapters imports it: ports carry no SDK types.
package awsx
