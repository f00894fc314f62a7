package extras

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/internal/cli/jobview"
	"github.com/deployerhq/deployer/internal/cli/uicmd"
	"github.com/deployerhq/deployer/internal/ui"
	"github.com/deployerhq/deployer/producer"
)

var _ uicmd.Dashboard = Extras{}

// ListenDashboard implements uicmd.Dashboard with package ui.
func (Extras) ListenDashboard(ctx context.Context, f *factory.Factory, cl *client.Client, pol func() (uicmd.Policy, error), c uicmd.Config) (serve func(ctx context.Context) error, err error) {
	if _, err := ui.Loopback(c.Addr); err != nil {
		return nil, factory.Usage(err)
	}
	ln, loopback, err := ui.Listen(ctx, c.Addr)
	if err != nil {
		// In use, or not an address of this machine.
		return nil, &factory.ExitError{Code: producer.ExitUnavailable, Err: err}
	}
	src := &ui.ClientSource{Client: cl, Policy: func() (ui.Policy, error) { return pol() }, CallerMeta: client.CallerFromEnv(f.Getenv)}
	opts := ui.Options{AllowActions: c.AllowActions, LoopbackOnly: loopback, LogPoll: 500 * time.Millisecond}
	if cl.Backend() == client.BackendAWS {
		// Every poll of a live log reads CloudWatch Logs (the journal
		// and the task's log), whose read rate is limited per account.
		opts.LogPoll = 2 * time.Second
	}
	if !c.Served {
		src.EnsureServed = func(ctx context.Context) error { return jobview.EnsureServed(ctx, f, cl, nil) }
	}
	s, err := ui.New(src, opts)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	mode := "read-only: --allow-actions to replay, cancel and pause"
	if c.AllowActions {
		mode = "actions allowed: replay, cancel, pause"
	}
	name := f.ProgramName()
	if !loopback {
		_, _ = fmt.Fprintf(f.IO.ErrOut, "%s: %s\n", name, ui.ExposedWarning(ln.Addr().String(), c.AllowActions))
	}
	_, _ = fmt.Fprintf(f.IO.ErrOut, "%s: dashboard of the %s at http://%s/ (%s)\n", name, cl.Where(), ln.Addr(), mode)
	return func(ctx context.Context) error {
		err := s.Serve(ctx, ln)
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}, nil
}
