// Package backend is what the deployer commands see of a backend, whichever
// it is: the embedded one on a state directory (internal/embedded) or AWS
// (internal/awsbackend). Both hand out the same producer client and dead-
// letter queues over their adapters of the ports, and both can serve the
// pipeline (gatekeeper, worker, logshipper) in the calling process.
package backend

import (
	"context"
	"log/slog"
	"time"

	"github.com/deployerhq/deployer/gatekeeper"
	"github.com/deployerhq/deployer/internal/queue"
	"github.com/deployerhq/deployer/producer"
	"github.com/deployerhq/deployer/worker"
)

// Backend is an opened backend.
type Backend interface {
	// Client returns a producer client on the backend's ports.
	Client() *producer.Client
	// StreamAddress is the address of a job's stream.
	StreamAddress(jobID string) string
	// DeadLetterQueues returns the request and run dead-letter queues.
	DeadLetterQueues() (requests, runs queue.Queue)
	// Served reports whether a pipeline serves the backend now (a
	// "deployer up", or the AWS deployment), so that a command need not
	// serve one itself.
	Served() (bool, error)
	// Serve runs the gatekeeper, a worker and the logshipper in this
	// process until ctx ends, then drains (see worker.Options.DrainTimeout).
	Serve(ctx context.Context, pol gatekeeper.Policy, opts ServeOptions) error
	// Where names the backend in messages ("state directory /x",
	// "AWS us-east-1, prefix deployer-").
	Where() string
	// Close releases what Open took.
	Close() error
}

// ServeOptions tune Serve.
type ServeOptions struct {
	Worker worker.Options
	// Visibility hides a request while the gatekeeper handles it. Defaults
	// to 30s.
	Visibility time.Duration
	Logger     *slog.Logger
	// Abort, when closed, makes a draining worker hand its jobs back at
	// once.
	Abort <-chan struct{}
}
