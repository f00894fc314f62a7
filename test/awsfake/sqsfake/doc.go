// Package sqsfake is an HTTP-level fake of Amazon SQS standard queues for
// tests: it speaks the SQS JSON protocol (awsJson1_0, X-Amz-Target prefix
// AmazonSQS, content type application/x-amz-json-1.0, with the
// awsQueryCompatible x-amzn-query-error header) on an awsfake.Server, so an
// adapter's tests run the real aws-sdk-go-v2 client end to end: its
// serializers, checksum validation, retryer and error deserializers.
//
// Message semantics come from sqlitequeue on a SQLite file of the fake's
// own: visibility timeouts, receipts, redrive to a dead-letter queue,
// retention and long polling are that adapter's, not a re-implementation.
// The fake keeps one sqlitequeue.Broker per sender over one *sql.DB, and
// sends through the broker of the request's sender, so the SenderId system
// attribute is the identity that signed the SendMessage request: the
// access key id of the SigV4 Authorization header (Credential=AKID/...),
// mapped through Options.Senders (real SQS reports the caller's unique id,
// AIDA... for an IAM user, AROA...:session for a role).
//
// What it answers as AWS does (the SQS API reference and the SDK's model
// of it):
//
//   - Errors: __type "com.amazonaws.sqs#<Shape>" with the query-compatible
//     code in x-amzn-query-error ("AWS.SimpleQueueService.NonExistentQueue;Sender"
//     for QueueDoesNotExist, "QueueAlreadyExists" for QueueNameExists,
//     "ReceiptHandleIsInvalid", ...), and the unmodelled common errors
//     (InvalidParameterValue, MissingParameter) the same way. Statuses are
//     the model's (404 for ReceiptHandleIsInvalid, 403 for
//     PurgeQueueInProgress, 400 otherwise).
//   - CreateQueue of an existing queue returns its URL when every attribute
//     given equals the queue's, and QueueNameExists otherwise.
//   - DeleteMessage with the receipt of an earlier delivery of a message
//     that has been received again succeeds without deleting it (the
//     documented SQS behaviour); a receipt the fake never issued is
//     ReceiptHandleIsInvalid. ChangeMessageVisibility with such a stale
//     receipt, or one of a deleted message, is InvalidParameterValue
//     "Value ... for parameter ReceiptHandle is invalid. Reason: Message
//     does not exist or is not available for visibility timeout change."
//   - Batch calls check the batch (EmptyBatchRequest,
//     TooManyEntriesInBatchRequest, InvalidBatchEntryId,
//     BatchEntryIdsNotDistinct, BatchRequestTooLong) and report an invalid
//     entry in Failed with its code, the others still done.
//   - Message bodies and attribute values must be the characters SQS
//     allows (InvalidMessageContents), a message with its attributes (name,
//     data type and value bytes) at most the queue's MaximumMessageSize,
//     delays 0 to 900 seconds, at most 10 attributes with valid names.
//   - MD5OfMessageBody and MD5OfMessageAttributes are computed as SQS does
//     (the SDK checks the body's).
//   - A second PurgeQueue of a queue within 60 seconds is
//     PurgeQueueInProgress.
//
// Where it differs, knowingly:
//
//   - Standard queues only: a ".fifo" name or FifoQueue=true is refused.
//   - MaximumMessageSize is at most 262,144 bytes (SQS now allows up to
//     1 MiB): sqlitequeue, which stores the messages, keeps the old limit.
//   - It delivers a message to one receiver at a time (sqlitequeue's
//     guarantee), where SQS may rarely deliver an invisible message twice.
//   - ChangeMessageVisibility with the current receipt of a message whose
//     visibility timeout has lapsed (but which nobody received again)
//     succeeds and hides it again, where SQS answers MessageNotInflight.
//   - A deleted queue is forgotten at once: no 60-second
//     QueueDeletedRecently window, no listing lag.
//   - Message ids are sqlitequeue's (26 base-32 characters), not UUIDs;
//     receipt handles are opaque base64 strings like SQS's but shorter.
//   - ApproximateNumberOfMessages* are exact counts read from
//     sqlitequeue's table; ApproximateFirstReceiveTimestamp is not
//     reported.
//   - Access policies, encryption and permissions are not modelled:
//     Policy, KmsMasterKeyId and the like are stored and returned as given.
//
// Fault tests set awsfake.Server.Hook before the server starts (the hook
// sees the X-Amz-Target and the body of every request and may answer an
// *awsfake.Error instead, e.g. ThrottlingException), or use
// awsx.FaultTransport on the client.
package sqsfake
