package topology_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/topology"
)

// broker is a queue.Broker that holds queue configurations by name and
// records the calls that create one.
type broker struct {
	queue.Broker // the calls RunQueue must not make: nil, they panic

	queues  map[string]queue.Config
	openErr error
	created []string
}

func (b *broker) Open(_ context.Context, name string) (queue.Queue, error) {
	if b.openErr != nil {
		return nil, b.openErr
	}
	if _, ok := b.queues[name]; !ok {
		return nil, queue.ErrNotFound
	}
	return nil, nil
}

func (b *broker) Create(_ context.Context, name string, cfg queue.Config) (queue.Queue, error) {
	b.created = append(b.created, name)
	b.queues[name] = cfg
	return nil, nil
}

// TestRunQueue: a lane's run queue is created with RunQueueConfig when it
// is missing, and otherwise opened as it is, without a write (Create
// applies a configuration); an error other than not found is returned.
func TestRunQueue(t *testing.T) {
	b := &broker{queues: map[string]queue.Config{}}
	if _, err := topology.RunQueue(t.Context(), b, "default"); err != nil {
		t.Fatal(err)
	}
	name := topology.LaneQueue("default")
	if !reflect.DeepEqual(b.created, []string{name}) || !reflect.DeepEqual(b.queues[name], topology.RunQueueConfig()) {
		t.Fatalf("missing queue: created %v with %+v, want %s with RunQueueConfig", b.created, b.queues[name], name)
	}

	b.queues[name] = queue.Config{} // an operator's, say
	b.created = nil
	if _, err := topology.RunQueue(t.Context(), b, "default"); err != nil {
		t.Fatal(err)
	}
	if len(b.created) > 0 || !reflect.DeepEqual(b.queues[name], queue.Config{}) {
		t.Fatalf("existing queue: created %v, configuration now %+v; want it opened as it was", b.created, b.queues[name])
	}

	unreachable := errors.New("unreachable")
	b.openErr = unreachable
	if _, err := topology.RunQueue(t.Context(), b, "other"); !errors.Is(err, unreachable) || len(b.created) > 0 {
		t.Fatalf("failing open: err %v, created %v; want the error and nothing created", err, b.created)
	}
}
