package schemas

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// BatchIDPrefix starts every batch id, so that a batch id is never taken
// for a job id (and a batch's journal never for a job's).
const BatchIDPrefix = "batch-"

// ValidBatchID reports whether id has the shape of a batch id: BatchIDPrefix
// and a ULID, ^batch-[0-9A-HJKMNP-TV-Z]{26}$.
func ValidBatchID(id string) bool {
	ulid, ok := strings.CutPrefix(id, BatchIDPrefix)
	return ok && isULID(ulid)
}

// Limits of a batch's description.
const (
	// MaxBatchJobs is the most jobs one batch may have.
	MaxBatchJobs = 1000
	// MaxBatchNameBytes bounds a batch's name and a job's key in it.
	MaxBatchNameBytes = 128
)

// BatchSpec says which batch a job belongs to and how that batch runs. It
// travels on each of the batch's requests (the same on all but Index and
// Key), so that every job is checked by the gatekeeper on its own and the
// batch needs no other record: its journal (keyed by its id) gathers the
// state events of its jobs.
type BatchSpec struct {
	// Name is the manifest's name.
	Name string `json:"name"`
	// Size is how many jobs the batch has; Index is this job's 1-based
	// position among them.
	Size  int `json:"size"`
	Index int `json:"index"`
	// Key names the job within the batch: its matrix values
	// ("os=al2023 region=eu-west-1"), or its position.
	Key string `json:"key,omitempty"`
	// MaxInFlight bounds how many of the batch's jobs run at once, on top
	// of their lanes' limits; 0 means no bound of the batch's own.
	MaxInFlight int `json:"max_in_flight,omitempty"`
	// FailFast ends the rest of the batch (cancelling what waits and
	// stopping what runs) once one of its jobs did not succeed.
	FailFast bool `json:"fail_fast,omitempty"`
}

// validate checks the spec's own shape.
func (b *BatchSpec) validate() error {
	switch {
	case b.Size < 1 || b.Size > MaxBatchJobs:
		return fmt.Errorf("%w: batch size %d is out of range [1, %d]", ErrMalformed, b.Size, MaxBatchJobs)
	case b.Index < 1 || b.Index > b.Size:
		return fmt.Errorf("%w: batch index %d is out of range [1, %d]", ErrMalformed, b.Index, b.Size)
	case b.MaxInFlight < 0:
		return fmt.Errorf("%w: batch max_in_flight %d is negative", ErrMalformed, b.MaxInFlight)
	}
	if err := checkLabel("batch name", b.Name); err != nil {
		return err
	}
	return checkLabel("batch job key", b.Key)
}

// checkLabel refuses a name that could not be printed safely on one line.
func checkLabel(what, s string) error {
	if len(s) > MaxBatchNameBytes {
		return fmt.Errorf("%w: %s is %d bytes, at most %d", ErrMalformed, what, len(s), MaxBatchNameBytes)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not UTF-8", ErrMalformed, what)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("%w: %s %q has a character that is not printable", ErrMalformed, what, s)
		}
	}
	return nil
}

// BatchFailed reports whether a job's terminal event counts as a failure
// of its batch (for fail_fast): anything but success and cancellation.
func BatchFailed(terminal JobEvent) bool {
	return terminal.Type.Terminal() && terminal.Outcome != OutcomeSucceeded && terminal.Outcome != OutcomeCancelled
}
