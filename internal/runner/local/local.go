package local

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/deployerhq/deployer/internal/runner"
	"github.com/deployerhq/deployer/internal/sqlitedb"
	"github.com/deployerhq/deployer/internal/task"
	"github.com/deployerhq/deployer/internal/task/secretref"
	"github.com/deployerhq/deployer/schemas"
)

var schema = []string{
	`CREATE TABLE IF NOT EXISTS local_tasks (
		id               TEXT PRIMARY KEY,
		job_id           TEXT NOT NULL,
		attempt          INTEGER NOT NULL,
		spec             TEXT NOT NULL,
		tags             TEXT NOT NULL DEFAULT '{}',
		grace_ms         INTEGER NOT NULL,
		heartbeat_ms     INTEGER NOT NULL,
		path             TEXT NOT NULL,
		status           TEXT NOT NULL,
		supervisor_pid   INTEGER NOT NULL DEFAULT 0,
		supervisor_token TEXT NOT NULL DEFAULT '',
		exit_code        INTEGER,
		stop_code        TEXT NOT NULL DEFAULT '',
		stop_reason      TEXT NOT NULL DEFAULT '',
		stop_requested   INTEGER NOT NULL DEFAULT 0,
		created_ms       INTEGER NOT NULL,
		spawned_ms       INTEGER NOT NULL DEFAULT 0,
		started_ms       INTEGER NOT NULL DEFAULT 0,
		beat_ms          INTEGER NOT NULL DEFAULT 0,
		stopped_ms       INTEGER NOT NULL DEFAULT 0,
		log_events       INTEGER NOT NULL DEFAULT 0,
		work_removed     INTEGER NOT NULL DEFAULT 0,
		UNIQUE (job_id, attempt)
	)`,
	`CREATE INDEX IF NOT EXISTS local_tasks_stopped ON local_tasks (status, stopped_ms)`,
}

// Defaults of Options.
const (
	DefaultGrace     = 10 * time.Second
	DefaultHeartbeat = time.Second
	// DefaultPath is the PATH tasks get when neither Options.Path nor the
	// starting process's PATH says otherwise.
	DefaultPath = "/usr/local/bin:/usr/bin:/bin"
)

// staleBeats is how many heartbeat intervals a supervisor may miss before
// its task is suspected lost (and then declared lost only if its process
// is gone).
const staleBeats = 5

// minRespawnWait is the least time a pending task's spawn is given to
// claim it before Start spawns another.
const minRespawnWait = 2 * time.Second

// inspectChunk bounds the ids of one Inspect query.
const inspectChunk = 500

// Options configure a Runner.
type Options struct {
	// StateDir is the state directory. Each task gets the directory
	// StateDir/work/<task id> (see WorkDir). Required.
	StateDir string
	// Supervisor is the argv prefix that starts a supervisor, e.g.
	// {"/usr/local/bin/deployer-supervisor"} or
	// {"/usr/local/bin/deployer", "__supervise"}.
	// The runner appends two arguments, the state directory and the task
	// id; the command must pass them to Supervise and exit with its
	// result. Required to start tasks (not to inspect or stop them).
	Supervisor []string
	// Grace is the time between SIGTERM and SIGKILL when a task is
	// stopped. Defaults to DefaultGrace (10s).
	Grace time.Duration
	// Heartbeat is how often a supervisor records that it is alive and
	// looks for a stop request. A running task whose supervisor missed 5
	// heartbeats and whose process is gone is lost. Defaults to
	// DefaultHeartbeat (1s).
	Heartbeat time.Duration
	// Path is the PATH tasks get. Defaults to this process's PATH, or
	// DefaultPath when it has none.
	Path string
	// Logger receives the runner's own diagnostics. Defaults to
	// discarding them.
	Logger *slog.Logger
	// SpareAtStart has KeepSpare start a spare supervisor at once, not
	// only once a task has been started (which proves that Supervisor
	// runs a supervisor): for a binary known to, deployer's own.
	SpareAtStart bool
}

// Validate returns every problem of the options at once.
func (o Options) Validate() error {
	var errs []error
	if o.StateDir == "" {
		errs = append(errs, errors.New("no state directory"))
	}
	if o.Grace < 0 {
		errs = append(errs, fmt.Errorf("grace %s is negative", o.Grace))
	}
	if o.Heartbeat < 0 {
		errs = append(errs, fmt.Errorf("heartbeat %s is negative", o.Heartbeat))
	}
	if len(o.Supervisor) > 0 && o.Supervisor[0] == "" {
		errs = append(errs, errors.New("supervisor command has an empty program name"))
	}
	return errors.Join(errs...)
}

// Runner starts and tracks tasks run by supervisor processes on this
// host. It is safe for concurrent use, and any number of Runners in any
// number of processes may share one state directory.
type Runner struct {
	db   *sql.DB
	opts Options
	log  *slog.Logger
	// stmts holds the statements of the hot paths: the inspection every
	// wake-up of a worker makes, and a task's start.
	stmts *sqlitedb.Stmts
	// live counts the supervisors this Runner spawned and has not reaped
	// yet (for tests: tasks outlive the Runner by design).
	live sync.WaitGroup

	// spares is set while KeepSpare runs; spare is the supervisor
	// started ahead, waiting for a task, if one is ready.
	spareMu      sync.Mutex
	spares       bool
	spare        *spareProc
	spareChanged chan struct{} // closed when spare changes
	// refillWaits counts the refills waiting (refillAfter);
	// refillsChanged, when a test made it, is closed at its next change.
	// refillMu guards both (putSpareBack holds spareMu as it waits a
	// refill).
	refillMu       sync.Mutex
	refillWaits    int
	refillsChanged chan struct{}
	// after is time.After (tests replace it): the waits before a
	// spare's start.
	after func(time.Duration) <-chan time.Time
}

// spareProc is a supervisor started ahead of its task: it has opened the
// state database and waits for the task's id on its stdin, the other end
// of conn (a socket pair): the runner writes task ids to conn, and reads
// back that the supervisor has recorded its task's end and waits for
// another (see returned).
type spareProc struct {
	proc   *os.Process
	conn   *os.File
	pid    int
	token  string
	exited chan struct{}
	// back is closed when the supervisor is back from the task last
	// handed to it (handTo, returned); guarded by Runner.spareMu.
	back chan struct{}
}

var _ runner.Runner = (*Runner)(nil)

// New returns a runner over db (opened by sqlitedb), creating its table
// when needed.
func New(db *sql.DB, opts Options) (*Runner, error) {
	if db == nil {
		return nil, errors.New("local runner: no database")
	}
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("local runner: %w", err)
	}
	abs, err := filepath.Abs(opts.StateDir)
	if err != nil {
		return nil, fmt.Errorf("local runner: state directory: %w", err)
	}
	opts.StateDir = abs
	if opts.Grace == 0 {
		opts.Grace = DefaultGrace
	}
	if opts.Heartbeat == 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.Path == "" {
		opts.Path = os.Getenv("PATH")
	}
	if opts.Path == "" {
		opts.Path = DefaultPath
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(context.Background(), sqlitedb.BusyTimeout)
	defer cancel()
	if err := sqlitedb.Migrate(ctx, db, schema...); err != nil {
		return nil, fmt.Errorf("local runner: %w", err)
	}
	return &Runner{db: db, opts: opts, log: opts.Logger, stmts: sqlitedb.NewStmts(db), after: time.After}, nil
}

// TaskID is the id of the task of a job's attempt: "lt-<job id>-<attempt>".
func TaskID(jobID string, attempt int) string {
	return "lt-" + jobID + "-" + strconv.Itoa(attempt)
}

// validTaskID reports whether id can be a task id (and so is safe in a
// path): ^lt-[0-9A-Za-z-]{1,64}-[0-9]{1,9}$. (Checked by hand: the {1,64}
// compiles to a program of 64 copies, which every process would build at
// start-up.) The attempt has no '-', so it follows the last one.
func validTaskID(id string) bool {
	rest, ok := strings.CutPrefix(id, "lt-")
	i := strings.LastIndexByte(rest, '-')
	if !ok || i < 1 || i > 64 {
		return false
	}
	job, attempt := rest[:i], rest[i+1:]
	if attempt == "" || len(attempt) > 9 {
		return false
	}
	for j := range len(attempt) {
		if attempt[j] < '0' || attempt[j] > '9' {
			return false
		}
	}
	for j := range len(job) {
		c := job[j]
		if ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'; !ok {
			return false
		}
	}
	return true
}

// WorkDir is the directory of a task: it holds supervisor.log (the
// supervisor's own diagnostics), home/ (the script's HOME and working
// directory) and tmp/ (its TMPDIR). home/ and tmp/ are fresh, empty and
// mode 0700 when the task starts: made then, or by a spare supervisor
// while it waited for the task. The directory stays after the task ends,
// for debugging, until Prune removes it.
func WorkDir(stateDir, taskID string) string {
	return filepath.Join(stateDir, "work", taskID)
}

// Start validates spec, records the task of spec.JobID and spec.Attempt
// and spawns its supervisor, or returns the task already recorded for
// them: it never runs two. A spec that can never run (bad job id, script
// not a plain file name, not found or not executable, bad environment or
// secret reference) is refused with an error wrapping
// runner.ErrInvalidSpec, before anything is recorded. The task returned
// is pending or running (or stopped, when it already ran). A task
// recorded but never claimed by a supervisor (its starter died before
// spawning it, or the supervisor died on the way) is spawned again; the
// claim keeps it to one run.
func (r *Runner) Start(ctx context.Context, spec runner.Spec) (runner.Task, error) {
	if err := validate(spec); err != nil {
		return runner.Task{}, err
	}
	id := TaskID(spec.JobID, spec.Attempt)
	if len(r.opts.Supervisor) == 0 {
		return runner.Task{}, fmt.Errorf("starting task %s: no supervisor command configured", id)
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return runner.Task{}, fmt.Errorf("starting task %s: encoding spec: %w", id, err)
	}
	tags, err := json.Marshal(spec.Tags)
	if err != nil {
		return runner.Task{}, fmt.Errorf("starting task %s: encoding tags: %w", id, err)
	}
	now := time.Now().UnixMilli()
	spawn := false
	// A spare supervisor takes the task when one is ready: recorded as
	// its supervisor in the commit that records the task, so that
	// handing it over writes nothing more before the spare's claim.
	var spare *spareProc
	err = r.stmts.Tx(ctx, func(tx *sql.Tx) error {
		in := r.stmts.On(tx)
		var (
			status               string
			pid                  int
			token                string
			spawned, heartbeatMS int64
		)
		err := in.QueryRowContext(ctx, `SELECT status, supervisor_pid, supervisor_token, spawned_ms, heartbeat_ms
			FROM local_tasks WHERE id = ?`, id).Scan(&status, &pid, &token, &spawned, &heartbeatMS)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			spawn, spare = true, r.takeSpare()
			pid, token := spare.owner()
			_, err = in.ExecContext(ctx, `INSERT INTO local_tasks
				(id, job_id, attempt, spec, tags, grace_ms, heartbeat_ms, path, status, created_ms, spawned_ms,
				supervisor_pid, supervisor_token)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)`,
				id, spec.JobID, spec.Attempt, string(raw), string(tags),
				r.opts.Grace.Milliseconds(), r.opts.Heartbeat.Milliseconds(), r.opts.Path, now, now, pid, token)
			return err
		case err != nil:
			return err
		case status != string(runner.StatusPending):
			return nil
		}
		wait := max(staleBeats*time.Duration(heartbeatMS)*time.Millisecond, minRespawnWait).Milliseconds()
		if (pid == 0 && now-spawned > wait) || (pid != 0 && !ours(pid, token)) {
			r.log.Warn("task was never claimed by a supervisor; spawning another", "task_id", id, "previous_pid", pid)
			spawn, spare = true, r.takeSpare()
			pid, token := spare.owner()
			_, err = in.ExecContext(ctx, `UPDATE local_tasks SET spawned_ms = ?, supervisor_pid = ?, supervisor_token = ?
				WHERE id = ?`, now, pid, token, id)
		}
		return err
	})
	if err != nil {
		r.putSpareBack(spare)
		return runner.Task{}, fmt.Errorf("starting task %s: recording it: %w", id, err)
	}
	if spawn {
		if err := r.spawn(ctx, id, spare); err != nil {
			// Let the next Start try again at once.
			pid, _ := spare.owner()
			_, _ = sqlitedb.Exec(context.WithoutCancel(ctx), r.db,
				`UPDATE local_tasks SET spawned_ms = 0, supervisor_pid = 0, supervisor_token = ''
				WHERE id = ? AND status = 'pending' AND supervisor_pid = ?`, id, pid)
			return runner.Task{}, err
		}
	}
	return r.get(ctx, id)
}

// reservedEnv are the variables a spec may not set.
var reservedEnv = map[string]bool{task.EnvJobID: true, task.EnvAttempt: true, task.EnvScriptsDir: true, task.EnvStopGrace: true}

// validate refuses a spec that can never run, saying why.
func validate(s runner.Spec) error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}
	if !schemas.ValidJobID(s.JobID) {
		bad("job id %q is not a valid job id", s.JobID)
	}
	if s.Attempt < 1 || s.Attempt > 999_999_999 {
		bad("attempt %d is out of range (1 to 999999999)", s.Attempt)
	}
	switch {
	case s.Canary && (s.Script != "" || len(s.Argv) > 0):
		bad("a canary runs no script and takes no arguments")
	case s.Canary:
		// The version probe runs no script, but the container's task is
		// defined by its scripts directory: one that is gone fails the
		// canary as a missing task definition does on ECS.
		if st, err := os.Stat(s.ScriptsDir); err != nil || !st.IsDir() || !filepath.IsAbs(s.ScriptsDir) {
			return fmt.Errorf("%w: %w: the scripts directory %q is not an existing directory (an absolute path)",
				runner.ErrInvalidSpec, runner.ErrMissingDefinition, s.ScriptsDir)
		}
	default:
		if _, err := task.ResolveScript(s.ScriptsDir, s.Script); err != nil {
			bad("%v", err)
		}
	}
	for i, a := range s.Argv {
		if strings.ContainsRune(a, 0) {
			bad("argument %d contains a NUL byte", i+1)
		}
	}
	for k, v := range s.Env {
		switch {
		case !schemas.ValidEnvName(k):
			bad("environment variable name %q is not valid", k)
		case reservedEnv[k] || strings.HasPrefix(k, task.EnvSecretPrefix):
			bad("environment variable %s is set by the runner", k)
		case strings.ContainsRune(v, 0):
			bad("environment variable %s contains a NUL byte", k)
		}
	}
	for k, ref := range s.Secrets {
		switch {
		case !schemas.ValidEnvName(k):
			bad("secret variable name %q is not valid", k)
		case reservedEnv[k]:
			bad("secret variable %s is set by the runner", k)
		default:
			if _, dup := s.Env[k]; dup {
				bad("variable %s is both an environment variable and a secret", k)
			}
			if err := secretref.Check(ref); err != nil {
				bad("secret %s: %v", k, err)
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %w", runner.ErrInvalidSpec, errors.Join(errs...))
}

// spawn starts the supervisor of task id, detached in its own session,
// and records its pid. A spare supervisor (KeepSpare), when Start took
// one, gets the task instead: it has started and opened the state
// database already, and Start recorded it as the task's supervisor.
func (r *Runner) spawn(ctx context.Context, id string, spare *spareProc) error {
	// A spare gives the task the work directory it made while it
	// waited (see readyDir), or makes it.
	if spare != nil && r.handTo(spare, id) {
		r.log.Info("handed the task to the spare supervisor", "task_id", id, "pid", spare.pid)
		return nil
	}
	dir := WorkDir(r.opts.StateDir, id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("starting task %s: creating its directory: %w", id, err)
	}
	logFile, err := openSupervisorLog(dir)
	if err != nil {
		return fmt.Errorf("starting task %s: opening supervisor log: %w", id, err)
	}
	defer func() { _ = logFile.Close() }()
	cmd, err := r.supervisor(id, nil, logFile)
	if err != nil {
		return fmt.Errorf("starting task %s: %w", id, err)
	}
	// A supervisor ran: the next task's may be started ahead.
	r.refillAfter(r.reap(cmd), nil)
	// The claim records the same pid; this covers the time until then.
	pid, token := cmd.Process.Pid, procToken(cmd.Process.Pid)
	recorded, _ := spare.owner()
	if _, err := r.stmts.On(nil).ExecContext(context.WithoutCancel(ctx), `UPDATE local_tasks SET supervisor_pid = ?, supervisor_token = ?
		WHERE id = ? AND status = 'pending' AND supervisor_pid = ?`, pid, token, id, recorded); err != nil {
		r.log.Warn("recording supervisor pid", "task_id", id, "pid", pid, "err", err)
	}
	r.log.Info("spawned task supervisor", "task_id", id, "pid", pid)
	return nil
}

// supervisor starts the supervisor command for task id (SpareTask for a
// spare), detached in its own session, with stdin (nil: /dev/null) and
// its output to out. The token is taken before anything can reap it.
func (r *Runner) supervisor(id string, stdin, out *os.File) (*exec.Cmd, error) {
	args := make([]string, 0, len(r.opts.Supervisor)+1)
	args = append(args, r.opts.Supervisor[1:]...)
	args = append(args, r.opts.StateDir, id)
	cmd := exec.Command(r.opts.Supervisor[0], args...) //nolint:gosec,noctx // our own binary; it must outlive ctx
	if stdin != nil {
		cmd.Stdin = stdin
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("spawning supervisor %s: %w", r.opts.Supervisor[0], err)
	}
	return cmd, nil
}

// reap waits for a supervisor to exit, so that it leaves no zombie (it
// reports through the database); the channel returned is closed then.
func (r *Runner) reap(cmd *exec.Cmd) <-chan struct{} {
	exited := make(chan struct{})
	r.live.Add(1)
	go func() {
		defer r.live.Done()
		_ = cmd.Wait()
		close(exited)
	}()
	return exited
}

// KeepSpare keeps one supervisor started ahead of the next task until ctx
// ends, so that starting a task does not wait for a process to start and
// open the state database (tens of milliseconds, most of a short job's
// overhead). A spare reads its task's id from a socket held by this
// process: when this process ends, however it ends, the spare sees the
// socket close and exits without running anything (one running a task
// exits at the task's end). A supervisor back from its task is the spare
// again (see returned). For a process that serves (deployer up);
// KeepSpare returns once the spare left is gone.
func (r *Runner) KeepSpare(ctx context.Context) {
	if len(r.opts.Supervisor) == 0 {
		return
	}
	r.startSpares()
	<-ctx.Done()
	r.stopSpares()
}

// startSpares starts keeping a spare supervisor.
func (r *Runner) startSpares() {
	r.spareMu.Lock()
	r.spares = true
	r.spareMu.Unlock()
	if r.opts.SpareAtStart {
		r.refillSpare()
	}
}

// stopSpares stops keeping a spare and waits for the one left to exit.
func (r *Runner) stopSpares() {
	r.spareMu.Lock()
	r.spares = false
	p := r.spare
	r.setSpare(nil)
	r.spareMu.Unlock()
	if p == nil {
		return
	}
	_ = p.conn.Close()
	t := time.NewTimer(spareExit)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		// It has no task: whatever keeps it from reading its closed
		// stdin, it goes.
		r.log.Warn("the spare supervisor did not exit when told; killing it", "pid", p.pid)
		_ = p.proc.Kill()
		<-p.exited
	}
}

// spareRefill is how long after a task started the runner starts the
// spare for the next, unless the task ends first.
const spareRefill = time.Second

// SpareAfterEnd is how long after a task's supervisor exits the runner
// starts the spare for the next task. A spare's start (fork, exec,
// package init, opening the state database: ~3 ms of CPU) would
// otherwise come as the job's end is recorded and its caller, woken by
// it, prints it and exits: on a small machine it took CPU from both.
// A caller that runs its next job at once takes longer than this to
// send it, so the spare is ready for it all the same.
const SpareAfterEnd = 4 * time.Millisecond

// refillAfter starts the spare for the next task SpareAfterEnd after the
// supervisor of the one just started exits (exited closes), or
// spareRefill from now, whichever comes first: not at once, so that the
// spare's start does not take the CPU from a short task, nor from its
// end. None starts when back closes first: the supervisor is back from
// the task, the spare again (nil: one that does not come back). Without
// that, a supervisor taken back would be replaced by a spare started
// spareRefill after one of its earlier tasks while it runs a later one.
func (r *Runner) refillAfter(exited, back <-chan struct{}) {
	r.waitsChanged(+1)
	go func() {
		defer r.waitsChanged(-1)
		select {
		case <-exited:
			<-r.after(SpareAfterEnd)
		case <-back:
			return
		case <-r.after(spareRefill):
		}
		r.refillSpare()
	}()
}

// waitsChanged counts the refills waiting (refillAfter), for tests.
func (r *Runner) waitsChanged(by int) {
	r.refillMu.Lock()
	defer r.refillMu.Unlock()
	r.refillWaits += by
	if r.refillsChanged != nil {
		close(r.refillsChanged)
		r.refillsChanged = nil
	}
}

// setSpare makes p the spare ready and tells those waiting for a change
// (tests); spareMu is held.
func (r *Runner) setSpare(p *spareProc) {
	r.spare = p
	if r.spareChanged != nil {
		close(r.spareChanged)
	}
	r.spareChanged = make(chan struct{})
}

// spareExit is how long a spare told to exit (its stdin closed) is given.
const spareExit = 10 * time.Second

// refillSpare starts a spare supervisor when KeepSpare runs and none is
// ready.
func (r *Runner) refillSpare() {
	r.spareMu.Lock()
	defer r.spareMu.Unlock()
	if !r.spares || r.spare != nil {
		return
	}
	logFile, err := os.OpenFile(filepath.Join(r.opts.StateDir, "spare-supervisors.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		r.log.Warn("starting a spare supervisor: opening its log", "err", err)
		return
	}
	defer func() { _ = logFile.Close() }()
	ours, theirs, err := socketPair()
	if err != nil {
		r.log.Warn("starting a spare supervisor: creating its socket", "err", err)
		return
	}
	cmd, err := r.supervisor(SpareTask, theirs, logFile)
	_ = theirs.Close()
	if err != nil {
		_ = ours.Close()
		r.log.Warn("starting a spare supervisor", "err", err)
		return
	}
	p := &spareProc{proc: cmd.Process, conn: ours, pid: cmd.Process.Pid, token: procToken(cmd.Process.Pid), exited: make(chan struct{})}
	r.setSpare(p)
	r.live.Add(2)
	go func() {
		defer r.live.Done()
		r.awaitReturns(p)
	}()
	go func() {
		defer r.live.Done()
		_ = cmd.Wait()
		close(p.exited)
		r.spareMu.Lock()
		if r.spare == p { // it died waiting: the next task is spawned
			r.setSpare(nil)
			_ = p.conn.Close()
		}
		r.spareMu.Unlock()
	}()
}

// socketPair returns the two ends of a new connected pair of Unix
// sockets: ours, non-blocking (Go's poller's, so that Close ends a Read),
// and theirs, a supervisor's stdin.
func socketPair() (ours, theirs *os.File, err error) {
	// Close-on-exec before any fork can see them (the way os.Pipe makes
	// a pipe where no flag at creation says so: macOS).
	syscall.ForkLock.RLock()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err == nil {
		unix.CloseOnExec(fds[0])
		unix.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, nil, err
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		_ = unix.Close(fds[0])
		_ = unix.Close(fds[1])
		return nil, nil, err
	}
	return os.NewFile(uintptr(fds[0]), "spare supervisor"), os.NewFile(uintptr(fds[1]), "spare supervisor"), nil
}

// awaitReturns reads what the supervisor p says on its socket until it
// closes: a line each time it has recorded its task's end and waits for
// another (see Supervise), when it is offered as the spare again.
// Anything else (a line longer than 64 bytes is read no further) has the
// socket closed: the supervisor exits at its task's end.
func (r *Runner) awaitReturns(p *spareProc) {
	defer func() { _ = p.conn.Close() }()
	in := bufio.NewReaderSize(p.conn, 64)
	for {
		line, err := in.ReadSlice('\n')
		switch {
		case err == nil && string(line) == returnedLine:
			r.returned(p)
			continue
		case err == nil || errors.Is(err, bufio.ErrBufferFull):
			r.log.Warn("a supervisor said what it should not; told to go", "pid", p.pid, "said", strings.TrimSpace(string(line)))
		}
		return
	}
}

// returned offers the supervisor p, back from its task, to the next task
// as the spare, or has it exit when it cannot be: it died meanwhile,
// another spare is ready, or spares are no longer kept.
func (r *Runner) returned(p *spareProc) {
	r.spareMu.Lock()
	defer r.spareMu.Unlock()
	if p.back != nil {
		close(p.back)
		p.back = nil
	}
	select {
	case <-p.exited:
		return
	default:
	}
	if r.spares && r.spare == nil {
		r.setSpare(p)
		return
	}
	_ = p.conn.Close()
}

// takeSpare returns the spare supervisor ready, if any, no longer
// offered to other tasks; nil when none is. The spare for the next task
// starts when this one's ends (handTo), or at once when it is put back
// and has gone.
func (r *Runner) takeSpare() *spareProc {
	r.spareMu.Lock()
	defer r.spareMu.Unlock()
	p := r.spare
	if p != nil {
		r.setSpare(nil)
	}
	return p
}

// putSpareBack offers p, taken and not handed a task, to the next task
// again, or has it exit when it cannot be: it died meanwhile, another
// spare is ready, or spares are no longer kept. p may be nil.
func (r *Runner) putSpareBack(p *spareProc) {
	if p == nil {
		return
	}
	r.spareMu.Lock()
	defer r.spareMu.Unlock()
	select {
	case <-p.exited:
	default:
		if r.spares && r.spare == nil {
			r.setSpare(p)
			return
		}
		_ = p.conn.Close()
	}
	// The spare for the next task starts when p is gone.
	r.refillAfter(p.exited, nil)
}

// owner returns the pid and token a task handed to p records as its
// supervisor's: zero when p is nil (no supervisor yet).
func (p *spareProc) owner() (int, string) {
	if p == nil {
		return 0, ""
	}
	return p.pid, p.token
}

// handTo gives task id to the spare p, taken with takeSpare, and reports
// whether p has it. p is the spare again once it has recorded the task's
// end (returned); the spare for the next task starts when p exits instead,
// or spareRefill after (a long task).
func (r *Runner) handTo(p *spareProc, id string) bool {
	back := make(chan struct{})
	r.spareMu.Lock()
	p.back = back
	r.spareMu.Unlock()
	r.refillAfter(p.exited, back)
	_, err := p.conn.WriteString(id + "\n")
	if err != nil {
		_ = p.conn.Close()
		r.log.Warn("handing a task to the spare supervisor; spawning one", "task_id", id, "pid", p.pid, "err", err)
		return false
	}
	return true
}

// Find returns the task of a job's attempt; an error wrapping
// runner.ErrNotFound when none was started.
func (r *Runner) Find(ctx context.Context, jobID string, attempt int) (runner.Task, error) {
	return r.get(ctx, TaskID(jobID, attempt))
}

func (r *Runner) get(ctx context.Context, id string) (runner.Task, error) {
	ts, err := r.Inspect(ctx, id)
	if err != nil {
		return runner.Task{}, err
	}
	if len(ts) == 0 {
		return runner.Task{}, fmt.Errorf("task %s: %w", id, runner.ErrNotFound)
	}
	return ts[0], nil
}

// row is a task row as Inspect reads it.
type row struct {
	task        runner.Task
	pid         int
	token       string
	beat        int64
	heartbeatMS int64
	requested   bool
}

// stale reports whether the row's supervisor has missed its heartbeats
// and its process is gone: the task is lost.
func (w *row) stale(now int64) bool {
	return w.task.Status == runner.StatusRunning &&
		now-w.beat > staleBeats*w.heartbeatMS &&
		!ours(w.pid, w.token)
}

const selectTask = `SELECT id, job_id, attempt, status, supervisor_pid, supervisor_token, exit_code, stop_code,
	stop_reason, stop_requested, started_ms, stopped_ms, beat_ms, heartbeat_ms, log_events, tags FROM local_tasks`

func scanRow(rows interface{ Scan(...any) error }) (row, error) {
	var (
		w                          row
		exit                       sql.NullInt64
		started, stopped, requests int64
		tags                       string
	)
	if err := rows.Scan(&w.task.ID, &w.task.JobID, &w.task.Attempt, &w.task.Status, &w.pid, &w.token, &exit,
		&w.task.StopCode, &w.task.StopReason, &requests, &started, &stopped, &w.beat, &w.heartbeatMS,
		&w.task.LogEvents, &tags); err != nil {
		return row{}, err
	}
	w.requested = requests != 0
	if exit.Valid {
		c := int(exit.Int64)
		w.task.ExitCode = &c
	}
	if started > 0 {
		w.task.StartedAt = time.UnixMilli(started).UTC()
	}
	if stopped > 0 {
		w.task.StoppedAt = time.UnixMilli(stopped).UTC()
	}
	if err := json.Unmarshal([]byte(tags), &w.task.Tags); err != nil {
		return row{}, fmt.Errorf("decoding tags of task %s: %w", w.task.ID, err)
	}
	return w, nil
}

// Inspect returns the tasks with these ids, in no particular order; ids
// it does not know are left out. A running task whose supervisor stopped
// heartbeating and whose process is gone is reported stopped with
// runner.StopLost, and recorded so.
func (r *Runner) Inspect(ctx context.Context, ids ...string) ([]runner.Task, error) {
	seen := make(map[string]bool, len(ids))
	uniq := make([]string, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	var out []runner.Task
	for len(uniq) > 0 {
		n := min(len(uniq), inspectChunk)
		ts, err := r.inspect(ctx, uniq[:n])
		if err != nil {
			return nil, err
		}
		out = append(out, ts...)
		uniq = uniq[n:]
	}
	return out, nil
}

func (r *Runner) inspect(ctx context.Context, ids []string) ([]runner.Task, error) {
	// The ids as one JSON array: one statement, prepared once, whatever
	// their number.
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("inspecting tasks: %w", err)
	}
	rows, err := r.stmts.On(nil).QueryContext(ctx, selectTask+` WHERE id IN (SELECT value FROM json_each(?))`, string(list))
	if err != nil {
		return nil, fmt.Errorf("inspecting tasks: %w", err)
	}
	var got []row
	for rows.Next() {
		w, err := scanRow(rows)
		if err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("inspecting tasks: %w", err)
		}
		got = append(got, w)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("inspecting tasks: %w", err)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("inspecting tasks: %w", err)
	}
	now := time.Now().UnixMilli()
	out := make([]runner.Task, 0, len(got))
	for i := range got {
		w := &got[i]
		if w.stale(now) {
			if err := r.markLost(ctx, w, now, ""); err != nil {
				return nil, err
			}
		}
		out = append(out, w.task)
	}
	return out, nil
}

// markLost records a running task whose supervisor died as lost, unless
// the supervisor has recorded something since w was read.
func (r *Runner) markLost(ctx context.Context, w *row, now int64, stopReason string) error {
	reason := fmt.Sprintf("the supervisor (pid %d) died without recording the task's exit status", w.pid)
	if stopReason != "" {
		reason = fmt.Sprintf("stop requested (%s), but %s", stopReason, reason)
	}
	res, err := sqlitedb.Exec(ctx, r.db, `UPDATE local_tasks SET status = 'stopped', stop_code = ?, stop_reason = ?, stopped_ms = ?
		WHERE id = ? AND status = 'running' AND beat_ms = ?`, runner.StopLost, reason, now, w.task.ID, w.beat)
	if err != nil {
		return fmt.Errorf("recording task %s as lost: %w", w.task.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		// It moved on: report what it is now.
		t, err := r.get(ctx, w.task.ID)
		if err != nil {
			return err
		}
		w.task = t
		return nil
	}
	r.log.Warn("task lost", "task_id", w.task.ID, "reason", reason)
	w.task.Status, w.task.StopCode, w.task.StopReason = runner.StatusStopped, runner.StopLost, reason
	w.task.StoppedAt = time.UnixMilli(now).UTC()
	return nil
}

// Stop asks the task to stop: its supervisor sends SIGTERM to the
// script's process group, then SIGKILL after the grace period. It
// returns once the request is recorded, not when the task has stopped.
// A task no supervisor has claimed yet is stopped at once (it never
// runs); a running task whose supervisor is gone is recorded as lost.
// Stopping a stopped task does nothing and is not an error; an unknown id
// is an error wrapping runner.ErrNotFound. The first reason given is the
// one recorded.
func (r *Runner) Stop(ctx context.Context, id, reason string) error {
	if reason == "" {
		reason = "stop requested"
	}
	now := time.Now().UnixMilli()
	var (
		w     row
		found bool
		lost  bool
	)
	err := r.stmts.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		w, err = scanRow(tx.QueryRowContext(ctx, selectTask+` WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		switch w.task.Status {
		case runner.StatusStopped:
			return nil
		case runner.StatusPending:
			_, err = tx.ExecContext(ctx, `UPDATE local_tasks SET status = 'stopped', stop_code = ?, stop_reason = ?,
				stop_requested = 1, stopped_ms = ? WHERE id = ?`, runner.StopRequested, reason, now, id)
			return err
		}
		if w.stale(now) {
			lost = true
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE local_tasks SET stop_requested = 1, stop_reason = ?
			WHERE id = ? AND stop_requested = 0`, reason, id)
		return err
	})
	switch {
	case err != nil:
		return fmt.Errorf("stopping task %s: %w", id, err)
	case !found:
		return fmt.Errorf("stopping task %s: %w", id, runner.ErrNotFound)
	case lost:
		return r.markLost(ctx, &w, now, reason)
	}
	if w.task.Status == runner.StatusRunning && ours(w.pid, w.token) {
		// Wake the supervisor rather than wait for its next heartbeat. It
		// handles SIGUSR1 from before it claims the task, so the signal
		// cannot kill it.
		_ = syscall.Kill(w.pid, syscall.SIGUSR1)
	}
	return nil
}

// Prune removes the work directories of tasks that stopped more than
// olderThan ago, and those spare supervisors made ahead and left when
// they were killed, and returns how many it removed; the task rows stay.
// It is the janitor of the work directories, meant to run now and then
// (on start-up, or daily).
func (r *Runner) Prune(ctx context.Context, olderThan time.Duration) (int, error) {
	n, err := pruneSpareDirs(r.opts.StateDir)
	if err != nil {
		return n, err
	}
	cutoff := time.Now().Add(-olderThan).UnixMilli()
	rows, err := r.db.QueryContext(ctx, `SELECT id FROM local_tasks
		WHERE status = 'stopped' AND stopped_ms < ? AND work_removed = 0`, cutoff)
	if err != nil {
		return 0, fmt.Errorf("pruning work directories: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			_ = rows.Close()
			return 0, fmt.Errorf("pruning work directories: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil {
		return 0, fmt.Errorf("pruning work directories: %w", err)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("pruning work directories: %w", err)
	}
	for _, id := range ids {
		if !validTaskID(id) {
			continue
		}
		if err := os.RemoveAll(WorkDir(r.opts.StateDir, id)); err != nil {
			return n, fmt.Errorf("pruning work directory of task %s: %w", id, err)
		}
		if _, err := sqlitedb.Exec(ctx, r.db, `UPDATE local_tasks SET work_removed = 1 WHERE id = ?`, id); err != nil {
			return n, fmt.Errorf("pruning work directory of task %s: %w", id, err)
		}
		n++
	}
	return n, nil
}
