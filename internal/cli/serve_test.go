package cli

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/deployerhq/deployer/internal/backend"
)

// TestCommandsStartAServerThroughTheFactory: a command that finds no
// pipeline serving the state directory starts one with
// Factory.StartServer (here, in a goroutine of this process instead of a
// detached "deployer up"), once, and the job is served by it.
func TestCommandsStartAServerThroughTheFactory(t *testing.T) {
	f, _, errOut := newFactory(t)
	var starts int
	var wg sync.WaitGroup
	f.StartServer = func(ctx context.Context) error {
		starts++
		b, err := f.Embedded(ctx)
		if err != nil {
			return err
		}
		pol, err := f.Policy()
		if err != nil {
			return err
		}
		release, err := b.ServeLock()
		if err != nil {
			return err
		}
		sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		ready := make(chan struct{})
		wg.Go(func() {
			defer func() { release(); _ = b.Close() }()
			if err := b.Serve(sctx, pol, backend.ServeOptions{Ready: func() { close(ready) }}); err != nil {
				t.Errorf("serving: %v", err)
			}
		})
		t.Cleanup(func() { stop(); wg.Wait() })
		<-ready
		return nil
	}
	// The built-in example has no such script: the gatekeeper the
	// server runs rejects it (77), which only a served pipeline can.
	if code := Execute(context.Background(), f, []string{"run", "--", "demo", "no-such-script"}); code != 77 {
		t.Fatalf("run: exit %d, want 77; stderr:\n%s", code, errOut)
	}
	if code := Execute(context.Background(), f, []string{"run", "--", "demo", "no-such-script"}); code != 77 {
		t.Fatalf("second run: exit %d, want 77; stderr:\n%s", code, errOut)
	}
	if starts != 1 {
		t.Errorf("StartServer called %d times, want 1: the second run finds the first server", starts)
	}
	if !strings.Contains(errOut.String(), "rejected") {
		t.Errorf("stderr does not report the rejection:\n%s", errOut)
	}
}
