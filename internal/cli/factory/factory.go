// Package factory holds what every deployer command shares: its standard
// streams, the global flags, how to load the configuration and open the
// backend, and the error type that carries an exit code.
package factory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/deployerhq/deployer/client"
	"github.com/deployerhq/deployer/gatekeeper/policy"
	"github.com/deployerhq/deployer/internal/backend"
	"github.com/deployerhq/deployer/internal/cli/example"
	"github.com/deployerhq/deployer/internal/embedded"
	"github.com/deployerhq/deployer/internal/sqlitedb"
	"github.com/deployerhq/deployer/producer"
)

// IOStreams are a command's standard streams.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// CanPrompt reports whether a command may ask a question: In and ErrOut
// are both terminals. Commands ask this instead of testing for a TTY
// themselves.
func (s IOStreams) CanPrompt() bool { return isTerminal(s.In) && isTerminal(s.ErrOut) }

func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// IsTerminal reports whether w is a terminal (a file that answers the
// terminal ioctl: not /dev/null, a pipe or a regular file).
func IsTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), ioctlReadTermios)
	return err == nil
}

// TerminalWidth returns the width in columns of the terminal w is, or 80
// when it is none or does not say.
func TerminalWidth(w any) int {
	if f, ok := w.(*os.File); ok {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
			return int(ws.Col)
		}
	}
	return 80
}

// Factory gives commands what they share. Fields are set by the root
// command; tests replace them.
type Factory struct {
	IO     IOStreams
	Getenv func(string) string
	// SpareAtStart has a server this process runs start its spare task
	// supervisor at once (local.Options.SpareAtStart): set by cli.MainAs,
	// whose binary runs SuperviseCommand; not by tests that build a
	// Factory around a test binary.
	SpareAtStart bool
	// ConfigPath and StateDir are the global flags' values.
	ConfigPath string
	StateDir   string
	// BackendName, Region and Prefix select the backend: "embedded" (the
	// default) or "aws" in a region, with a resource-name prefix. A
	// Region (set only by the --region flag) selects "aws" when no
	// BackendName is given: see ResolveBackend.
	BackendName string
	Region      string
	Prefix      string
	// Name is the program the user ran ("deployer",
	// "infrastructure-deployer"), which speaks in status lines; see
	// ProgramName.
	Name string
	// Executable is the path of the running binary, re-executed as the
	// task supervisor and as a detached server.
	Executable func() (string, error)
	// NoColor is the --no-color flag: no colour and no terminal escape
	// sequence at all (see Color).
	NoColor bool
	// StartServer, when set, replaces starting a detached server when a
	// command finds no pipeline serving the embedded state directory (see
	// jobview.EnsureServed): it returns once one serves. In-process tests
	// serve in a goroutine with it instead of spawning the test binary.
	// Nil (the default) starts "deployer up" detached.
	StartServer func(ctx context.Context) error
	// AWS opens the aws backend. Binaries that link the AWS SDK set it
	// (deployer-aws and infrastructure-deployer: package awscli);
	// deployer leaves the SDK out to start faster, and a command of it
	// that needs the aws backend hands its command line to deployer-aws
	// instead (see HandOff).
	AWS AWS
	// Extras are the other parts deployer leaves out to start faster
	// (Prometheus metrics, the OTLP span exporter, the web dashboard):
	// package extras, set
	// by the binaries that link them (deployer-aws,
	// infrastructure-deployer). A command of deployer that needs one
	// hands its command line to deployer-aws instead (see Extra).
	Extras any
	// Args is the command line (without the program name) HandOff gives
	// deployer-aws.
	Args []string
}

// New returns a Factory on the process's streams and environment.
func New() *Factory {
	return &Factory{
		IO:         IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr},
		Getenv:     os.Getenv,
		Executable: os.Executable,
	}
}

// Color reports whether output may carry colours and other terminal
// escape sequences: not with --no-color, $NO_COLOR set to anything
// (no-color.org) or TERM=dumb. Whether a stream is a terminal is asked
// apart (IsTerminal).
func (f *Factory) Color() bool {
	return !f.NoColor && f.Getenv("NO_COLOR") == "" && f.Getenv("TERM") != "dumb"
}

// ProgramName is the program the user ran: Name, or "deployer".
func (f *Factory) ProgramName() string {
	if f.Name == "" {
		return "deployer"
	}
	return f.Name
}

// ResolveStateDir returns the state directory: --state-dir, then
// $DEPLOYER_STATE_DIR, then $XDG_STATE_HOME/deployer, then
// ~/.local/state/deployer.
func (f *Factory) ResolveStateDir() (string, error) {
	dir := f.StateDir
	if dir == "" {
		dir = f.Getenv("DEPLOYER_STATE_DIR")
	}
	if dir == "" {
		if x := f.Getenv("XDG_STATE_HOME"); x != "" && filepath.IsAbs(x) {
			dir = filepath.Join(x, "deployer")
		}
	}
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", Config(fmt.Errorf("no state directory: set --state-dir or $DEPLOYER_STATE_DIR (%w)", err))
		}
		dir = filepath.Join(home, ".local", "state", "deployer")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", Config(fmt.Errorf("state directory %q: %w", dir, err))
	}
	return abs, nil
}

// UnopenedStateDir returns the embedded backend's state directory, made
// as opening it makes it, for a command that acts on it before opening
// it (a run starts its server first); "" on the AWS backend, or when this
// user cannot write it (opening it then says so).
func (f *Factory) UnopenedStateDir() (string, error) {
	name, err := f.ResolveBackend()
	if err != nil || name != BackendEmbedded {
		return "", err
	}
	dir, err := f.ResolveStateDir()
	if err != nil {
		return "", err
	}
	if sqlitedb.CheckWritable(dir) != nil || sqlitedb.MakeDir(dir) != nil {
		return "", nil
	}
	return dir, nil
}

// ResolveConfigPath returns the configuration file: --config, then
// $DEPLOYER_CONFIG, then the built-in example (written into the state
// directory so that its scripts exist on disk).
func (f *Factory) ResolveConfigPath() (string, error) {
	if f.ConfigPath != "" {
		return f.ConfigPath, nil
	}
	if p := f.Getenv("DEPLOYER_CONFIG"); p != "" {
		return p, nil
	}
	dir, err := f.ResolveStateDir()
	if err != nil {
		return "", err
	}
	// Made as opening it makes it, whichever command comes first, before
	// the example goes in (which would make it as its own directories).
	// Install says what fails.
	_ = sqlitedb.MakeDir(dir)
	return example.Install(filepath.Join(dir, "example"))
}

// ExplicitConfigPath returns the configuration file the command line or
// the environment names (--config, then $DEPLOYER_CONFIG), "" when
// neither does.
func (f *Factory) ExplicitConfigPath() string {
	if f.ConfigPath != "" {
		return f.ConfigPath
	}
	return f.Getenv("DEPLOYER_CONFIG")
}

// Policy loads and validates the configuration for the selected backend
// (the embedded one also needs every script on disk). Any problem is a
// configuration error (exit 78).
func (f *Factory) Policy() (*policy.Policy, error) {
	path, err := f.ResolveConfigPath()
	if err != nil {
		return nil, err
	}
	p, err := f.LoadPolicy(path)
	if err != nil {
		return nil, Config(fmt.Errorf("configuration %s:\n%w", path, err))
	}
	return p, nil
}

// LoadPolicy loads and validates the configuration file at path as
// Policy does, for the selected backend; its error lists every problem
// (a *policy.ConfigError) or says why the file cannot be read. "deployer
// up" reloads its configuration with it.
func (f *Factory) LoadPolicy(path string) (*policy.Policy, error) {
	name, err := f.ResolveBackend()
	if err != nil {
		return nil, err
	}
	var opts []policy.Option
	if name == BackendEmbedded {
		opts = append(opts, policy.WithLocalBackend())
	}
	return policy.Load(path, opts...)
}

// CheckServedConfig makes a configuration given explicitly (see
// ExplicitConfigPath) that differs from what the "deployer up"s serving
// the embedded state directory enforce a configuration error (exit 78),
// instead of silently ignored: the server decides every request with its
// own policy. It compares policy digests (policy.Policy.Digest), so a
// copy of the served file, or the file itself once the server has
// reloaded it, passes. With no explicit configuration, on the AWS
// backend, or when no server publishes what it enforces, it returns nil.
func (f *Factory) CheckServedConfig(c *client.Client) error {
	path := f.ExplicitConfigPath()
	dir := c.StateDir()
	if path == "" || dir == "" {
		return nil
	}
	served, err := embedded.ServedConfigs(dir)
	if err != nil || len(served) == 0 {
		return err
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	// The servers' own file, as they parsed it: the same policy, known
	// without parsing it again (most of this check's time).
	if servingSource(served, path) {
		return nil
	}
	// Only which policy decides matters here, not whether this machine
	// could run its scripts: the server judges those (a script broken
	// after the server started makes its job "could not start", not this
	// command's configuration error). The local checks change no digest.
	p, err := policy.Load(path)
	if err != nil {
		return Config(fmt.Errorf("configuration %s:\n%w", path, err))
	}
	return MismatchedConfig(path, p.Digest(), dir, served)
}

// servingSource reports whether every server in served enforces the file
// at path as parsed from the bytes it holds now.
func servingSource(served []embedded.ServedConfig, path string) bool {
	for _, s := range served {
		if s.Config != path || s.Source == "" {
			return false
		}
	}
	f, err := os.Open(path) //nolint:gosec // the configuration the user named
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }()
	data, err := io.ReadAll(io.LimitReader(f, policy.MaxConfigSize+1))
	if err != nil || len(data) > policy.MaxConfigSize {
		return false
	}
	source := policy.SourceDigest(data)
	for _, s := range served {
		if s.Source != source {
			return false
		}
	}
	return true
}

// MismatchedConfig returns the configuration error of CheckServedConfig
// when a server in served enforces another policy than digest (of the
// file at path), and nil otherwise. It says how to fix it for each
// server: a server of the same file has not put its current content in
// force (refused it, or not reloaded yet: SIGHUP); a server of another
// file must be restarted on this one, or --config dropped.
func MismatchedConfig(path, digest, stateDir string, served []embedded.ServedConfig) error {
	var lines []string
	for _, s := range served {
		switch {
		case s.PolicyDigest == digest:
		case s.Config == path:
			lines = append(lines, fmt.Sprintf(`  deployer up (pid %d) serves this file but still enforces %s: it refused the file's current content or has not reloaded it yet.
    Fix: see its log for why, or reload it now with SIGHUP ("kill -HUP %d").`, s.PID, s.PolicyDigest, s.PID))
		default:
			lines = append(lines, fmt.Sprintf(`  deployer up (pid %d) enforces %s, from %s.
    Fix: drop --config and $DEPLOYER_CONFIG to use that configuration; or restart the server with --config %s; or edit %s and reload it with SIGHUP ("kill -HUP %d"); or use another --state-dir.`,
				s.PID, s.PolicyDigest, s.Config, path, s.Config, s.PID))
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return Config(fmt.Errorf("configuration %s (policy %s) is not the one in force on state directory %s, whose server decides every request with its own:\n%s",
		path, digest, stateDir, strings.Join(lines, "\n")))
}

// ServedConfigs lists what the "deployer up"s serving the embedded state
// directory enforce, by pid (see embedded.ServedConfigs). It reads the
// files they publish and opens no database.
func (f *Factory) ServedConfigs() ([]embedded.ServedConfig, error) {
	dir, err := f.ResolveStateDir()
	if err != nil {
		return nil, err
	}
	return embedded.ServedConfigs(dir)
}

// Backend names.
const (
	BackendEmbedded = "embedded"
	BackendAWS      = "aws"
)

// ResolveBackend returns the backend's name: --backend, then
// $DEPLOYER_BACKEND, then aws when --region (--aws-region) is given,
// then embedded. An unknown name, and --region with the embedded
// backend, are usage errors.
func (f *Factory) ResolveBackend() (string, error) {
	name, source := f.BackendName, "--backend"
	if name == "" {
		name, source = f.Getenv("DEPLOYER_BACKEND"), "$DEPLOYER_BACKEND"
	}
	// A region or a resource prefix is only ever an AWS backend's: given
	// alone it selects that backend (as the ECS deploy runner's
	// --aws-region did); given with the embedded one it would be silently
	// ignored while everything ran on this machine, so it is a usage
	// error.
	for _, opt := range []struct{ flag, value string }{{"--region (--aws-region)", f.Region}, {"--prefix", f.Prefix}} {
		if opt.value == "" {
			continue
		}
		switch name {
		case "":
			return BackendAWS, nil
		case BackendEmbedded:
			return "", Usage(fmt.Errorf("%s %s is a setting of the aws backend, but %s selects the embedded backend, which runs everything on this machine: drop %s, or select the aws backend (--backend aws)",
				opt.flag, opt.value, source, strings.SplitN(opt.flag, " ", 2)[0]))
		}
	}
	switch name {
	case "", BackendEmbedded:
		return BackendEmbedded, nil
	case BackendAWS:
		return BackendAWS, nil
	}
	return "", Usage(fmt.Errorf("unknown backend %q: want embedded or aws", name))
}

// Backend opens the backend the global flags select, to serve it
// ("deployer up"). Commands that submit, follow or read jobs open a
// Client instead.
func (f *Factory) Backend(ctx context.Context) (backend.Backend, error) {
	name, err := f.ResolveBackend()
	if err != nil {
		return nil, err
	}
	if name == BackendAWS {
		a, err := AWSPart[AWS](f)
		if err != nil {
			return nil, err
		}
		return a.Backend(ctx, f, false)
	}
	return f.Embedded(ctx)
}

// Client opens a client (package client) on the backend the global
// flags select: what every command that submits, follows or reads jobs
// works through. A state directory this user cannot write is refused
// with exit 73 (EX_CANTCREAT), saying so.
func (f *Factory) Client(ctx context.Context) (*client.Client, error) {
	return f.openClient(ctx, clientWrite)
}

// ReadClient is Client for commands that only read (status, logs, jobs,
// batch status|list|logs, dlq list|show): a state directory this user
// cannot write is opened read-only instead of refused.
func (f *Factory) ReadClient(ctx context.Context) (*client.Client, error) {
	return f.openClient(ctx, clientRead)
}

// LookClient opens a client to look at the selected backend, changing
// nothing: the embedded state directory is always opened read-only, and
// one that does not exist yet is an error rather than created. Shell
// completion uses it.
func (f *Factory) LookClient(ctx context.Context) (*client.Client, error) {
	return f.openClient(ctx, clientLook)
}

// How openClient opens an embedded state directory.
const (
	clientWrite = iota // for writing: refused when not writable
	clientRead         // read-only when not writable
	clientLook         // read-only always
)

func (f *Factory) openClient(ctx context.Context, mode int) (*client.Client, error) {
	name, err := f.ResolveBackend()
	if err != nil {
		return nil, err
	}
	if name == BackendAWS {
		a, err := AWSPart[AWS](f)
		if err != nil {
			return nil, err
		}
		return a.Client(ctx, f)
	}
	dir, err := f.ResolveStateDir()
	if err != nil {
		return nil, err
	}
	readOnly := mode == clientLook
	if !readOnly {
		if err := sqlitedb.CheckWritable(dir); err != nil {
			if mode == clientWrite {
				return nil, notWritable(dir, err)
			}
			readOnly = true
		}
	}
	exe, err := f.Executable()
	if err != nil {
		return nil, fmt.Errorf("locating the deployer binary: %w", err)
	}
	c, err := client.OpenEmbedded(ctx, client.EmbeddedOptions{StateDir: dir, ReadOnly: readOnly, Executable: exe})
	if err != nil && readOnly && mode == clientRead {
		return nil, &ExitError{Code: producer.ExitCantCreate, Err: fmt.Errorf(
			"state directory %s is not writable by %s, and reading it failed: %w", dir, userName(), err)}
	}
	return c, err
}

// notWritable is the error of a command that must write a state
// directory this user cannot write (exit 73).
func notWritable(dir string, err error) error {
	return &ExitError{Code: producer.ExitCantCreate, Err: fmt.Errorf(
		"state directory %s is not writable by %s (%w): this command must write to it; use a state directory of your own (--state-dir, $DEPLOYER_STATE_DIR) or ask its owner",
		dir, userName(), err)}
}

// Embedded opens the embedded backend on the state directory, to serve
// it ("deployer up") or look below the client at it ("deployer doctor").
// Commands that submit, follow or read jobs open a Client instead.
//
// A state directory this user cannot write is refused with exit 73
// (EX_CANTCREAT), saying so.
func (f *Factory) Embedded(ctx context.Context) (*embedded.Backend, error) {
	dir, err := f.ResolveStateDir()
	if err != nil {
		return nil, err
	}
	if err := sqlitedb.CheckWritable(dir); err != nil {
		return nil, notWritable(dir, err)
	}
	exe, err := f.Executable()
	if err != nil {
		return nil, fmt.Errorf("locating the deployer binary: %w", err)
	}
	opts := embedded.Options{
		Supervisor:   []string{exe, SuperviseCommand},
		SpareAtStart: f.SpareAtStart,
		Sender:       CurrentUser(),
	}
	if f.SpareAtStart {
		// deployer's own binary: its own supervisor binary when it has
		// one.
		opts.Supervisor, opts.SupervisorAbout = SupervisorCommand(exe)
	}
	b, err := embedded.Open(ctx, dir, opts)
	if err != nil {
		return nil, fmt.Errorf("opening state directory %s: %w", dir, err)
	}
	return b, nil
}

// SuperviseCommand is the hidden command the local runner re-executes the
// binary with to supervise one task.
const SuperviseCommand = client.SuperviseArg

// userName names the OS user running the command, for messages.
func userName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "user " + u.Username
	}
	return fmt.Sprintf("uid %d", os.Getuid())
}

// CurrentUser is the embedded backend's verified caller identity: the OS
// user running the command.
func CurrentUser() string { return embedded.OSUser() }

// ExitError carries the exit code a command ends with. Its message, if
// any, has been printed or is printed by the caller.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Exit returns an error that ends the command with code and no message.
func Exit(code int) error { return &ExitError{Code: code} }

// Usage marks err as a usage error (exit 64).
func Usage(err error) error { return &ExitError{Code: producer.ExitUsage, Err: err} }

// Config marks err as a configuration error (exit 78).
func Config(err error) error { return &ExitError{Code: producer.ExitConfig, Err: err} }

// NotFound marks err as naming a job, batch or dead letter the backend
// has no record of (exit 66).
func NotFound(err error) error { return &ExitError{Code: producer.ExitNoInput, Err: err} }

// Code returns the exit code for err: its ExitError code, or 1.
func Code(err error) int {
	if err == nil {
		return 0
	}
	var e *ExitError
	if errors.As(err, &e) {
		return e.Code
	}
	return 1
}

// JobOutputs are the values of the --output flag of the commands that
// print a job's output or status (those that declare it with
// JobOutputFlag): text (the default) detects the CI or terminal it runs
// in; the others name a dialect (see docs/ci.md).
var JobOutputs = []string{"text", "json", "github", "gitlab", "buildkite", "plain"}

// JobOutputHelp is the help text of that --output flag.
const JobOutputHelp = "text (detects GitHub Actions, GitLab CI, Buildkite or a terminal), json (one job event per line), github, gitlab, buildkite or plain; see docs/ci.md"

// printsJobs is the annotation of a command that declared JobOutputFlag.
const printsJobs = "deployer_prints_jobs"

// JobOutputFlag declares cmd's --output flag as a command that prints a
// job's output or status has it: into p, "text" by default, with
// JobOutputHelp and then more (when not empty) as its help, and marks cmd
// as such a command (PrintsJobs), so that shell completion offers
// JobOutputs. The command still checks the value with CheckJobOutput.
func JobOutputFlag(cmd *cobra.Command, p *string, more string) {
	help := JobOutputHelp
	if more != "" {
		help += "; " + more
	}
	cmd.Flags().StringVar(p, "output", "text", help)
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[printsJobs] = "true"
}

// PrintsJobs reports whether cmd prints a job's output or status: whether
// it declared its --output with JobOutputFlag.
func PrintsJobs(cmd *cobra.Command) bool { return cmd.Annotations[printsJobs] != "" }

// CheckJobOutput validates the --output flag of a command that prints a
// job's output or status (see JobOutputs); anything else is a usage
// error.
func CheckJobOutput(output string) error {
	for _, o := range JobOutputs {
		if output == o {
			return nil
		}
	}
	return Usage(fmt.Errorf("--output must be one of %s, not %q", strings.Join(JobOutputs, ", "), output))
}

// CheckOutput validates an --output flag's value (text or json); anything
// else is a usage error.
func CheckOutput(output string) error {
	if output != "text" && output != "json" {
		return Usage(fmt.Errorf("--output must be text or json, not %q", output))
	}
	return nil
}
