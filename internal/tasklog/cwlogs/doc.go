// Package cwlogs is the CloudWatch Logs adapter of the task log port: it
// reads the log stream the awslogs driver writes for each ECS task
// ("<awslogs-stream-prefix>/<container-name>/<ecs-task-id>" in one log
// group) with GetLogEvents.
//
// A line's Seq is its 1-based position in the stream, its Time the
// event's timestamp, its Text the message with one trailing newline
// removed. GetLogEvents returns no event ids, so a line's ID is made from
// the task id and the seq ("<task-id>:<seq>"): unique and stable for a
// stream that is only appended to, as the conformance suite requires, but
// not the CloudWatch event id a subscription filter delivers.
//
// Reads are paged with GetLogEvents' forward tokens. For each of the last
// tasks read (Options.CacheTasks) the adapter remembers the token after
// the last line it returned, so a follower filling gaps or tailing a
// growing log resumes there instead of re-reading the stream from its
// head: reading n lines in pages costs about n/10,000 calls, not n²/limit.
// A missing group or stream is tasklog.ErrNotFound (so is a stream with no
// events yet); throttling that outlasts the SDK's retries is
// tasklog.ErrThrottled.
package cwlogs
