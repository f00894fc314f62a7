// Package logsfake is an HTTP-level fake of Amazon CloudWatch Logs (the
// awsJson1_1 protocol, target prefix Logs_20140328) on awsfake.Server, for
// tests that run the real aws-sdk-go-v2 client end to end.
//
// It serves CreateLogGroup, DeleteLogGroup, DescribeLogGroups,
// CreateLogStream, DeleteLogStream, DescribeLogStreams, PutLogEvents,
// GetLogEvents, FilterLogEvents and PutRetentionPolicy with AWS's
// documented request and response shapes, validations and error codes:
//
//   - PutLogEvents enforces the documented batch rules: at most 10,000
//     events and 1,048,576 bytes (message bytes plus 26 per event), each
//     event at most 1 MB, events in chronological order, a span of at most
//     24 hours; events more than 2 hours in the future, older than 14 days
//     or older than the group's retention are rejected through
//     rejectedLogEventsInfo while the others are stored.
//   - A stream keeps its events ordered by timestamp; events with equal
//     timestamps keep the order they were ingested in (AWS does not
//     document how it orders ties; in practice it is ingestion order).
//   - GetLogEvents pages with "f/…" and "b/…" tokens; at the end of the
//     stream the token sent comes back unchanged, as AWS documents.
//   - Throttling (or any other failure) is injected with SetHook.
//
// Other fakes and tests write events straight into a stream with Append
// (the ECS fake's tasks write their output through it), bypassing the
// API's validations.
//
// # Subscription filters
//
// PutSubscriptionFilter, DescribeSubscriptionFilters and
// DeleteSubscriptionFilter are served with AWS's shapes (two filters a
// group, LimitExceededException beyond; the filter pattern as
// FilterLogEvents understands it). The destination is a Go function
// registered under its ARN (SetDestination): a Lambda function's handler,
// such as the logshipper's. Putting a filter invokes it with a
// CONTROL_MESSAGE first, and fails with InvalidParameterException when it
// cannot be invoked, as CloudWatch Logs does. From then on, every event
// stored in the group (by PutLogEvents or Append) that the pattern
// matches is delivered, in batches of one log stream's events taken in
// for Delivery.Delay, as a DATA_MESSAGE built as AWS builds it: the JSON
// document (owner, log group and stream, filter names, events with the
// ids FilterLogEvents gives them), gzipped, base64-encoded, in an
// events.CloudwatchLogsEvent. Deliveries run one at a time on a goroutine
// of the fake (Close stops it; Start closes the fake when the test
// ends); a failed invocation is retried twice, as Lambda retries an
// asynchronous invocation, then dropped. SetDelivery injects what
// CloudWatch Logs and Lambda may do: a batch delivered twice, held back
// so that later ones overtake it, or delivered late (after the task
// ended). WaitDelivered waits for every pending delivery, DeliveryStats
// counts them.
//
// moto serves CloudWatch Logs faithfully enough for the adapters' suites
// (cwlogs, cwjournal run on it in CI), but its subscription filters
// invoke Lambda functions it runs itself: this fake is what delivers
// subscriptions to an in-process handler.
package logsfake
