package sqsqueue

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/deployerhq/deployer/internal/awsx"
	"github.com/deployerhq/deployer/internal/queue"
)

// Error codes, in both spellings where SQS has two: the JSON shape name
// and the awsQueryCompatible code (which the SDK reports when SQS sends
// the x-amzn-query-error header).
var (
	notFoundCodes = []string{"QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"}
	receiptCodes  = []string{
		"ReceiptHandleIsInvalid",
		"MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight",
	}
	tooLargeCodes = []string{"BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong"}
	invalidCodes  = []string{
		"InvalidParameterValue", "InvalidParameterCombination", "MissingParameter",
		"InvalidAttributeName", "InvalidAttributeValue", "InvalidMessageContents",
		"InvalidIdFormat", "ValidationError", "ValidationException", "InvalidAddress",
		"EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest",
		"TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
		"BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
		"InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId",
		"UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation",
	}
	alreadyExistsCodes = []string{"QueueAlreadyExists", "QueueNameExists"}
	// deniedCodes: IAM refused the call ("AccessDenied" as the query code
	// SQS sends, "AccessDeniedException" as the JSON shape), or KMS
	// refused the queue's key.
	deniedCodes = []string{"AccessDenied", "AccessDeniedException", "KmsAccessDenied", "KMS.AccessDeniedException"}
)

// isNotFound reports whether err says the queue does not exist.
func isNotFound(err error) bool {
	var qe *types.QueueDoesNotExist
	return errors.As(err, &qe) || awsx.HasCode(err, notFoundCodes...)
}

// isAlreadyExists reports whether err is CreateQueue's answer for an
// existing queue with other attributes.
func isAlreadyExists(err error) bool {
	var qe *types.QueueNameExists
	return errors.As(err, &qe) || awsx.HasCode(err, alreadyExistsCodes...)
}

// portError returns the port error for an SQS error code and message, or
// nil when there is none.
func portError(code, msg string) error {
	in := func(codes []string) bool {
		for _, c := range codes {
			if c == code {
				return true
			}
		}
		return false
	}
	switch {
	case in(notFoundCodes):
		return queue.ErrNotFound
	case awsx.Throttled(&smithy.GenericAPIError{Code: code}):
		return queue.ErrThrottled
	case in(receiptCodes):
		return queue.ErrInvalidReceipt
	case code == "InvalidParameterValue" && strings.Contains(msg, "ReceiptHandle"):
		// "Value ... for parameter ReceiptHandle is invalid. Reason: The
		// receipt handle has expired." (and "... Message does not exist or
		// is not available for visibility timeout change.")
		return queue.ErrInvalidReceipt
	case in(tooLargeCodes):
		return queue.ErrTooLarge
	case code == "InvalidParameterValue" && strings.Contains(msg, "shorter than"):
		return queue.ErrTooLarge
	case in(invalidCodes):
		return queue.ErrInvalid
	case in(deniedCodes):
		return queue.ErrDenied
	}
	return nil
}

// mapErr wraps err, an SDK error, with the port error it means; what does
// not mean one is returned wrapped in what only. The context's error
// comes first when the call's context ended.
func mapErr(ctx context.Context, what string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%s: %w: %w", what, ctx.Err(), err)
	}
	var perr error
	var ae smithy.APIError
	switch {
	case isNotFound(err):
		perr = queue.ErrNotFound
	case awsx.Throttled(err):
		perr = queue.ErrThrottled
	case errors.As(err, &ae):
		perr = portError(ae.ErrorCode(), ae.ErrorMessage())
	}
	if perr == nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w: %w", what, perr, err)
}

// entryError is the error of a failed batch entry.
func entryError(e types.BatchResultErrorEntry) error {
	code, msg := deref(e.Code), deref(e.Message)
	err := fmt.Errorf("%s: %s", code, msg)
	if perr := portError(code, msg); perr != nil {
		return fmt.Errorf("%w: %w", perr, err)
	}
	return err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
