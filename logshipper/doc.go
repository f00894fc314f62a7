// Package logshipper moves task output to job streams: it takes batches of
// a task's log lines and publishes them to the owning job's stream as "log"
// events, in order, split so each event stays well under the message size
// limit.
//
// The same Shipper serves both backends: the AWS Lambda feeds it the lines
// of a CloudWatch Logs subscription batch; the embedded backend feeds it
// the rows the local runner appends to its task log. Delivery is
// at-least-once: a batch shipped twice produces events with the same ids,
// and followers drop duplicate lines by their sequence numbers.
package logshipper
