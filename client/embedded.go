package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/embedded"
	"github.com/deployerhq/deployer/internal/runner/local"
	"github.com/deployerhq/deployer/internal/task"
	"github.com/deployerhq/deployer/internal/task/secret"
	"github.com/deployerhq/deployer/schemas"
	"github.com/deployerhq/deployer/worker"
)

// EmbeddedOptions locate and tune the embedded backend.
type EmbeddedOptions struct {
	// StateDir is the state directory: the SQLite database every process
	// of this backend shares (CLIs, "deployer up"s, programs) and the
	// tasks' work directories. Required; created when missing, unless
	// ReadOnly. The deployer CLI's default is $DEPLOYER_STATE_DIR, else
	// $XDG_STATE_HOME/deployer (~/.local/state/deployer).
	StateDir string
	// ReadOnly opens an existing state directory for reading only, for a
	// user who cannot write it: jobs, batches and dead letters can be
	// read; nothing can be submitted, cancelled or replayed, and Serve
	// fails.
	ReadOnly bool
	// Executable is the program the backend re-executes to supervise a
	// task and run its script, with SuperviseArg or TaskArg first: a
	// deployer binary (whose tasks read Secrets Manager and SSM secrets
	// through the deployer-aws beside it), or a program that calls
	// RunTaskProcess or awsclient.RunTaskProcess first in main. Only
	// Serve starts tasks. Defaults to this program.
	Executable string
	// Logger receives the pipeline's logs when this client serves (see
	// ServeOptions.Logger). Defaults to discarding them.
	Logger *slog.Logger
}

// OpenEmbedded opens the embedded backend on a state directory. The
// gatekeeper verifies what this client sends as the OS user running the
// program ("user:NAME"), which the configuration's allowed_callers must
// allow. Nothing runs until a pipeline serves the state directory: a
// "deployer up", or Serve.
func OpenEmbedded(ctx context.Context, o EmbeddedOptions) (*Client, error) {
	if o.StateDir == "" {
		return nil, errors.New("opening the embedded backend: no state directory: set EmbeddedOptions.StateDir")
	}
	dir, err := filepath.Abs(o.StateDir)
	if err != nil {
		return nil, fmt.Errorf("state directory %q: %w", o.StateDir, err)
	}
	exe := o.Executable
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("locating this program, which supervises the embedded backend's tasks (or set EmbeddedOptions.Executable): %w", err)
		}
	}
	sender := embedded.OSUser()
	b, err := embedded.Open(ctx, dir, embedded.Options{
		Supervisor: []string{exe, SuperviseArg},
		Sender:     sender,
		Logger:     o.Logger,
		ReadOnly:   o.ReadOnly,
	})
	if err != nil {
		if o.ReadOnly {
			return nil, fmt.Errorf("opening state directory %s for reading: %w", dir, err)
		}
		return nil, fmt.Errorf("opening state directory %s: %w", dir, err)
	}
	c := newClient(b)
	c.eb = b
	c.caller = schemas.Identity{Principal: sender, Source: "os_user"}
	c.supervisorGiven = o.Executable != ""
	return c, nil
}

// ServeOptions tune Serve.
type ServeOptions struct {
	// Config is the configuration file the gatekeeper enforces (the
	// allow-list, see docs/configuration.md): every container's
	// local.scripts_dir must exist. Required.
	Config string
	// Logger receives the pipeline's logs. Defaults to
	// EmbeddedOptions.Logger.
	Logger *slog.Logger
	// DrainTimeout is how long, once ctx ends, the worker keeps tracking
	// the jobs it runs before handing them back for the next server of
	// the state directory to adopt (their tasks keep running either way).
	// Defaults to 0: at once.
	DrainTimeout time.Duration
	// Ready, when set, is called once the pipeline serves.
	Ready func()
}

// Serve runs the pipeline of the embedded backend in this process — the
// gatekeeper enforcing o.Config, a worker and the logshipper, as
// "deployer up" does — until ctx ends, then drains (o.DrainTimeout). Any
// number of processes may serve one state directory at once; commands
// and clients see it served (Served) while it runs.
//
// Tasks run as this program re-executed (EmbeddedOptions.Executable): a
// program that serves without naming another executable must call
// RunTaskProcess (or awsclient.RunTaskProcess) first thing in main, and
// Serve refuses to start when it has not. On AWS, whose deployment is
// its own pipeline, Serve fails.
func (c *Client) Serve(ctx context.Context, o ServeOptions) error {
	switch {
	case c.eb == nil:
		return fmt.Errorf("serving the %s: an AWS deployment is served by its own gatekeeper and workers, not by a client", c.Where())
	case c.eb.ReadOnly:
		return fmt.Errorf("serving the %s: the client opened it read-only", c.Where())
	case !c.supervisorGiven && !handlesTaskProcesses.Load():
		return errors.New("serving the embedded backend: tasks run as this program re-executed, and it does not handle that: " +
			"call client.RunTaskProcess first thing in main, or set EmbeddedOptions.Executable to a deployer binary")
	case o.Config == "":
		return errors.New("serving the embedded backend: no configuration: set ServeOptions.Config")
	}
	path, err := filepath.Abs(o.Config)
	if err != nil {
		return fmt.Errorf("configuration %q: %w", o.Config, err)
	}
	pol, err := policy.Load(path, policy.WithLocalBackend())
	if err != nil {
		return fmt.Errorf("configuration %s:\n%w", path, err)
	}
	release, err := c.eb.ServeLock()
	if err != nil {
		return err
	}
	defer release()
	// Published beside the serve mark, as "deployer up" does, so that a
	// command given another configuration says so instead of being
	// ignored.
	if err := c.eb.PublishServed(embedded.ServedConfig{Config: path, PolicyDigest: pol.Digest(), Since: time.Now().UTC()}); err != nil {
		return err
	}
	defer c.eb.UnpublishServed()
	err = c.eb.Serve(ctx, pol, backend.ServeOptions{
		Worker: worker.Options{DrainTimeout: o.DrainTimeout, Logger: o.Logger},
		Logger: o.Logger,
		Ready:  o.Ready,
	})
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// Stopped while a part was still starting: not a failure.
		return nil
	}
	return err
}

// The first arguments with which the embedded backend re-executes a
// program (EmbeddedOptions.Executable): SuperviseArg for a task's
// supervisor, TaskArg for its entrypoint, which runs the script.
const (
	SuperviseArg = "__supervise"
	TaskArg      = "__task"
)

// handlesTaskProcesses is set once RunTaskProcess has been called: the
// program re-executed as a task process will not run its own main.
var handlesTaskProcesses atomic.Bool

// RunTaskProcess runs this process as what the embedded backend started
// it as, when args (os.Args[1:]) begin with SuperviseArg or TaskArg: a
// task's supervisor, or its entrypoint running the script. It then
// returns the process's exit code and true; the caller exits with it at
// once. Otherwise it returns false and does nothing. A program that
// serves the embedded backend (Serve) calls it first thing in main:
//
//	func main() {
//		if code, ok := client.RunTaskProcess(context.Background(), os.Args[1:]); ok {
//			os.Exit(code)
//		}
//		...
//	}
//
// It links no AWS SDK client: a task's env: and file: secrets resolve,
// and one that references Secrets Manager or SSM fails before its script
// starts. A program whose tasks read those calls awsclient.RunTaskProcess
// (package client/awsclient) instead.
func RunTaskProcess(ctx context.Context, args []string) (code int, ok bool) {
	return runTaskProcess(ctx, args, &secret.Resolver{})
}

// runTaskProcess is RunTaskProcess resolving the task's secrets with
// secrets.
func runTaskProcess(ctx context.Context, args []string, secrets *secret.Resolver) (code int, ok bool) {
	handlesTaskProcesses.Store(true)
	if len(args) == 0 {
		return 0, false
	}
	switch args[0] {
	case SuperviseArg:
		return local.Supervise(ctx, args[1:], moduleVersion(), secrets), true
	case TaskArg:
		return task.Main(ctx, args[1:], moduleVersion(), secrets), true
	}
	return 0, false
}

// moduleVersion is the version of deployer built into this program, which
// a canary's task reports: the module's, as a dependency or as the main
// module, or "dev".
func moduleVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	const path = "github.com/deployerhq/deployer"
	v := ""
	if info.Main.Path == path {
		v = info.Main.Version
	}
	for _, d := range info.Deps {
		if d.Path == path {
			v = d.Version
		}
	}
	if v == "" || v == "(devel)" {
		return "dev"
	}
	return v
}
