package cli

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/deployerhq/deployer/client"
)

// TestCommandsStartAServerThroughTheFactory: a command that finds no
// pipeline serving the state directory starts one with
// Factory.StartServer (here, the client serving it in a goroutine of this
// process instead of a detached "deployer up"), once, and the job is
// served by it.
func TestCommandsStartAServerThroughTheFactory(t *testing.T) {
	f, _, errOut := newFactory(t)
	var starts int
	var wg sync.WaitGroup
	f.StartServer = func(ctx context.Context) error {
		starts++
		// Served through the client, as a Go program serves a state
		// directory (client.Client.Serve).
		c, err := f.Client(ctx)
		if err != nil {
			return err
		}
		config, err := f.ResolveConfigPath()
		if err != nil {
			return err
		}
		sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		ready, failed := make(chan struct{}), make(chan struct{})
		wg.Go(func() {
			defer func() { _ = c.Close() }()
			if err := c.Serve(sctx, client.ServeOptions{Config: config, Ready: func() { close(ready) }}); err != nil {
				t.Errorf("serving: %v", err)
				close(failed)
			}
		})
		t.Cleanup(func() { stop(); wg.Wait() })
		select {
		case <-ready:
			return nil
		case <-failed:
			return errors.New("the server did not start")
		}
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
