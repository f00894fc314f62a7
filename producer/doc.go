// Package producer is the caller's side of deployer: it builds a job
// request, opens the job's stream, enqueues the request, and follows the
// stream to the end, printing every line of the task's output exactly once
// and in order, then reports how the job ended.
//
// It is the engine beneath package client, which opens a backend and
// hands its ports to this package: Go programs, and the deployer CLI,
// use client. Its Client takes ports from internal packages, so it
// cannot be assembled outside this module, and only the names client
// re-exports are covered by client's compatibility promise.
//
// Guarantees of Follow: each line is delivered once, in the task's order,
// even when the stream delivers events twice, out of order, or late; when
// the terminal event promises N lines, Follow waits (bounded) for them and
// fills gaps from the task log source before it returns.
package producer
