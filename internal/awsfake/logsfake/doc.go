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
package logsfake
