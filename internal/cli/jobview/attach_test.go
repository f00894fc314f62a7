package jobview

import (
	"bytes"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// notifyWriter records writes and signals the first.
type notifyWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	wrote chan struct{}
	once  sync.Once
}

func (w *notifyWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.once.Do(func() { close(w.wrote) })
	return w.buf.Write(b)
}

func TestHintIfSilentNamesThePipeline(t *testing.T) {
	w := &notifyWriter{wrote: make(chan struct{})}
	var heard atomic.Bool
	stop := hintIfSilent(New(&bytes.Buffer{}, w), &heard, time.Millisecond, "AWS deployment in eu-west-1")
	defer stop()
	select {
	case <-w.wrote:
	case <-time.After(10 * time.Second):
		t.Fatal("no hint")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if got := w.buf.String(); !strings.Contains(got, "AWS deployment in eu-west-1") || !strings.Contains(got, "Still waiting") {
		t.Fatalf("hint %q", got)
	}
}
