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
//     visibility is extended on a ticker) and its lane lease is renewed,
//     on a goroutine of their own: a slow inspection never delays them.
//     Every call to a port has a deadline (Options.CallTimeout).
//   - Duplicate deliveries: an order delivered again while its job is
//     tracked is neither deleted nor given a second lane slot; the worker
//     keeps every receipt it holds and the queue's newest counts.
//   - Lane limits: a slot is reserved before each receive and becomes the
//     job's lease, held in the job's name (job id and attempt), not the
//     worker's. It lasts as long as the job's task may run: a job handed
//     back keeps it for its adopter, and the workers left keep the lease
//     of a task nobody tracks (its worker died or left) while the runner
//     reports it running, and free it once it has stopped. So a lane never
//     runs more tasks than its limit, whoever tracks them.
//   - Shutdown: when Run's context ends the worker stops receiving and keeps
//     tracking its tasks for up to DrainTimeout, then hands the rest back
//     (visibility 0) for another worker to adopt. Abort hands back at once;
//     it may come before Run.
//   - Canaries (schemas.RunOrder.Canary) take no lane slot and no slot of
//     the worker's capacity, like cancel orders: they arrive through the
//     cancel queue as well as their lane's, and whichever copy comes first
//     runs the version probe once (see takeCanary). They are never retried
//     nor dead-lettered.
//   - Nothing is acknowledged before its outcome is recorded: the run order
//     is deleted only after the terminal event, the dead letter or the
//     retry is safely sent.
//   - Observable: each job's queue wait, task start and run spans
//     continue the trace its run order carries (Options.Tracer), its task
//     gets the run span as TRACEPARENT, its log lines name its job id,
//     attempt and trace id, and Options.Observer hears of its end.
package worker
