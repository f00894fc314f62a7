package gatekeeper

import (
	"context"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/deployerhq/deployer/internal/queue"
)

// HandleSQSEvent is the Lambda side of the gatekeeper: it handles each
// record of a batch delivered by an SQS event source mapping and reports
// the records to retry as partial batch failures (the mapping must enable
// ReportBatchItemFailures). Rejected and undecodable requests are done
// with — answered or dead-lettered — and are not retried; one bad record
// never holds back the rest of the batch.
func (g *Gatekeeper) HandleSQSEvent(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	for _, r := range ev.Records {
		if err := g.Handle(ctx, MessageFromSQS(r)); err != nil {
			g.logger().Warn("request will be retried", "message_id", r.MessageId, "err", err)
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
		}
	}
	return resp, nil
}

// MessageFromSQS converts a Lambda SQS record into a queue message. The
// sender is the SenderId system attribute SQS sets from the caller's
// credentials, never a message attribute the caller wrote; the trace
// header is the AWSTraceHeader system attribute, when X-Ray set one.
func MessageFromSQS(r events.SQSMessage) queue.Message {
	m := queue.Message{
		ID:          r.MessageId,
		Body:        []byte(r.Body),
		Receipt:     r.ReceiptHandle,
		SenderID:    r.Attributes["SenderId"],
		TraceHeader: r.Attributes["AWSTraceHeader"],
		Attributes:  map[string]string{},
	}
	for k, v := range r.MessageAttributes {
		if v.StringValue != nil {
			m.Attributes[k] = *v.StringValue
		}
	}
	if n, err := strconv.Atoi(r.Attributes["ApproximateReceiveCount"]); err == nil {
		m.ReceiveCount = n
	}
	if ms, err := strconv.ParseInt(r.Attributes["SentTimestamp"], 10, 64); err == nil {
		m.SentAt = time.UnixMilli(ms).UTC()
	}
	return m
}
