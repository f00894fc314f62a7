// Package logshipper moves task output to job streams: it takes batches of
// a task's log lines and publishes them to the owning job's stream as "log"
// events, in order, split so each event stays well under the message size
// limit.
//
// The same Shipper serves both backends: the AWS Lambda feeds it the lines
// of a CloudWatch Logs subscription batch; the embedded backend feeds it
// the rows the local runner appends to its task log. Delivery is
// at-least-once: a batch shipped twice produces events with the same ids,
// and followers drop duplicate lines by their sequence numbers, or by
// their ids for unsequenced lines (CloudWatch events have ids but no
// sequence numbers).
//
// Lambda is the AWS side: it decodes a CloudWatch Logs subscription
// payload (bounded to MaxDecodedSize decompressed), finds the job of the
// ECS task that wrote the log stream, and ships the lines to the job's
// stream. It returns an error only for what a retry can fix.
package logshipper
