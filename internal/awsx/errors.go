package awsx

import (
	"errors"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// Code returns the API error code of err ("QueueDoesNotExist",
// "ThrottlingException", ...), or "" when err is not an API error.
func Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// HasCode reports whether err is an API error with one of these codes.
func HasCode(err error, codes ...string) bool {
	c := Code(err)
	if c == "" {
		return false
	}
	for _, want := range codes {
		if c == want {
			return true
		}
	}
	return false
}

// Throttled reports whether err is AWS asking the caller to slow down
// (after the retryer gave up on it), so adapters can map it to their
// port's ErrThrottled.
func Throttled(err error) bool {
	if err == nil {
		return false
	}
	if (retry.ThrottleErrorCode{Codes: retry.DefaultThrottleErrorCodes}).IsErrorThrottle(err).Bool() {
		return true
	}
	return HasCode(err, "RequestThrottled", "ThrottlingException", "Throttling", "TooManyRequestsException",
		"RequestLimitExceeded", "KMS.ThrottlingException", "AWS.SimpleQueueService.RequestThrottled")
}

// StatusCode returns the HTTP status of the response that failed the
// call, or 0.
func StatusCode(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// Transient reports whether err is a failure worth trying again later:
// throttling, a 5xx, or a connection that broke.
func Transient(err error) bool {
	if err == nil {
		return false
	}
	if Throttled(err) || StatusCode(err) >= http.StatusInternalServerError {
		return true
	}
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err).Bool()
}
