package sqsqueue

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/deployerhq/deployer/internal/queue"
)

// SQS limits beyond the port's.
const (
	maxDelay        = 15 * time.Minute
	minRetention    = time.Minute
	maxRetention    = 14 * 24 * time.Hour
	defRetention    = 4 * 24 * time.Hour
	maxReceiveLimit = 1000
)

// attrType is the SQS data type of every attribute the port carries; SQS
// counts it towards the message size.
const attrType = "String"

// seconds rounds d up to whole seconds, SQS's unit.
func seconds(d time.Duration) int32 {
	s := (d + time.Second - 1) / time.Second
	return int32(s) //nolint:gosec // callers bound d to at most 12h
}

// checkBatch validates a Send call as SQS would: the number of entries,
// each entry, and the total size.
func checkBatch(msgs []queue.Outgoing) error {
	if len(msgs) == 0 || len(msgs) > queue.MaxBatch {
		return fmt.Errorf("%w: %d messages, want 1 to %d", queue.ErrInvalid, len(msgs), queue.MaxBatch)
	}
	total := 0
	for i, m := range msgs {
		size, err := checkMessage(m)
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		total += size
	}
	if total > queue.MaxBodySize {
		return fmt.Errorf("%w: batch of %d bytes, limit %d", queue.ErrTooLarge, total, queue.MaxBodySize)
	}
	return nil
}

// checkMessage validates one message and returns its size as SQS counts
// it: the body plus each attribute's name, type and value.
func checkMessage(m queue.Outgoing) (int, error) {
	if len(m.Body) == 0 {
		return 0, fmt.Errorf("%w: empty body", queue.ErrInvalid)
	}
	if i := invalidChar(m.Body); i >= 0 {
		return 0, fmt.Errorf("%w: body has a character SQS refuses at byte %d", queue.ErrInvalid, i)
	}
	if m.Delay < 0 || m.Delay > maxDelay {
		return 0, fmt.Errorf("%w: delay %s, want 0 to %s", queue.ErrInvalid, m.Delay, maxDelay)
	}
	if len(m.Attributes) > queue.MaxAttributes {
		return 0, fmt.Errorf("%w: %d attributes, limit %d", queue.ErrInvalid, len(m.Attributes), queue.MaxAttributes)
	}
	size := len(m.Body)
	for k, v := range m.Attributes {
		if !validAttrName(k) {
			return 0, fmt.Errorf("%w: attribute name %q (1-256 of A-Z a-z 0-9 _ - ., no leading, trailing or double '.', no AWS. or Amazon. prefix)", queue.ErrInvalid, k)
		}
		if v == "" {
			return 0, fmt.Errorf("%w: attribute %s has an empty value", queue.ErrInvalid, k)
		}
		if i := invalidChar([]byte(v)); i >= 0 {
			return 0, fmt.Errorf("%w: attribute %s has a character SQS refuses at byte %d", queue.ErrInvalid, k, i)
		}
		size += len(k) + len(attrType) + len(v)
	}
	if size > queue.MaxBodySize {
		return 0, fmt.Errorf("%w: %d bytes with attributes, limit %d", queue.ErrTooLarge, size, queue.MaxBodySize)
	}
	return size, nil
}

// invalidChar returns the offset of the first byte of b that is not part
// of a character SQS accepts (#x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD
// #x10000-#x10FFFF, UTF-8 encoded), or -1.
func invalidChar(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			return i
		case r == 0x9 || r == 0xA || r == 0xD,
			r >= 0x20 && r <= 0xD7FF,
			r >= 0xE000 && r <= 0xFFFD,
			r >= 0x10000 && r <= 0x10FFFF:
		default:
			return i
		}
		i += n
	}
	return -1
}

// validAttrName applies the SQS rules for message attribute names.
func validAttrName(s string) bool {
	if len(s) == 0 || len(s) > 256 || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	l := strings.ToLower(s)
	if strings.HasPrefix(l, "aws.") || strings.HasPrefix(l, "amazon.") {
		return false
	}
	for _, r := range s {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !letter && (r < '0' || r > '9') && r != '_' && r != '-' && r != '.' {
			return false
		}
	}
	return true
}

// checkReceive validates and defaults the options of a Receive call.
func checkReceive(opts queue.ReceiveOptions) (queue.ReceiveOptions, error) {
	if opts.Max == 0 {
		opts.Max = 1
	}
	switch {
	case opts.Max < 1 || opts.Max > queue.MaxBatch:
		return opts, fmt.Errorf("%w: max %d, want 1 to %d", queue.ErrInvalid, opts.Max, queue.MaxBatch)
	case opts.Wait < 0 || opts.Wait > queue.MaxWait:
		return opts, fmt.Errorf("%w: wait %s, want 0 to %s", queue.ErrInvalid, opts.Wait, queue.MaxWait)
	case opts.Visibility < 0 || opts.Visibility > queue.MaxVisibility:
		return opts, fmt.Errorf("%w: visibility %s, want 0 to %s", queue.ErrInvalid, opts.Visibility, queue.MaxVisibility)
	}
	return opts, nil
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
		ret = defRetention
	}
	if vis < 0 || vis > queue.MaxVisibility {
		return s, fmt.Errorf("%w: visibility timeout %s, want up to %s", queue.ErrInvalid, cfg.VisibilityTimeout, queue.MaxVisibility)
	}
	if ret < minRetention || ret > maxRetention {
		return s, fmt.Errorf("%w: retention %s, want %s to %s", queue.ErrInvalid, cfg.Retention, minRetention, maxRetention)
	}
	s.visibility, s.retention = seconds(vis), seconds(ret)
	if d := cfg.DeadLetter; d != nil {
		if !queue.ValidName(d.Queue) || !queue.ValidName(prefix+d.Queue) || d.Queue == name {
			return s, fmt.Errorf("%w: dead-letter queue %q: want a valid name other than the queue's own", queue.ErrInvalid, d.Queue)
		}
		if d.MaxReceiveCount < 1 || d.MaxReceiveCount > maxReceiveLimit {
			return s, fmt.Errorf("%w: max receive count %d, want 1 to %d", queue.ErrInvalid, d.MaxReceiveCount, maxReceiveLimit)
		}
		s.dlq, s.maxReceives = d.Queue, d.MaxReceiveCount
	}
	return s, nil
}
