// Package up implements "deployer up": serve the embedded pipeline
// (gatekeeper, worker, logshipper) on a state directory in the foreground.
package up

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/cli/factory"
	"github.com/deployerhq/deployer/worker"
)

// Options are the parsed command line of "deployer up".
type Options struct {
	Factory      *factory.Factory
	DrainTimeout time.Duration
	Capacity     int
	Visibility   time.Duration
	Verbose      bool
	// Provision creates the AWS backend's missing queues, log groups and
	// lease table first (emulators, small installations).
	Provision bool
}

// NewCmdUp builds the command; runF replaces the action in tests.
func NewCmdUp(f *factory.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{Factory: f}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Serve the pipeline (gatekeeper, worker, logshipper) in the foreground",
		Long: `Up serves the embedded pipeline on the state directory until it is stopped,
so that any number of "deployer run" processes share it. Several "up"s may
serve one state directory at once: every task starts exactly once.

On SIGINT or SIGTERM it stops taking jobs and keeps tracking running ones
for up to --drain-timeout, then hands the rest back for another pipeline to
adopt; a second signal hands them back at once. Tasks keep running either way.

With --backend aws it serves an AWS deployment without Lambdas: the
gatekeeper long-polls the request queue, the worker runs ECS tasks, and task
logs are read from CloudWatch Logs for the tasks this process tracks.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.DrainTimeout < 0 || opts.Capacity < 1 || opts.Visibility < 3*time.Second {
				return factory.Usage(fmt.Errorf("--drain-timeout must not be negative, --capacity at least 1 and --visibility at least 3s"))
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runUp(cmd.Context(), opts)
		},
	}
	cmd.Flags().DurationVar(&opts.DrainTimeout, "drain-timeout", 5*time.Minute, "how long to keep tracking running jobs after a stop signal")
	cmd.Flags().IntVar(&opts.Capacity, "capacity", worker.DefaultCapacity, "most jobs this process tracks at once")
	cmd.Flags().DurationVar(&opts.Visibility, "visibility", worker.DefaultVisibility, "how long a job taken by a pipeline that dies stays hidden before another adopts it")
	cmd.Flags().BoolVarP(&opts.Verbose, "verbose", "v", false, "log every job event")
	cmd.Flags().BoolVar(&opts.Provision, "provision", false, "with --backend aws: create missing queues, log groups and the lease table first")
	return cmd
}

func runUp(ctx context.Context, opts *Options) error {
	f := opts.Factory
	pol, err := f.Policy()
	if err != nil {
		return err
	}
	var b backend.Backend
	if opts.Provision {
		name, err := f.ResolveBackend()
		if err != nil {
			return err
		}
		if name != factory.BackendAWS {
			return factory.Usage(fmt.Errorf("--provision applies to --backend aws only"))
		}
		b, err = f.AWS(ctx, true)
		if err != nil {
			return err
		}
	} else if b, err = f.Backend(ctx); err != nil {
		return err
	}
	defer func() { _ = b.Close() }()
	// The embedded backend records that a pipeline serves its state
	// directory, so that "run" does not serve one of its own.
	if l, ok := b.(interface{ ServeLock() (func(), error) }); ok {
		release, err := l.ServeLock()
		if err != nil {
			return err
		}
		defer release()
	}

	level := slog.LevelInfo
	if !opts.Verbose {
		level = slog.LevelWarn
	}
	logger := slog.New(slog.NewTextHandler(f.IO.ErrOut, &slog.HandlerOptions{Level: level}))

	// The first signal drains; the second hands running jobs back at once.
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	abort := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		select {
		case <-sigs:
		case <-ctx.Done():
		}
		_, _ = fmt.Fprintln(f.IO.ErrOut, "deployer: stopping: no new jobs; draining running ones (signal again to hand them back now)")
		stop()
		<-sigs
		close(abort)
	}()

	err = b.Serve(sctx, pol, backend.ServeOptions{
		Worker:     worker.Options{Capacity: opts.Capacity, DrainTimeout: opts.DrainTimeout, Visibility: opts.Visibility, Logger: logger},
		Visibility: opts.Visibility,
		Logger:     logger,
		Abort:      abort,
		Ready: func() {
			_, _ = fmt.Fprintf(f.IO.ErrOut, "deployer: serving %s (stop with Ctrl-C)\n", b.Where())
		},
	})
	_, _ = fmt.Fprintln(f.IO.ErrOut, "deployer: stopped")
	return err
}
