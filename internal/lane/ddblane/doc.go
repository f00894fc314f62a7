// Package ddblane is the AWS adapter of the lane port: concurrency-lane
// leases as items of one DynamoDB table, so a lane's limit holds across
// every worker in every process and host.
//
// Each lane has up to limit slot items: partition key lane (S), sort key
// slot (N, 0..limit-1), attributes holder (S) and expires_at (N, Unix
// milliseconds). A slot is free when its item is missing or its
// expires_at has passed. Acquire reads the lane with one strongly
// consistent Query, renews the holder's live lease if it has one
// (UpdateItem conditioned on holder), and otherwise takes a free slot
// with a PutItem conditioned on the slot still being free (or already
// the holder's, so a retried PutItem is idempotent), starting from
// a random free slot to spread contention and moving on when another
// acquirer won the race. Every write is conditional, so concurrent
// acquirers, in this process or any other, never put more than limit
// live holders into slots below limit; when a lane's limit is lowered,
// slots at or above the new limit are ignored, so no new holder gets in
// until the live ones fall below it. Renew and Release are conditioned on
// the holder, so nobody extends or frees a lease that passed to another.
// Transfer rewrites the holder of a slot with one UpdateItem conditioned
// on the old holder still holding it, so the lane's count never moves.
// A typical Acquire costs one Query and one PutItem; Renew one UpdateItem
// (the slot is remembered per Limiter, and verified by the condition);
// Transfer one Query and one UpdateItem; Leases one Query.
//
// Clocks: a lease is judged live or expired by the clock of the caller
// making the call (Options.Now), not by DynamoDB. Workers whose clocks
// disagree by d can see a lease expire up to d early or late, so a
// lease's ttl must exceed the clock skew between workers by a wide
// margin: the worker uses its visibility timeout (30–60 s) as ttl and
// renews well before it, while NTP keeps EC2 and Fargate clocks within
// milliseconds. A lease exactly at its expires_at is expired (Renew
// fails, Acquire can take the slot).
//
// Errors: throttling that outlasts the SDK retryer
// (ProvisionedThroughputExceededException, ThrottlingException,
// RequestLimitExceeded) is returned wrapped, and awsx.Throttled
// recognises it, so the worker retries the job later; a missing table is
// an error naming it. The table needs no TTL setting: expired items are
// overwritten by the next acquirer or deleted by Release.
package ddblane
