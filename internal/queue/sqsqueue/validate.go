package sqsqueue

import (
	"fmt"
	"time"

	"github.com/deployerhq/deployer/internal/queue"
)

// seconds rounds d up to whole seconds, SQS's unit.
func seconds(d time.Duration) int32 {
	s := (d + time.Second - 1) / time.Second
	return int32(s) //nolint:gosec // callers bound d to at most 12h
}

// settings is a validated queue configuration in SQS units.
type settings struct {
	visibility, retention int32 // seconds
	dlq                   string
	maxReceives           int
}

// checkConfig validates and defaults cfg for the queue name (unprefixed;
// full is the name on AWS).
func checkConfig(name, full string, cfg queue.Config, prefix string) (settings, error) {
	var s settings
	if !queue.ValidName(name) || !queue.ValidName(full) {
		return s, fmt.Errorf("%w: name %q: want 1 to %d letters, digits, '-' and '_' with the prefix %q", queue.ErrInvalid, name, 80, prefix)
	}
	vis, ret := cfg.VisibilityTimeout, cfg.Retention
	if vis == 0 {
		vis = queue.DefaultVisible
	}
	if ret == 0 {
		ret = queue.DefaultRetention
	}
	if vis < 0 || vis > queue.MaxVisibility {
		return s, fmt.Errorf("%w: visibility timeout %s, want up to %s", queue.ErrInvalid, cfg.VisibilityTimeout, queue.MaxVisibility)
	}
	if ret < queue.MinRetention || ret > queue.MaxRetention {
		return s, fmt.Errorf("%w: retention %s, want %s to %s", queue.ErrInvalid, cfg.Retention, queue.MinRetention, queue.MaxRetention)
	}
	s.visibility, s.retention = seconds(vis), seconds(ret)
	if d := cfg.DeadLetter; d != nil {
		if !queue.ValidName(d.Queue) || !queue.ValidName(prefix+d.Queue) || d.Queue == name {
			return s, fmt.Errorf("%w: dead-letter queue %q: want a valid name other than the queue's own", queue.ErrInvalid, d.Queue)
		}
		if d.MaxReceiveCount < 1 || d.MaxReceiveCount > queue.MaxReceiveLimit {
			return s, fmt.Errorf("%w: max receive count %d, want 1 to %d", queue.ErrInvalid, d.MaxReceiveCount, queue.MaxReceiveLimit)
		}
		s.dlq, s.maxReceives = d.Queue, d.MaxReceiveCount
	}
	return s, nil
}
