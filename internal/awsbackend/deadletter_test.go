package awsbackend_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/deployerhq/deployer/internal/awsbackend"
	"github.com/deployerhq/deployer/internal/awsx/awstest"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/topology"
	"github.com/deployerhq/deployer/test/awsfake/sqsfake"
)

// A caller may run jobs without being allowed to read the dead-letter
// queues; the gatekeeper and the worker, which cannot do without theirs,
// check with RequireDeadLetters.
func TestDeadLetterQueuesOptionalForCallersOnly(t *testing.T) {
	url := sqsfake.Start(t)
	b, err := awsbackend.NewWithConfig(awstest.Config(t, url, nil), awsbackend.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Broker.Create(context.Background(), topology.RequestQueue, queue.Config{}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ENDPOINT_URL", url)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDCALLER")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	caller, err := awsbackend.Open(context.Background(), awsbackend.Options{Region: "us-east-1"})
	if err != nil {
		t.Fatalf("a caller's Open without dead-letter queues: %v", err)
	}
	_, runs := caller.DeadLetterQueues()
	if _, err := runs.Receive(context.Background(), queue.ReceiveOptions{}); !errors.Is(err, queue.ErrNotFound) {
		t.Fatalf("receiving from a missing dead-letter queue: %v, want ErrNotFound", err)
	}
	if err := caller.RequireDeadLetters(); err == nil || !strings.Contains(err.Error(), topology.RequestDLQ) {
		t.Fatalf("RequireDeadLetters without the dead-letter queues: %v", err)
	}
}
