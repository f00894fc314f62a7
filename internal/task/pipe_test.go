package task

import (
	"os"
	"runtime"
	"testing"
	"time"
)

// TestSilenceCountsFromTheExitAndNotOverData: the drain abandons a pipe
// only after drainIdle of silence since the script's group ended, never
// while what the script wrote waits to be read. A read that waited through
// a long pause of the script before its last lines is not silence.
func TestSilenceCountsFromTheExitAndNotOverData(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close(); _ = w.Close() }()
	p := &watchedPipe{f: r}
	now := time.Now()
	exited := now.Add(-3 * time.Second)

	if s := p.silence(exited); s != 0 {
		t.Errorf("no read waiting: silence %v, want 0", s)
	}
	// A read has waited 5s (the script paused), and the script wrote
	// its last line before it exited, 3s ago: the reader has not run.
	p.waiting.Store(now.Add(-5 * time.Second).UnixNano())
	if _, err := w.WriteString("last line\n"); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "linux" {
		if s := p.silence(exited); s != 0 {
			t.Errorf("a line waiting in the pipe: silence %v, want 0", s)
		}
	}
	buf := make([]byte, 64)
	if _, err := r.Read(buf); err != nil {
		t.Fatal(err)
	}
	// Read, nothing more: silence counts from the exit, not from when the
	// read began to wait.
	if s := p.silence(exited); s < 3*time.Second || s > 4*time.Second {
		t.Errorf("3s after the exit: silence %v, want 3s", s)
	}
	if s := p.silence(time.Now()); s > drainIdle/2 {
		t.Errorf("just after the exit: silence %v, want about 0 (the read waited 5s before it)", s)
	}
}
