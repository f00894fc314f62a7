package sqlitequeue

import (
	"fmt"
	"time"

	"github.com/deployerhq/deployer/internal/queue"
)

// settings is a queue's validated configuration as stored.
type settings struct {
	visibility, retention time.Duration
	dlq                   string // "" without a redrive policy
	maxReceives           int
}

// checkConfig validates and defaults cfg for the queue name.
func checkConfig(name string, cfg queue.Config) (settings, error) {
	s := settings{visibility: cfg.VisibilityTimeout, retention: cfg.Retention}
	if !queue.ValidName(name) {
		return s, fmt.Errorf("%w: name %q: want 1 to 80 letters, digits, '-' and '_'", queue.ErrInvalid, name)
	}
	if s.visibility == 0 {
		s.visibility = queue.DefaultVisible
	}
	if s.retention == 0 {
		s.retention = queue.DefaultRetention
	}
	if s.visibility < time.Millisecond || s.visibility > queue.MaxVisibility {
		return s, fmt.Errorf("%w: visibility timeout %s, want up to %s", queue.ErrInvalid, cfg.VisibilityTimeout, queue.MaxVisibility)
	}
	if s.retention < queue.MinRetention || s.retention > queue.MaxRetention {
		return s, fmt.Errorf("%w: retention %s, want %s to %s", queue.ErrInvalid, cfg.Retention, queue.MinRetention, queue.MaxRetention)
	}
	if d := cfg.DeadLetter; d != nil {
		if !queue.ValidName(d.Queue) || d.Queue == name {
			return s, fmt.Errorf("%w: dead-letter queue %q: want a valid name other than the queue's own", queue.ErrInvalid, d.Queue)
		}
		if d.MaxReceiveCount < 1 || d.MaxReceiveCount > queue.MaxReceiveLimit {
			return s, fmt.Errorf("%w: max receive count %d, want 1 to %d", queue.ErrInvalid, d.MaxReceiveCount, queue.MaxReceiveLimit)
		}
		s.dlq, s.maxReceives = d.Queue, d.MaxReceiveCount
	}
	return s, nil
}
