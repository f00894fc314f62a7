package sqsqueue_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/queue/sqsqueue"
	"github.com/deployerhq/deployer/test/awsfake"
)

// attributes reads the queue's attributes straight from SQS.
func attributes(t *testing.T, c *sqs.Client, name string) map[string]string {
	t.Helper()
	u, err := c.GetQueueUrl(t.Context(), &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.GetQueueAttributes(t.Context(), &sqs.GetQueueAttributesInput{
		QueueUrl: u.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameAll},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Attributes
}

func TestCreateExistingAppliesConfig(t *testing.T) {
	_, endpoint := startFake(t, &awsfake.Server{})
	testCreateExisting(t, endpoint, prefix)
}

func TestCreateExistingAppliesConfigExternal(t *testing.T) {
	endpoint := awstest.Endpoint(t, "sqs")
	// A prefix of its own: the endpoint is shared.
	p := "dt" + strings.ToLower(rand.Text()[:10]) + "-"
	t.Cleanup(func() {
		c := client(t, endpoint, nil)
		for _, n := range []string{"q", "dlq"} {
			if u, err := c.GetQueueUrl(context.Background(), &sqs.GetQueueUrlInput{QueueName: aws.String(p + n)}); err == nil {
				_, _ = c.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: u.QueueUrl})
			}
		}
		if u, err := c.GetQueueUrl(context.Background(), &sqs.GetQueueUrlInput{QueueName: aws.String("other-" + p + "q")}); err == nil {
			_, _ = c.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: u.QueueUrl})
		}
	})
	testCreateExisting(t, endpoint, p)
}

func testCreateExisting(t *testing.T, endpoint, prefix string) {
	c := client(t, endpoint, nil)
	b := sqsqueue.New(c, sqsqueue.Options{Prefix: prefix})
	ctx := t.Context()
	if _, err := b.Create(ctx, "dlq", queue.Config{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Create(ctx, "q", queue.Config{Tags: map[string]string{"a": "1"}}); err != nil {
		t.Fatal(err)
	}
	a := attributes(t, c, prefix+"q")
	if a["VisibilityTimeout"] != "30" || a["MessageRetentionPeriod"] != "345600" || a["RedrivePolicy"] != "" {
		t.Fatalf("new queue's attributes: %v", a)
	}

	// Created again with another configuration: it is applied, not refused.
	q, err := b.Create(ctx, "q", queue.Config{
		VisibilityTimeout: 1500 * time.Millisecond, // rounded up to 2s
		Retention:         time.Hour,
		DeadLetter:        &queue.Redrive{Queue: "dlq", MaxReceiveCount: 3},
		Tags:              map[string]string{"b": "2"},
	})
	if err != nil {
		t.Fatalf("Create of an existing queue with another configuration: %v", err)
	}
	if q.Name() != "q" {
		t.Errorf("Name() = %q, want the unprefixed name", q.Name())
	}
	a = attributes(t, c, prefix+"q")
	var rp struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		MaxReceiveCount     int    `json:"maxReceiveCount"`
	}
	if err := json.Unmarshal([]byte(a["RedrivePolicy"]), &rp); err != nil {
		t.Fatalf("RedrivePolicy %q: %v", a["RedrivePolicy"], err)
	}
	if a["VisibilityTimeout"] != "2" || a["MessageRetentionPeriod"] != "3600" ||
		!strings.HasSuffix(rp.DeadLetterTargetArn, ":"+prefix+"dlq") || rp.MaxReceiveCount != 3 {
		t.Errorf("after the second Create: %v", a)
	}
	tags, err := b.Tags(ctx, "q")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"a": "1", "b": "2"}; !maps.Equal(tags, want) {
		t.Errorf("Tags = %v, want %v (SQS tags merge)", tags, want)
	}

	// Without a dead-letter queue the policy goes away.
	if _, err := b.Create(ctx, "q", queue.Config{}); err != nil {
		t.Fatal(err)
	}
	if a := attributes(t, c, prefix+"q"); a["RedrivePolicy"] != "" || a["VisibilityTimeout"] != "30" {
		t.Errorf("after Create without a dead-letter queue: %v", a)
	}

	// A dead-letter queue that does not exist.
	_, err = b.Create(ctx, "q2", queue.Config{DeadLetter: &queue.Redrive{Queue: "missing", MaxReceiveCount: 3}})
	if !errors.Is(err, queue.ErrInvalid) {
		t.Errorf("Create with a missing dead-letter queue = %v, want queue.ErrInvalid", err)
	}

	// List strips the prefix; other deployments' queues are not listed.
	other := sqsqueue.New(c, sqsqueue.Options{Prefix: "other-" + prefix})
	if _, err := other.Create(ctx, "q", queue.Config{}); err != nil {
		t.Fatal(err)
	}
	names, err := b.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"dlq", "q"}; !slices.Equal(names, want) {
		t.Errorf("List = %v, want %v", names, want)
	}
	if _, err := b.Tags(ctx, "missing"); !errors.Is(err, queue.ErrNotFound) {
		t.Errorf("Tags of a missing queue = %v, want queue.ErrNotFound", err)
	}
}
