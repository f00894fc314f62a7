// Package cwjournal is the CloudWatch Logs adapter of the journal port:
// each job's history is one log stream ("<StreamPrefix><job-id>") in one
// log group, one log event per job event, the message being the event's
// JSON.
//
// Order. CloudWatch Logs returns a stream's events ordered by timestamp,
// not by arrival. Every event is therefore stamped with its append time
// (the event's own Time travels inside the JSON), and the stamps one
// process hands out are strictly increasing (a millisecond apart when
// appends come faster than the clock moves), so the events of one Append,
// and the Appends of one process, read back in the order they were made
// without relying on how CloudWatch orders equal timestamps (it does not
// document it). Events appended by different processes (the gatekeeper
// Lambda and a worker) are ordered by their hosts' clocks.
//
// Idempotence. Appending an event whose id the journal already holds is a
// no-op as the port requires, implemented on the read side: Read keeps
// the first event of each id and drops later copies. Appenders in
// different processes therefore need no coordination (no conditional
// write exists in CloudWatch Logs), and a PutLogEvents retried after a
// lost answer is harmless. Duplicates cost storage, not correctness.
//
// Append creates the stream when it is missing (the log group must
// exist) and batches events within PutLogEvents' limits (10,000 events,
// 1,048,576 bytes counting 26 bytes per event); a single event larger
// than CloudWatch's 1 MB event limit is refused. Events CloudWatch
// rejects as too old or too new (a clock more than 2 hours off, or
// outside the group's retention) make Append fail. Read returns
// journal.ErrNotFound when the stream is missing or empty, and skips
// entries that do not decode (counting them in a log line).
package cwjournal
