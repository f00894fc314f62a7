// Package producer is the caller's side of deployer: it builds a job
// request, opens the job's stream, enqueues the request, and follows the
// stream to the end, printing every line of the task's output exactly once
// and in order, then reports how the job ended.
//
// The deployer CLI is a thin shell around this package; CI systems and
// other tools can use it directly with any backend's ports.
//
// Guarantees of Follow: each line is delivered once, in the task's order,
// even when the stream delivers events twice, out of order, or late; when
// the terminal event promises N lines, Follow waits (bounded) for them and
// fills gaps from the task log source before it returns.
package producer
