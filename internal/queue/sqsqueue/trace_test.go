package sqsqueue_test

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/queue/sqsqueue"
)

// TestTraceHeaderExternal: the AWSTraceHeader system attribute an X-Ray
// traced sender sets reaches Message.TraceHeader, apart from the
// message's own attributes.
func TestTraceHeaderExternal(t *testing.T) {
	endpoint := awstest.Endpoint(t, "sqs")
	c := client(t, endpoint, nil)
	b := sqsqueue.New(c, sqsqueue.Options{Prefix: prefix})
	name := "th-" + strings.ToLower(rand.Text()[:12])
	q, err := b.Create(t.Context(), name, queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Delete(t.Context(), name) })
	u, err := c.GetQueueUrl(t.Context(), &sqs.GetQueueUrlInput{QueueName: aws.String(prefix + name)})
	if err != nil {
		t.Fatal(err)
	}
	const header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
	if _, err := c.SendMessage(t.Context(), &sqs.SendMessageInput{
		QueueUrl: u.QueueUrl, MessageBody: aws.String("traced"),
		MessageSystemAttributes: map[string]types.MessageSystemAttributeValue{
			string(types.MessageSystemAttributeNameAWSTraceHeader): {DataType: aws.String("String"), StringValue: aws.String(header)},
		},
	}); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.Receive(t.Context(), queue.ReceiveOptions{Wait: 5 * time.Second})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("received %d messages, %v", len(msgs), err)
	}
	if msgs[0].TraceHeader != header {
		t.Errorf("TraceHeader = %q, want %q", msgs[0].TraceHeader, header)
	}
	if _, ok := msgs[0].Attributes["AWSTraceHeader"]; ok {
		t.Errorf("the system attribute is among the message's own attributes: %v", msgs[0].Attributes)
	}
}
