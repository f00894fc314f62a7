package producer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/internal/stream"
	"github.com/deployerhq/deployer/schemas"
)

// createDelete is a stream port that creates and deletes streams.
type createDelete struct {
	createOnly
	deleted []string
}

func (s *createDelete) Delete(_ context.Context, address string) error {
	s.deleted = append(s.deleted, address)
	return nil
}

// A request larger than the request queue takes, attributes counted as
// the queue counts them, is refused before anything is enqueued, and its
// stream does not stay behind; one that fits is sent.
func TestSubmitRefusesARequestTooLargeForTheQueue(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const id = ulidA
	// sized returns arguments that make the request's body exactly body
	// bytes long.
	sized := func(body int) []string {
		args := []string{strings.Repeat("a", 4000), ""}
		req := schemas.JobRequest{
			JobID: id, Container: "c", Script: "s", Args: schemas.ArgList(args...),
			Stream: "test://" + id, Attempt: 1, SubmittedAt: now,
		}
		b, err := req.Encode()
		if err != nil {
			t.Fatal(err)
		}
		args[1] = strings.Repeat("b", body-len(b))
		return args
	}
	cases := []struct {
		name string
		args []string
		fits bool
	}{
		{"70 arguments of 4,000 bytes", strings.Split(strings.Repeat(strings.Repeat("x", 4000)+" ", 70), " ")[:70], false},
		{"body under the limit, attributes over it", sized(queue.MaxBodySize - 10), false},
		{"body and attributes at the limit", sized(queue.MaxBodySize - len("job_id"+"String"+id+"schema"+"String"+schemas.JobRequestV1)), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, st := &recordingQueue{}, &createDelete{}
			cl := &Client{Requests: q, Streams: st, Now: func() time.Time { return now }}
			_, err := cl.Submit(context.Background(), Request{JobID: id, Container: "c", Script: "s", Args: c.args})
			if c.fits {
				if err != nil || len(q.sent) != 1 {
					t.Fatalf("Submit = %v, %d sent; the request fits", err, len(q.sent))
				}
				return
			}
			if !errors.Is(err, schemas.ErrTooLarge) || !strings.Contains(err.Error(), "the request queue takes at most 262144 bytes") {
				t.Fatalf("Submit = %v, want schemas.ErrTooLarge with the sizes", err)
			}
			if len(q.sent) != 0 {
				t.Errorf("%d messages sent", len(q.sent))
			}
			if len(st.deleted) != 1 || st.deleted[0] != "test://"+id {
				t.Errorf("streams deleted: %v, want the job's", st.deleted)
			}
		})
	}
}

// togetherKey marks the context of a test's Together.
type togetherKey struct{}

// ctxStreams and ctxQueue record whether each write was made inside the
// test's Together.
type ctxStreams struct {
	stream.Streams
	writes *[]string
}

func (s ctxStreams) Create(ctx context.Context, jobID string, _ time.Duration) (string, error) {
	*s.writes = append(*s.writes, fmt.Sprintf("create stream (together: %v)", ctx.Value(togetherKey{}) != nil))
	return "test://" + jobID, nil
}

type ctxQueue struct {
	queue.Queue
	writes *[]string
}

func (q ctxQueue) Send(ctx context.Context, msgs ...queue.Outgoing) ([]string, error) {
	*q.writes = append(*q.writes, fmt.Sprintf("send request (together: %v)", ctx.Value(togetherKey{}) != nil))
	return make([]string, len(msgs)), nil
}

// A submission's writes, the job's stream and its request, are made in
// one Together where the backend has one (see package writes).
func TestSubmitMakesItsWritesTogether(t *testing.T) {
	var writes []string
	c := &Client{Requests: ctxQueue{writes: &writes}, Streams: ctxStreams{writes: &writes},
		Together: func(ctx context.Context, fn func(context.Context) error) error {
			writes = append(writes, "together")
			return fn(context.WithValue(ctx, togetherKey{}, true))
		}}
	if _, err := c.Submit(t.Context(), Request{Container: "c", Script: "s"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"together", "create stream (together: true)", "send request (together: true)"}
	if !slices.Equal(writes, want) {
		t.Fatalf("writes %q, want %q", writes, want)
	}
}
