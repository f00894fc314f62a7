package sqsqueue

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// The AWSTraceHeader system attribute becomes Message.TraceHeader, never
// one of the message's own attributes.
func TestMessageTraceHeader(t *testing.T) {
	const header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
	m := message(types.Message{
		MessageId: aws.String("m"), Body: aws.String("b"), ReceiptHandle: aws.String("r"),
		Attributes: map[string]string{"AWSTraceHeader": header, "SenderId": "AROA:x"},
	})
	if m.TraceHeader != header || len(m.Attributes) != 0 || m.SenderID != "AROA:x" {
		t.Fatalf("message = %+v", m)
	}
}
