package queue

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// More SQS limits every adapter enforces, so that whatever works on one
// backend fits the others.
const (
	// MaxDelay is the longest delay of a message.
	MaxDelay = 15 * time.Minute
	// MinRetention, MaxRetention and DefaultRetention bound how long a
	// queue keeps a message.
	MinRetention     = time.Minute
	MaxRetention     = 14 * 24 * time.Hour
	DefaultRetention = 4 * 24 * time.Hour
	// MaxReceiveLimit bounds a redrive policy's MaxReceiveCount.
	MaxReceiveLimit = 1000
)

// AttrType is the SQS data type of every attribute the port carries; SQS
// counts it towards the message size.
const AttrType = "String"

// CheckBatch validates a Send call as SQS would: the number of entries,
// each entry, and the total size. Adapters call it before sending
// anything, so that every backend refuses the same messages with the
// port's errors.
func CheckBatch(msgs []Outgoing) error {
	if len(msgs) == 0 || len(msgs) > MaxBatch {
		return fmt.Errorf("%w: %d messages, want 1 to %d", ErrInvalid, len(msgs), MaxBatch)
	}
	total := 0
	for i, m := range msgs {
		size, err := CheckMessage(m)
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		total += size
	}
	if total > MaxBodySize {
		return fmt.Errorf("%w: batch of %d bytes, limit %d", ErrTooLarge, total, MaxBodySize)
	}
	return nil
}

// CheckMessage validates one message and returns its size as SQS counts
// it: the body plus each attribute's name, type and value.
func CheckMessage(m Outgoing) (int, error) {
	if len(m.Body) == 0 {
		return 0, fmt.Errorf("%w: empty body", ErrInvalid)
	}
	if i := invalidChar(m.Body); i >= 0 {
		return 0, fmt.Errorf("%w: body has a character SQS refuses at byte %d", ErrInvalid, i)
	}
	if m.Delay < 0 || m.Delay > MaxDelay {
		return 0, fmt.Errorf("%w: delay %s, want 0 to %s", ErrInvalid, m.Delay, MaxDelay)
	}
	if len(m.Attributes) > MaxAttributes {
		return 0, fmt.Errorf("%w: %d attributes, limit %d", ErrInvalid, len(m.Attributes), MaxAttributes)
	}
	for k, v := range m.Attributes {
		if !validAttrName(k) {
			return 0, fmt.Errorf("%w: attribute name %q (1-256 of A-Z a-z 0-9 _ - ., no leading, trailing or double '.', no AWS. or Amazon. prefix)", ErrInvalid, k)
		}
		if v == "" {
			return 0, fmt.Errorf("%w: attribute %s has an empty value", ErrInvalid, k)
		}
		if i := invalidChar([]byte(v)); i >= 0 {
			return 0, fmt.Errorf("%w: attribute %s has a character SQS refuses at byte %d", ErrInvalid, k, i)
		}
	}
	size := Size(m)
	if size > MaxBodySize {
		return 0, fmt.Errorf("%w: %d bytes with attributes, limit %d", ErrTooLarge, size, MaxBodySize)
	}
	return size, nil
}

// Size returns m's size as SQS counts it against MaxBodySize: the body
// plus each attribute's name, type and value.
func Size(m Outgoing) int {
	size := len(m.Body)
	for k, v := range m.Attributes {
		size += len(k) + len(AttrType) + len(v)
	}
	return size
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

// CheckReceive validates and defaults the options of a Receive call.
func CheckReceive(opts ReceiveOptions) (ReceiveOptions, error) {
	if opts.Max == 0 {
		opts.Max = 1
	}
	switch {
	case opts.Max < 1 || opts.Max > MaxBatch:
		return opts, fmt.Errorf("%w: max %d, want 1 to %d", ErrInvalid, opts.Max, MaxBatch)
	case opts.Wait < 0 || opts.Wait > MaxWait:
		return opts, fmt.Errorf("%w: wait %s, want 0 to %s", ErrInvalid, opts.Wait, MaxWait)
	case opts.Visibility < 0 || opts.Visibility > MaxVisibility:
		return opts, fmt.Errorf("%w: visibility %s, want 0 to %s", ErrInvalid, opts.Visibility, MaxVisibility)
	}
	return opts, nil
}
