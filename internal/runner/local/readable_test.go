package local_test

import (
	"os"
	"testing"

	"github.com/deployerhq/deployer/internal/runner/local"
)

// TestReadable: a spare warms only while nothing waits on its stdin; a
// task id written, or the runner's end of the pipe closed, is there to
// read at once.
func TestReadable(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = r.Close() }()
	if local.Readable(r) {
		t.Fatal("an empty pipe is readable")
	}
	if _, err := w.WriteString("lt-x-1\n"); err != nil {
		t.Fatal(err)
	}
	if !local.Readable(r) {
		t.Fatal("a pipe holding a task id is not readable")
	}
	buf := make([]byte, 64)
	if _, err := r.Read(buf); err != nil {
		t.Fatal(err)
	}
	if local.Readable(r) {
		t.Fatal("a drained pipe is readable")
	}
	_ = w.Close()
	if !local.Readable(r) {
		t.Fatal("a pipe whose writer closed is not readable: the spare would warm before seeing it must exit")
	}
}
