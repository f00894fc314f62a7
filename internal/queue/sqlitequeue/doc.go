// Package sqlitequeue is the embedded adapter of the queue port: SQS
// standard-queue semantics on two tables of the state database, so every
// process sharing the state directory (CLIs, "deployer up", workers) sees
// the same queues.
//
// A queue is a row of queue_queues; its messages are rows of
// queue_messages. All state lives in the database — nothing is kept only
// in memory — so any process can pick up what another left behind.
//
// Guarantees, beyond the port's contract:
//
//   - One delivery at a time. Receive claims messages in a single write
//     transaction (BEGIN IMMEDIATE): it selects visible messages, pushes
//     their visible_at into the future, bumps receives and stores a fresh
//     random receipt token, then commits. Two receivers, in this process
//     or another, never hold the same message while it is invisible.
//   - Receipts. A receipt is "<message id>.<token>"; every receive issues a
//     new token, so a receipt stops working once the message is received
//     again or deleted. Deleting with the receipt of a message that is gone
//     succeeds (Delete is idempotent); with a stale receipt of a message
//     still queued it fails with queue.ErrInvalidReceipt. A malformed
//     receipt is always queue.ErrInvalidReceipt.
//   - Dead letters. When a receive finds a message already received
//     MaxReceiveCount times, the same transaction moves it to the
//     dead-letter queue (as SQS does on the (max+1)-th receive) instead of
//     returning it. It keeps its id, body, attributes, sender and send time;
//     its receive count starts again at zero. A redrive policy needs the
//     dead-letter queue to exist when the queue is created; if it is deleted
//     later, messages stay in their queue until it is created again.
//   - Retention is counted from the original send and enforced lazily:
//     every receive first deletes the queue's expired messages.
//   - Long polls re-check the database every Options.PollInterval for
//     messages sent by other processes and wake at once for sends, visibility
//     resets and dead-letter moves made through the same *Broker. An idle
//     poll is a read; it takes no write lock.
//   - Limits are the SQS ones, checked before anything is written: a body of
//     1 byte to queue.MaxBodySize counting attribute names and values (and
//     the "String" type) as SQS does, at most queue.MaxAttributes attributes
//     with SQS-valid names and non-empty values, only the Unicode characters
//     SQS accepts, delays up to 15 minutes and batches of queue.MaxBatch.
//     Whatever works here therefore also fits real SQS.
//
// Unlike SQS, Create on an existing queue applies the configuration given
// (so an upgrade that changes a redrive limit takes effect) instead of
// failing when it differs.
//
// Times are Unix milliseconds from Options.Now (the host clock, which every
// process sharing the directory has in common). The *sql.DB must come from
// sqlitedb.Open or sqlitedb.OpenFile: the adapter relies on its WAL mode,
// busy timeout and BEGIN IMMEDIATE transactions.
package sqlitequeue
