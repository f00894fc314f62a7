package schemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Schema names and the major version of each that this build understands.
const (
	JobRequestV1 = "job_request/v1"
	RunOrderV1   = "run_order/v1"
	JobEventV1   = "job_event/v1"
	DeadLetterV1 = "dead_letter/v1"
)

// MaxMessageSize is the largest encoded message any decoder accepts. It is
// the SQS message size limit, so a message that fits one backend fits all.
const MaxMessageSize = 256 * 1024

var (
	// ErrUnsupportedSchema reports a message whose schema name or major
	// version this build does not understand.
	ErrUnsupportedSchema = errors.New("unsupported schema")
	// ErrMalformed reports a message that is not valid JSON of the expected
	// shape, or that violates the contract's own rules.
	ErrMalformed = errors.New("malformed message")
	// ErrTooLarge reports a message larger than MaxMessageSize.
	ErrTooLarge = errors.New("message too large")
)

// ParseSchema splits "name/vN" into its name and major version.
func ParseSchema(s string) (name string, major int, err error) {
	name, v, ok := strings.Cut(s, "/v")
	if !ok || name == "" || v == "" {
		return "", 0, fmt.Errorf("%w: schema %q is not of the form name/vN", ErrMalformed, s)
	}
	major, err = strconv.Atoi(v)
	if err != nil || major < 1 || strconv.Itoa(major) != v {
		return "", 0, fmt.Errorf("%w: schema %q has no valid major version", ErrMalformed, s)
	}
	return name, major, nil
}

// SchemaOf returns the "schema" field of an encoded message without decoding
// the rest, so a consumer can dispatch on it.
func SchemaOf(data []byte) (string, error) {
	if len(data) > MaxMessageSize {
		return "", fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(data), MaxMessageSize)
	}
	var head struct {
		Schema *string `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return "", fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if head.Schema == nil {
		return "", fmt.Errorf("%w: no \"schema\" field", ErrMalformed)
	}
	return *head.Schema, nil
}

// decode checks that data carries the schema want (same name, same major
// version) and decodes it into v.
func decode(data []byte, want string, v any) error {
	got, err := SchemaOf(data)
	if err != nil {
		return err
	}
	if got != want {
		gname, gmajor, perr := ParseSchema(got)
		wname, wmajor, _ := ParseSchema(want)
		switch {
		case perr != nil:
			return perr
		case gname != wname:
			return fmt.Errorf("%w: got a %q message, want %q", ErrUnsupportedSchema, got, want)
		default:
			return fmt.Errorf("%w: %s major version %d is not supported (this build understands v%d)",
				ErrUnsupportedSchema, gname, gmajor, wmajor)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMalformed, want, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: %s: trailing data after the JSON object", ErrMalformed, want)
	}
	return nil
}
