// Package worker consumes run orders and sees each job through: it starts
// exactly one task per job and attempt, tracks it to the end, enforces the
// job's timeout and its lane's concurrency limit, reports every state change
// on the job's stream and journal, and dead-letters jobs that fail.
//
// Guarantees:
//   - Idempotent starts: the runner never starts two tasks for one job id
//     and attempt, so a run order delivered twice, or redelivered after a
//     worker died, resumes tracking the task already running.
//   - Heartbeats: while a task runs, its run order stays invisible (its
//     visibility is extended on a ticker) and its lane lease is renewed.
//   - Shutdown: when Run's context ends the worker stops receiving and keeps
//     tracking its tasks for up to DrainTimeout, then hands the rest back
//     (visibility 0) for another worker to adopt. Abort hands back at once.
//   - Nothing is acknowledged before its outcome is recorded: the run order
//     is deleted only after the terminal event, the dead letter or the
//     retry is safely sent.
package worker
