package manifest

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// MaxBytes is the largest manifest Parse and Load accept.
const MaxBytes = 1 << 20

// Manifest is a parsed, expanded batch manifest.
type Manifest struct {
	// Name names the batch in CI logs: 1 to schemas.MaxBatchNameBytes
	// bytes, printable, one line.
	Name string
	// MaxInFlight bounds how many of the batch's jobs run at once, on top
	// of their lanes' limits; 0 means no bound of the batch's own.
	MaxInFlight int
	// FailFast ends the rest of the batch once one of its jobs did not
	// succeed.
	FailFast bool
	// Jobs are the expanded jobs in manifest order; a matrix expands with
	// its first key outermost and include entries that add combinations
	// last, as GitHub Actions orders them.
	Jobs []Job
}

// Job is one expanded job of a batch.
type Job struct {
	// Container and Script name the allow-listed script to run.
	Container, Script string
	// Args are the script's arguments, with ${{ matrix.KEY }} substituted.
	Args []string
	// Key names the job within the batch: its matrix values in the
	// matrix's key order ("os=al2023 region=eu-west-1"), its name when set
	// ("one-off", or "one-off os=al2023 ..." with a matrix), else "".
	// Keys other than "" are unique within the batch; a job without one
	// is named by its position.
	Key string
	// Timeout overrides the script's timeout; 0 means the policy's default.
	Timeout time.Duration
	// TaskCPU and TaskMemory override the task's resources; 0 means the
	// policy's default.
	TaskCPU    int
	TaskMemory int
}

// Problem is one thing wrong with a manifest.
type Problem struct {
	// Line is the 1-based line of the manifest the problem is at, or 0
	// when it has none.
	Line int
	// Message says what is wrong, naming the job and field.
	Message string
}

// Error lists every problem found in a manifest (up to a bound, so that a
// hostile file cannot produce unbounded output).
type Error struct {
	// Source names the manifest: its path, or "manifest".
	Source   string
	Problems []Problem
}

// Error formats one problem per line as "source:line: message".
func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Source)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
		b.WriteString(p.Message)
	}
	return b.String()
}

// Parse parses, validates and expands a manifest. An invalid manifest
// returns an *Error whose source is "manifest".
func Parse(data []byte) (*Manifest, error) {
	return parse(data, "manifest")
}

// Load reads the manifest at path (at most MaxBytes) and parses it. Errors
// name the path.
func Load(path string) (*Manifest, error) {
	f, err := os.Open(path) //nolint:gosec // the caller's manifest, by design
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", path, err)
	}
	return parse(data, path)
}
