// Package sqsstream is the AWS adapter of the stream port: one SQS queue
// per job, reached through the queue port (queue.Broker) rather than the
// SDK, so the tree has one SQS implementation (sqsqueue) and the adapter
// can be tested over the embedded broker (sqlitequeue) as well.
//
// Why a queue per job: a waiting caller long-polls its own queue, about
// three ReceiveMessage calls a minute while idle (20s polls), with no
// account-wide rate limit, instead of polling CloudWatch Logs, whose read
// APIs are throttled per account and Region.
//
// Guarantees and limits, beyond the port's contract:
//
//   - Addresses are "job-<JOBID>", the queue's name through the port (the
//     broker adds the deployment prefix). Anything else is
//     stream.ErrInvalidAddress.
//   - Create makes the queue with a retention of the ttl clamped to SQS's
//     [1 minute, 14 days], a 30s visibility timeout, and the tags
//     deployer:job_id and deployer:expires_at (now+ttl, RFC 3339, UTC,
//     rounded up to the second). Creating an existing stream opens it;
//     whether its expiry moves to the new now+ttl is the broker's choice
//     (sqlitequeue applies the new configuration and tags; SQS returns an
//     existing queue with the same attributes unchanged), so a producer
//     that wants a longer life creates it with the longer ttl first.
//   - Publish sends one SQS message per event (body: the event's JSON;
//     message attributes schema and type), in batches of at most
//     queue.MaxBatch whose total stays within queue.MaxBodySize. Every event
//     is validated and sized before anything is sent; a refused event
//     (invalid, of another job, or too large) fails the whole call with
//     schemas.ErrMalformed or schemas.ErrTooLarge.
//     Entries of a batch that fail for a reason other than being invalid
//     are retried alone, Options.Retries times. A Publish that fails midway
//     may have sent some events; publishing them again is safe, because
//     followers drop duplicates by event id.
//   - Not replayable, not ordered, at-least-once: Next receives up to 10
//     messages, deletes them all (skipped ones included) with a context
//     that survives the caller's cancellation, and returns the events. An
//     event is consumed by whoever reads it; one whose delete failed comes
//     back after the visibility timeout, as a duplicate.
//   - A read whose answer is lost after SQS handed messages over (a
//     connection cut while the answer was read, or reset after it came
//     and the SDK tried again) hides those messages for the visibility
//     timeout, which every read asks for explicitly. The subscription
//     notes it (a failed receive, or the queue port's LostAnswer), and
//     HiddenUntil says when they are back (the timeout and a second
//     after the lost read): followers read once more from then on before
//     they count promised lines as missing.
//   - Next waits in long polls of whole seconds, at most 20s each, until
//     events arrive or its wait has passed. Bodies that do not decode as a
//     job event, or that belong to another job, are logged, deleted and
//     skipped.
//   - DeleteExpired lists the "job-" queues, reads each one's tags and
//     deletes those whose deployer:expires_at is at or before now. A queue
//     without a readable expiry is left alone and logged at warning level
//     (it is not counted, and it is not an error: one foreign queue must not
//     fail every janitor run). Queues that vanish meanwhile are skipped.
//     Other failures are joined into the returned error after the janitor
//     has gone through every queue.
//   - Errors: a missing queue is stream.ErrNotFound, throttling (after the
//     broker's own retries) stream.ErrThrottled; the queue port's error
//     stays in the chain.
package sqsstream
