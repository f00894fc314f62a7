// Package uicmd implements "deployer ui": the web dashboard (package ui)
// on the selected backend, in the foreground; and Dashboard, which
// "deployer up --ui-addr" serves the same dashboard with. deployer
// leaves the dashboard out, to start faster, and hands those command
// lines to deployer-aws, which links it (package extras).
package uicmd

import (
	"context"
	"fmt"
	"net"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/schemas"
)

// DefaultAddr is where the dashboard listens unless told: loopback.
const DefaultAddr = "127.0.0.1:8080"

// Options are the parsed command line of "deployer ui".
type Options struct {
	Factory *factory.Factory
	// Addr is HOST:PORT to listen on. Defaults to DefaultAddr.
	Addr string
	// AllowActions lets the dashboard replay, cancel and pause.
	AllowActions bool
}

// NewCmdUI builds the command; runF replaces the action in tests.
func NewCmdUI(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "ui [--addr HOST:PORT] [--allow-actions]",
		Short: "Serve the web dashboard: jobs, live logs, batches, lanes, dead letters, schedules",
		Long: `UI serves a web dashboard of the backend (its pages are embedded in
deployer-aws, which deployer hands this command to; nothing is loaded from
elsewhere): jobs with filters, each job's page with its output live,
batches, lanes with their running and queued jobs, the dead-letter queue
with dry runs, and schedules.

It is read-only unless started with --allow-actions, which adds replaying
dead letters, cancelling jobs and pausing or resuming schedules. Actions go
through the gatekeeper as this process's caller, as "deployer dlq replay"
and "deployer cancel" do, and only from the dashboard's own pages (a
per-session CSRF token, same-origin POSTs).

It listens on 127.0.0.1:8080 by default. Any other interface must be given
with --addr and is warned about: the dashboard has no login. "deployer up
--ui-addr" serves it beside the pipeline. See docs/ui.md.`,
		Example: `  deployer ui
  deployer ui --addr 127.0.0.1:9090 --allow-actions
  deployer --backend aws --region eu-west-1 ui`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkAddr(opts.Addr); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runUI(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Addr, "addr", DefaultAddr, "HOST:PORT to serve the dashboard on (a non-loopback address is warned about: the dashboard has no login)")
	cmd.Flags().BoolVar(&opts.AllowActions, "allow-actions", false, "let the dashboard replay dead letters, cancel jobs and pause schedules (default read-only)")
	return cmd
}

// checkAddr makes a malformed address a usage error.
func checkAddr(addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return factory.Usage(fmt.Errorf("--addr %q: want HOST:PORT, such as %s", addr, DefaultAddr))
	}
	return nil
}

// Policy is the policy in force, as the dashboard reads it (package ui's
// Policy).
type Policy interface {
	client.Policy
	Config() schemas.Config
}

// Dashboard serves the web dashboard (package ui). deployer leaves it
// out, to start faster, and hands "deployer ui" and "deployer up
// --ui-addr" to deployer-aws, which links it (factory.Extra; package
// extras implements it).
type Dashboard interface {
	// ListenDashboard listens for the dashboard of the deployment cl is
	// open on as c says, telling the user where (and warning on
	// f.IO.ErrOut when beyond loopback), and returns serve, which serves
	// it until ctx ends; cl must stay open until then. pol returns the
	// policy in force.
	ListenDashboard(ctx context.Context, f *factory.Factory, cl *client.Client, pol func() (Policy, error), c Config) (serve func(ctx context.Context) error, err error)
}

// NeedDashboard names what these command lines need, when deployer
// hands them to deployer-aws for it.
const NeedDashboard = "the web dashboard"

func runUI(ctx context.Context, opts *Options) error {
	f := opts.Factory
	// Asked first: deployer hands the command line to deployer-aws for
	// the dashboard before it has done anything.
	dash, err := factory.Extra[Dashboard](f, NeedDashboard)
	if err != nil {
		return err
	}
	// Read-only, a state directory this user cannot write is still shown;
	// actions must write to it.
	open := f.ReadClient
	if opts.AllowActions {
		open = f.Client
	}
	c, err := open(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	// The configuration is loaded now, so that a broken one fails here
	// (exit 78), and again for every page that judges or lists by it,
	// so that the dashboard follows its edits.
	path, err := f.ResolveConfigPath()
	if err != nil {
		return err
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	if _, err := f.Policy(); err != nil {
		return err
	}
	pol := func() (Policy, error) {
		p, err := f.LoadPolicy(path)
		if err != nil {
			return nil, fmt.Errorf("configuration %s:\n%w", path, err)
		}
		return p, nil
	}
	serve, err := dash.ListenDashboard(ctx, f, c, pol, Config{Addr: opts.Addr, AllowActions: opts.AllowActions})
	if err != nil {
		return err
	}
	err = serve(ctx)
	_, _ = fmt.Fprintf(f.IO.ErrOut, "%s: dashboard stopped\n", f.ProgramName())
	return err
}

// Config is how a command serves the dashboard.
type Config struct {
	// Addr is HOST:PORT to listen on.
	Addr string
	// AllowActions lets the dashboard replay, cancel and pause.
	AllowActions bool
	// Served says the calling process serves the backend's pipeline
	// itself ("deployer up"), so actions need not start one.
	Served bool
}
