// Package sqsqueue is the Amazon SQS adapter of the queue port: standard
// queues through aws-sdk-go-v2 (the JSON protocol).
//
// Names. Options.Prefix (a deployment prefix such as "deployer-") is put
// before every queue name on AWS; names through the port never carry it,
// and List strips it. The port's name rule is checked on the full name, so
// a name that fits the port also fits SQS.
//
// Calls. Queue URLs are looked up once per name (GetQueueUrl) and cached;
// an answer that the queue does not exist drops the cached URL. Send is one
// SendMessageBatch with String attributes; Receive one ReceiveMessage
// asking for every system and message attribute; Delete one
// DeleteMessageBatch; ChangeVisibility one ChangeMessageVisibility. Every
// call goes through the SDK client's retryer (awsx.NewRetryer when the
// client comes from awsx.Load), so a throttling answer surfaces as
// queue.ErrThrottled only once the retryer gave up.
//
// Lost answers. A ReceiveMessage that SQS served but whose answer was
// lost (a connection cut while it was read or reset after it came, or a
// server error) leaves the messages it took hidden for the visibility
// timeout. An answer cut off half way fails to decode and fails the call;
// the SDK retries the others, and the retry cannot see the hidden
// messages. Receive reads the SDK's record of its attempts and calls
// ReceiveOptions.LostAnswer when one before the last failed in a way
// that may have been served: anything but an error answer from SQS with
// a status below 500.
//
// Limits are checked before calling, as sqlitequeue checks them, so an
// invalid request fails with the port's error (queue.ErrInvalid,
// queue.ErrTooLarge) and what passes here fits SQS. SQS counts time in
// whole seconds: visibility timeouts, waits and delays are rounded up.
//
// Create. SQS refuses CreateQueue of an existing queue whose attributes
// differ (QueueAlreadyExists); like sqlitequeue, Create then applies the
// configuration given (SetQueueAttributes, RedrivePolicy removed when none
// is given) and adds its tags (TagQueue; SQS tags are merged, never
// removed). When the attributes already match, SQS answers CreateQueue
// with the existing queue and the adapter makes no further call, so tags
// that differ are not added then. A redrive policy names its dead-letter
// queue by ARN, read from that queue (GetQueueAttributes QueueArn); a
// dead-letter queue that does not exist is queue.ErrInvalid.
//
// Errors. SQS speaks the JSON protocol with awsQueryCompatible, so an error
// comes with its shape's code (QueueDoesNotExist) and the legacy query code
// (AWS.SimpleQueueService.NonExistentQueue); the SDK reports the latter
// when the x-amzn-query-error header is present. Both spellings map to
// the same port error:
//
//   - QueueDoesNotExist, AWS.SimpleQueueService.NonExistentQueue →
//     queue.ErrNotFound
//   - throttling (awsx.Throttled: RequestThrottled, ThrottlingException, ...)
//     → queue.ErrThrottled
//   - ReceiptHandleIsInvalid, MessageNotInflight, and InvalidParameterValue
//     about the ReceiptHandle ("The receipt handle has expired", "Message
//     does not exist or is not available for visibility timeout change")
//     → queue.ErrInvalidReceipt
//   - BatchRequestTooLong, and InvalidParameterValue "Message must be
//     shorter than ..." → queue.ErrTooLarge
//   - InvalidParameterValue, InvalidAttributeName, InvalidAttributeValue,
//     InvalidMessageContents, MissingParameter, the batch-shape errors →
//     queue.ErrInvalid
//
// The port error and the SDK's error are both wrapped, so errors.Is and
// errors.As see either. Failed entries of a batch call are a
// *queue.BatchError indexed by position.
//
// Semantics that are SQS's, not the port's strictest: DeleteMessage with a
// stale receipt (of an earlier delivery) succeeds without deleting
// anything, and a standard queue may rarely deliver a message twice
// (queuetest.Features LaxReceipts and MayDuplicate).
package sqsqueue
