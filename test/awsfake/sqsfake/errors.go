package sqsfake

import (
	"fmt"
	"net/http"

	"github.com/deployerhq/deployer/test/awsfake"
)

// namespace is the Smithy namespace of the SQS shapes; awsJson1_0 error
// types are "<namespace>#<shape>".
const namespace = "com.amazonaws.sqs#"

// apiError returns an SQS error answer: shape is the model's error shape
// (or the common error's name), queryCode the awsQueryError code sent in
// x-amzn-query-error.
func apiError(status int, shape, queryCode, format string, args ...any) *awsfake.Error {
	return &awsfake.Error{Status: status, Code: namespace + shape, QueryCode: queryCode, Message: fmt.Sprintf(format, args...)}
}

func errQueueDoesNotExist() *awsfake.Error {
	return apiError(http.StatusBadRequest, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue",
		"The specified queue does not exist.")
}

func errQueueNameExists(attr string) *awsfake.Error {
	return apiError(http.StatusBadRequest, "QueueNameExists", "QueueAlreadyExists",
		"A queue already exists with the same name and a different value for attribute %s", attr)
}

func errInvalidParameterValue(format string, args ...any) *awsfake.Error {
	return apiError(http.StatusBadRequest, "InvalidParameterValue", "InvalidParameterValue", format, args...)
}

func errMissingParameter(name string) *awsfake.Error {
	return apiError(http.StatusBadRequest, "MissingParameter", "MissingParameter",
		"The request must contain the parameter %s.", name)
}

func errInvalidAttributeName(name string) *awsfake.Error {
	return apiError(http.StatusBadRequest, "InvalidAttributeName", "InvalidAttributeName",
		"Unknown Attribute %s.", name)
}

func errInvalidAttributeValue(format string, args ...any) *awsfake.Error {
	return apiError(http.StatusBadRequest, "InvalidAttributeValue", "InvalidAttributeValue", format, args...)
}

func errReceiptHandleIsInvalid(handle string) *awsfake.Error {
	return apiError(http.StatusNotFound, "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid",
		"The input receipt handle %q is not a valid receipt handle.", handle)
}

func errReceiptNotAvailable(handle string) *awsfake.Error {
	return errInvalidParameterValue("Value %s for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.", handle)
}

func errEmptyBatch(op string) *awsfake.Error {
	return apiError(http.StatusBadRequest, "EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest",
		"There should be at least one %sRequestEntry in the request.", op)
}

func errTooManyEntries(n int) *awsfake.Error {
	return apiError(http.StatusBadRequest, "TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
		"Maximum number of entries per request are 10. You have sent %d.", n)
}

func errInvalidBatchEntryID(id string) *awsfake.Error {
	return apiError(http.StatusBadRequest, "InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId",
		"A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long. Got %q.", id)
}

func errBatchEntryIDsNotDistinct(id string) *awsfake.Error {
	return apiError(http.StatusBadRequest, "BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
		"Id %s repeated.", id)
}

func errBatchRequestTooLong(n int) *awsfake.Error {
	return apiError(http.StatusBadRequest, "BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong",
		"Batch requests cannot be longer than %d bytes. You have sent %d bytes.", maxBatchBytes, n)
}

func errPurgeInProgress(name string) *awsfake.Error {
	return apiError(http.StatusForbidden, "PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress",
		"Only one PurgeQueue operation on %s is allowed every 60 seconds.", name)
}

func errInvalidAddress(u string) *awsfake.Error {
	return apiError(http.StatusNotFound, "InvalidAddress", "InvalidAddress", "The address %s is not valid for this endpoint.", u)
}

func errMissingAuthentication() *awsfake.Error {
	return &awsfake.Error{Status: http.StatusForbidden, Code: "MissingAuthenticationToken",
		Message: "Request is missing Authentication Token"}
}

// batchFailure is a BatchResultErrorEntry.
type batchFailure struct {
	Id          string //nolint:revive // the SQS field name
	SenderFault bool
	Code        string
	Message     string
}

// failure turns an error answer into the Failed entry of batch entry id:
// the entry's code is the query-compatible one, as SQS reports it.
func failure(id string, e *awsfake.Error) batchFailure {
	code := e.QueryCode
	if code == "" {
		code = e.Code
	}
	return batchFailure{Id: id, SenderFault: e.Status < http.StatusInternalServerError, Code: code, Message: e.Message}
}
