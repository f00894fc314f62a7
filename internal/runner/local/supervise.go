package local

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/deployerhq/deployer/internal/runner"
	"github.com/deployerhq/deployer/internal/sqlitedb"
	"github.com/deployerhq/deployer/internal/task"
	"github.com/deployerhq/deployer/internal/task/secretref"
	"github.com/deployerhq/deployer/internal/tasklog/sqlitelog"
	"github.com/deployerhq/deployer/schemas"
)

// Exit codes of Supervise (the supervisor process's own, not the task's).
const (
	// SuperviseOK: the task ran and its end is recorded, or there was
	// nothing to do (another supervisor had claimed it, or it was
	// stopped before it ran).
	SuperviseOK = 0
	// SuperviseFailed: the supervisor could not do its job (database
	// unavailable); the task will be found lost or spawned again.
	SuperviseFailed = 1
	// SuperviseUsage: the arguments are not what Runner appends.
	SuperviseUsage = 2
)

// How long the supervisor keeps trying to write to the database before it
// gives up on a write it cannot do without. (A variable for tests to
// shorten.)
var appendPatience = time.Minute

// recordPatience is appendPatience for the task's end alone.
const recordPatience = 2 * time.Minute

// Supervise runs one task to its end: the body of the hidden command that
// the runner re-executes a binary with (see Options.Supervisor). args are
// the arguments the runner appended: the state directory and the task id.
// version is what a canary's version probe reports; secrets resolves the
// task's secret references, as the program's main chose, so that this
// package links no AWS SDK client (deployer-supervisor and deployer pass
// a secretproc.Resolver, which has deployer-aws read the AWS ones; a Go
// program a *secret.Resolver; nil fails every task that has secrets).
// The result is the process's exit code (see the Supervise* constants);
// the task's own outcome goes to the database.
//
// Supervise claims the task, or returns at once when it cannot. It then
// runs the script in its own process group, records its output to the
// task log, heartbeats, carries out stop requests, and records the exit
// status after the last line of output. Its diagnostics go to stderr
// (WorkDir/supervisor.log when spawned by the runner) and never contain
// secret values. The cancellation of ctx is ignored: a task runs to its
// end whatever happens to the process that started it. SIGTERM or SIGINT
// to the supervisor stops the task as Stop would; SIGHUP is ignored.
//
// A spare (task id SpareTask) reads its task's id from stdin. When stdin
// is a socket (a runner that takes its supervisors back), it says so on
// it once the task's end is recorded, and waits for another task, up to
// TasksPerSupervisor of them (see wayBack).
func Supervise(ctx context.Context, args []string, version string, secrets task.Secrets) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if len(args) != 2 {
		log.Error("usage: <state dir> <task id>", "args", len(args))
		return SuperviseUsage
	}
	stateDir, id := args[0], args[1]
	spare := id == SpareTask
	if !filepath.IsAbs(stateDir) || (!spare && !validTaskID(id)) {
		log.Error("usage: <absolute state dir> <task id>", "state_dir", stateDir, "task_id", id)
		return SuperviseUsage
	}
	// Catch the signals before claiming: an uncaught SIGUSR1 would kill
	// the process. Caught (not ignored) signals are reset for the script.
	wake := make(chan os.Signal, 1)
	term := make(chan os.Signal, 1)
	hup := make(chan os.Signal, 1)
	signal.Notify(wake, syscall.SIGUSR1)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(wake)
	defer signal.Stop(term)
	defer signal.Stop(hup)

	db, err := sqlitedb.Open(stateDir) //nolint:contextcheck // the opener bounds its own work
	if err != nil {
		log.Error("opening state database", "err", err)
		return SuperviseFailed
	}
	defer func() { _ = db.Close() }()
	logs, err := sqlitelog.New(db, sqlitelog.Options{}) //nolint:contextcheck // takes no context
	if err != nil {
		log.Error("opening task log", "err", err)
		return SuperviseFailed
	}
	stmts := sqlitedb.NewStmts(db)
	newSupervisor := func(id string, log *slog.Logger, prepared bool) *supervisor {
		return &supervisor{
			ctx: context.WithoutCancel(ctx), db: db, stmts: stmts, logs: logs, log: log.With("task_id", id),
			id: id, dir: WorkDir(stateDir, id), prepared: prepared,
			wake: wake, term: term, version: version, secrets: secrets,
		}
	}
	if !spare {
		return newSupervisor(id, log, false).run() //nolint:contextcheck // s.ctx: a task runs to its end whatever happens to ctx
	}
	// Started ahead of its task (Runner.KeepSpare): ready, with the
	// task's work directory made, it waits for the task's id on stdin.
	// The runner's end (its process gone, or done with spares) closes
	// stdin: nothing to do. A runner that takes its supervisors back
	// (stdin a socket) is told once the task's end is recorded, and may
	// send another task (see returnTo).
	in := bufio.NewReaderSize(os.Stdin, 128)
	back := returnTo(os.Stdin, log)
	code := SuperviseOK
	for tasks := 1; ; tasks++ {
		var ready *readyDir
		if tasks > 1 || !readable(os.Stdin) {
			if tasks == 1 {
				warm(ctx, stmts, logs)
			}
			if ready, err = makeReadyDir(stateDir); err != nil {
				log.Warn("the task's work directory will be made when it comes", "err", err)
			}
		}
		if tasks > 1 && !back.returned() {
			ready.discard()
			return code
		}
		id, tlog, prepared, err := awaitTask(in, stateDir, ready)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				log.Error("waiting for a task", "err", err)
				return SuperviseUsage
			}
			return code
		}
		s := newSupervisor(id, tlog, prepared)
		if code = s.run(); code != SuperviseOK || !back.again(s, tasks, wake, term, hup) { //nolint:contextcheck // s.ctx: a task runs to its end whatever happens to ctx
			return code
		}
	}
}

// TasksPerSupervisor is how many tasks one supervisor runs at most, one
// after the other, before it exits and the runner starts another: a
// bound on whatever a process might keep from one task to the next.
const TasksPerSupervisor = 100

// tasksPerSupervisor is TasksPerSupervisor (tests lower it).
var tasksPerSupervisor = TasksPerSupervisor

// returnedLine is what a supervisor taken back says on its socket: its
// task's end is recorded, and it waits for another task.
const returnedLine = "returned\n"

// wayBack is a spare supervisor's way back to its runner: its stdin, when
// the runner takes its supervisors back (a socket), for the next task.
// A supervisor goes back after each task until it has run
// tasksPerSupervisor of them, or one with secrets (their values are not
// kept in a process that runs another task), or one it could not finish
// as it should (its run's code); otherwise it exits, as a supervisor
// that is not a spare does.
type wayBack struct {
	conn *os.File // nil: the runner does not take it back
	log  *slog.Logger
	// logFD is the spares' log (the process's stderr at its start), its
	// stderr again between tasks; -1 when it could not be kept.
	logFD int
}

// returnTo is the way back through stdin: none unless it is a socket.
func returnTo(stdin *os.File, log *slog.Logger) wayBack {
	var st unix.Stat_t
	if err := unix.Fstat(int(stdin.Fd()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return wayBack{logFD: -1}
	}
	fd, err := unix.FcntlInt(2, unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		fd = -1
	}
	return wayBack{conn: stdin, log: log, logFD: fd}
}

// again reports whether the supervisor goes back for another task after
// s, its tasks-th, ended as it should; if so, its diagnostics go to the
// spares' log again, and the signals that came for s are dropped (a stop
// of s's that came after its end would stop the next task).
func (b wayBack) again(s *supervisor, tasks int, signals ...<-chan os.Signal) bool {
	switch {
	case b.conn == nil:
		return false
	case tasks >= tasksPerSupervisor:
		s.log.Info("the supervisor has run its share of tasks; it exits", "tasks", tasks)
		return false
	case len(s.spec.Secrets) > 0:
		s.log.Info("the task had secrets: its supervisor exits rather than run another")
		return false
	}
	if b.logFD >= 0 {
		_ = unix.Dup2(b.logFD, 2)
	}
	for _, c := range signals {
		for len(c) > 0 {
			<-c
		}
	}
	return true
}

// returned tells the runner that the supervisor is back, and reports
// whether it could.
func (b wayBack) returned() bool {
	if _, err := b.conn.WriteString(returnedLine); err != nil {
		b.log.Info("the runner is gone; the supervisor exits", "err", err)
		return false
	}
	return true
}

// warm readies a spare for its task while it waits, writing nothing. A
// process runs the code of a task's hot path for the first time with its
// task otherwise: SQLite's for the claim, the appends and the end, and
// Go's one check per process that pidfds work (it clones a child) at
// the script's start; ~1 ms of a short job. The hot path's statements
// are prepared and kept, the task log's reads run for no task, and
// os.FindProcess makes Go's check. What fails to warm is left
// to the task, which does the same work then and reports its errors.
func warm(ctx context.Context, stmts *sqlitedb.Stmts, logs *sqlitelog.Log) {
	_ = logs.Warm(ctx)
	for _, q := range []string{qClaim, qHeartbeat, qCountStored, qEnd} {
		_, _ = stmts.Get(ctx, q)
	}
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		_ = p.Release()
	}
}

// readable reports whether f has something to read already (a spare's
// task id, or the end of its stdin): warming then would only delay it.
func readable(f *os.File) bool {
	fds := []unix.PollFd{{Fd: int32(f.Fd()), Events: unix.POLLIN}} //nolint:gosec // a descriptor fits in an int32
	n, err := unix.Poll(fds, 0)
	return err == nil && n > 0
}

// SpareTask is the task id argument of a spare supervisor: it reads its
// task's id from stdin (see Runner.KeepSpare).
const SpareTask = "-"

// awaitTask reads a spare's task id from r, one line, and gives the
// task its work directory: ready, made ahead (nil: none was), or one
// made now, as the runner makes a task's when no spare takes it. The
// diagnostics (the logger returned, and stderr) go to the directory's
// supervisor.log from then on. prepared reports that home/ and tmp/ are
// made too. io.EOF means no task came; ready is removed then.
func awaitTask(r *bufio.Reader, stateDir string, ready *readyDir) (id string, log *slog.Logger, prepared bool, err error) {
	log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	line, err := r.ReadString('\n')
	if err != nil {
		ready.discard()
		if errors.Is(err, io.EOF) && line != "" {
			err = fmt.Errorf("task id %q without a newline: %w", line, io.ErrUnexpectedEOF)
		}
		return "", log, false, err
	}
	id = strings.TrimSuffix(line, "\n")
	if !validTaskID(id) {
		ready.discard()
		return "", log, false, fmt.Errorf("%q is not a task id", id)
	}
	dir := WorkDir(stateDir, id)
	if ready.take(dir) {
		return id, log, true, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return id, log, false, nil // the spares' log it stays; prepare reports
	}
	f, err := openSupervisorLog(dir)
	if err != nil {
		return id, log, false, nil // the spares' log it stays
	}
	logTo(f)
	return id, log, false, nil
}

// openSupervisorLog opens (creating) the supervisor.log of the work
// directory dir, a task's or one a spare made ahead, for appending.
func openSupervisorLog(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, "supervisor.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600) //nolint:gosec // a work directory: a validated task id's, or a spare's own
}

// logTo points this process's stderr at f, and closes f: the logger
// writes to os.Stderr, descriptor 2, and follows.
func logTo(f *os.File) {
	_ = unix.Dup2(int(f.Fd()), 2)
	_ = f.Close()
}

type supervisor struct {
	ctx  context.Context
	db   *sql.DB
	logs *sqlitelog.Log
	log  *slog.Logger
	id   string
	dir  string
	// prepared: dir's home/ and tmp/ were made ahead, fresh and empty.
	prepared bool
	wake     <-chan os.Signal
	term     <-chan os.Signal
	// version is what a canary's version probe reports.
	version string
	// secrets resolves the task's secret references.
	secrets task.Secrets

	spec  runner.Spec
	grace time.Duration
	beat  time.Duration
	path  string

	stmts     *sqlitedb.Stmts // the statements of every batch
	stored    atomic.Int64    // lines safely in the task log
	broken    error           // why output stopped being stored; pump's own
	endRecord *schemas.LogEnd // the log's end record, once read; pump's own until it returns
	// final is the last batch, the one that holds the end record: stored
	// with the task's end, in the same commit (see end); pump's own until
	// it returns.
	final []schemas.LogLine
}

func (s *supervisor) run() int {
	claimed, err := s.claim()
	switch {
	case err != nil && claimed:
		return s.end(nil, runner.StopFailedToStart, err.Error())
	case err != nil:
		s.log.Error("claiming task", "err", err)
		return SuperviseFailed
	case !claimed:
		s.log.Info("task not claimed: another supervisor has it, or it is no longer pending")
		return SuperviseOK
	}
	opts, err := s.prepare()
	if err != nil {
		return s.end(nil, runner.StopFailedToStart, err.Error())
	}
	// The task entrypoint's code (package task, the body of
	// deployer-task) runs here, in the supervisor: one process fewer per
	// task, and its records come as they are, not as JSON on a pipe.
	records := newRecordSink(s.spec.JobID, s.spec.Attempt)
	sigs := make(chan os.Signal, 2)
	runCtx, abandon := context.WithCancelCause(s.ctx)
	defer abandon(nil)
	opts.Records, opts.Signals = records, sigs
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		defer records.close()
		if s.spec.Canary {
			// The entrypoint's version probe, as a canary runs on ECS.
			task.WriteVersion(task.NewRecordFramer(records, s.spec.JobID, s.spec.Attempt), s.version)
			return
		}
		task.Run(runCtx, opts)
	}()
	pumped := make(chan struct{})
	go func() { defer close(pumped); s.pump(records.items, s.flush) }()
	s.log.Info("task started", "script", s.spec.Script)

	tick := time.NewTicker(s.beat)
	defer tick.Stop()
	var (
		stopReason string
		abandonC   <-chan time.Time
		taskDone   bool
		outputDone bool
	)
	stop := func(reason string) {
		if stopReason != "" || taskDone {
			return
		}
		stopReason = reason
		s.log.Info("stopping the task", "reason", reason, "grace", s.grace)
		// The entrypoint's code forwards it to the script's process
		// group and kills the group after the grace period; should it
		// still be resolving secrets then, it is told to give up.
		sigs <- syscall.SIGTERM
		abandonC = time.After(s.grace + entrypointPatience)
	}
	check := func() {
		requested, reason, err := s.heartbeat()
		if err != nil {
			s.log.Warn("heartbeat", "err", err)
			return
		}
		if requested {
			stop(reason)
		}
	}
	// Each is closed when it happens: taken once, then nil, so that the
	// loop waits for the other instead of spinning.
	exitedC, pumpedC := (<-chan struct{})(exited), (<-chan struct{})(pumped)
	for !taskDone || !outputDone {
		select {
		case <-exitedC:
			exitedC, taskDone = nil, true
		case <-pumpedC:
			pumpedC, outputDone = nil, true
		case <-tick.C:
			check()
		case <-s.wake:
			check()
		case sig := <-s.term:
			stop(fmt.Sprintf("the supervisor received %v", sig))
		case <-abandonC:
			s.log.Warn("the task entrypoint outlived the grace period; abandoning it")
			abandon(errors.New(stopReason))
			abandonC = nil
		}
	}
	end := s.endRecord
	switch {
	case end == nil && stopReason != "":
		// Stopped before the entrypoint could catch the signal: the
		// script had not started.
		return s.end(nil, runner.StopRequested, stopReason)
	case end == nil:
		return s.end(nil, runner.StopLost, "the task entrypoint ended without closing the log")
	case end.ExitCode == nil:
		return s.end(nil, runner.StopFailedToStart, end.Reason)
	}
	code := *end.ExitCode
	s.log.Info("script ended", "exit_code", code, "lines", end.Lines)
	if stopReason != "" {
		return s.end(&code, runner.StopRequested, stopReason)
	}
	return s.end(&code, runner.StopExited, "")
}

// entrypointPatience is how long after the grace period the supervisor
// waits for deployer-task to write the end record and exit before it kills
// it.
const entrypointPatience = 10 * time.Second

// The supervisor's statements of a task's hot path.
const (
	qClaim = `UPDATE local_tasks SET status = 'running', supervisor_pid = ?, supervisor_token = ?,
		started_ms = ?, beat_ms = ? WHERE id = ? AND status = 'pending'
		RETURNING spec, grace_ms, heartbeat_ms, path`
	qHeartbeat = `UPDATE local_tasks SET beat_ms = ? WHERE id = ?
		RETURNING stop_requested, stop_reason`
	qCountStored = `UPDATE local_tasks SET log_events = ? WHERE id = ? AND log_events < ?`
	// With no reason of its own, the row keeps the reason of a stop
	// requested too late to act on.
	qEnd = `UPDATE local_tasks SET status = 'stopped', exit_code = ?, stop_code = ?,
		stop_reason = CASE WHEN ? = '' THEN stop_reason ELSE ? END, stopped_ms = ?, beat_ms = ?, log_events = ?
		WHERE id = ?`
)

// claim takes the task (pending → running) and loads its spec; false when
// it is not pending. An error with true means the task is claimed but
// cannot run.
func (s *supervisor) claim() (bool, error) {
	now := time.Now().UnixMilli()
	var (
		raw               string
		graceMS, heartbMS int64
	)
	// In a transaction, so that the claim waits for up's writes as they
	// commit rather than in SQLite's sleeps (sqlitedb's write lock).
	err := s.stmts.Tx(s.ctx, func(tx *sql.Tx) error {
		return s.stmts.On(tx).QueryRowContext(s.ctx, qClaim, os.Getpid(), procToken(os.Getpid()), now, now, s.id).
			Scan(&raw, &graceMS, &heartbMS, &s.path)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, err
	}
	s.grace = time.Duration(graceMS) * time.Millisecond
	s.beat = max(time.Duration(heartbMS)*time.Millisecond, 10*time.Millisecond)
	if err := json.Unmarshal([]byte(raw), &s.spec); err != nil {
		return true, fmt.Errorf("decoding the task's spec: %w", err)
	}
	s.log.Info("task claimed", "pid", os.Getpid())
	return true, nil
}

// prepare has the task's fresh home and tmp directories and returns
// the entrypoint's options: the script, its arguments and the minimal
// environment the script's is made from.
func (s *supervisor) prepare() (task.Options, error) {
	sp := s.spec
	home, tmp := homeAndTmp(s.dir)
	if !s.prepared {
		if err := freshDirs(home, tmp); err != nil {
			return task.Options{}, err
		}
	}
	env := map[string]string{"PATH": s.path, "HOME": home, "TMPDIR": tmp}
	for k, v := range sp.Env {
		env[k] = v
	}
	env[task.EnvJobID] = sp.JobID
	env[task.EnvAttempt] = strconv.Itoa(sp.Attempt)
	for k, ref := range sp.Secrets {
		env[task.EnvSecretPrefix+k] = ref
		// An env: reference reads the supervisor's environment, which
		// the script does not otherwise inherit; the entrypoint's code
		// keeps the variable from the script.
		if name, ok := strings.CutPrefix(ref, secretref.EnvPrefix); ok {
			if v, set := os.LookupEnv(name); set {
				env[name] = v
			}
		}
	}
	environ := make([]string, 0, len(env))
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	slices.Sort(environ)
	return task.Options{
		JobID: sp.JobID, Attempt: sp.Attempt, ScriptsDir: sp.ScriptsDir, Script: sp.Script, Args: sp.Argv,
		Environ: environ, Dir: home, Secrets: s.secrets, Grace: s.grace,
	}, nil
}

// homeAndTmp are the script's HOME and TMPDIR in the work directory dir.
func homeAndTmp(dir string) (home, tmp string) {
	return filepath.Join(dir, "home"), filepath.Join(dir, "tmp")
}

// freshDirs makes each of dirs anew: empty, mode 0700.
func freshDirs(dirs ...string) error {
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("clearing work directory %s: %w", d, err)
		}
		if err := os.Mkdir(d, 0o700); err != nil {
			return fmt.Errorf("creating work directory %s: %w", d, err)
		}
	}
	return nil
}

// heartbeat records that the supervisor is alive and returns whether a
// stop was requested, and why.
func (s *supervisor) heartbeat() (bool, string, error) {
	var (
		requested int
		reason    string
	)
	err := s.stmts.Tx(s.ctx, func(tx *sql.Tx) error {
		return s.stmts.On(tx).QueryRowContext(s.ctx, qHeartbeat, time.Now().UnixMilli(), s.id).Scan(&requested, &reason)
	})
	if err != nil {
		return false, "", err
	}
	if reason == "" {
		reason = "stop requested"
	}
	return requested != 0, reason, nil
}

// pump hands the task's lines to store (s.flush) in batches, until the
// entrypoint's records end: a batch goes when it holds FlushLines lines
// or FlushBytes of text, when the script has written nothing more for
// now, or when its first line has waited FlushInterval. The batch that
// ends with the end record is kept in s.final instead, for end to store
// with the task's end.
func (s *supervisor) pump(items <-chan logItem, store func([]schemas.LogLine)) {
	batch := make([]schemas.LogLine, 0, FlushLines)
	timer := time.NewTimer(FlushInterval)
	timer.Stop()
	defer timer.Stop()
	var (
		timerC <-chan time.Time
		owed   bool // the script paused: flush once the lines queued are taken
		size   int  // of the batch's texts
	)
	flush := func() {
		if len(batch) > 0 {
			store(batch)
		}
		batch, size = batch[:0], 0
		timer.Stop()
		timerC = nil
		owed = false
	}
	for {
		select {
		case it, ok := <-items:
			switch {
			case !ok:
				flush()
				return
			case it.err != nil:
				s.log.Warn("reading the task's log", "err", it.err)
				continue
			}
			for _, l := range it.lines {
				if l.End != nil {
					end := *l.End
					s.endRecord = &end
				}
				if len(batch) == 0 {
					timer.Reset(FlushInterval)
					timerC = timer.C
				}
				batch, size = append(batch, l), size+len(l.Text)
				switch {
				case l.End != nil:
					// Stored with the task's end (see end): one commit,
					// and one wake-up of those waiting for it, not two.
					s.final = slices.Clone(batch)
					batch = batch[:0]
					flush()
				case len(batch) >= FlushLines || size >= FlushBytes:
					flush()
				}
			}
			// While a batch was being stored, the script went on
			// writing: lines queued behind this pause join the batch,
			// which is then stored in one commit, not one per read of
			// the pipe. With nothing queued, the pause flushes at once.
			owed = (owed || it.flush) && len(batch) > 0
			if owed && len(items) == 0 {
				flush()
			}
		case <-timerC:
			flush()
		}
	}
}

// flush appends batch to the task log, retrying for a while; lines after
// a batch that could not be stored are dropped, so the stored lines stay
// dense.
func (s *supervisor) flush(batch []schemas.LogLine) {
	if len(batch) == 0 || s.broken != nil {
		return
	}
	last := batch[len(batch)-1]
	n := last.Seq
	if last.End != nil {
		n = last.End.Lines
	}
	// The count of lines stored is recorded with them: one commit.
	count := func(tx *sql.Tx) error {
		_, err := s.stmts.On(tx).ExecContext(s.ctx, qCountStored, n, s.id, n)
		return err
	}
	err := retry(s.ctx, appendPatience, func() error {
		return s.logs.AppendWith(s.ctx, s.id, s.spec.JobID, batch, count)
	})
	// The count runs in the log's transaction: its statement, once due,
	// is prepared here.
	s.stmts.Prepare(s.ctx)
	if err != nil {
		s.broken = err
		s.log.Error("storing output; dropping the rest", "after_line", s.stored.Load(), "err", err)
		return
	}
	s.stored.Store(n)
}

// end records the task's end, with the last batch of its output and the
// end record (s.final) in the same commit, and returns the supervisor's
// exit code. Every other line of output is stored (or given up on) by
// now, so the line count recorded is exactly the lines a reader will
// find. Should the last batch not be stored, the end is recorded without
// it, saying so.
func (s *supervisor) end(code *int, stopCode, reason string) int {
	if stopCode == runner.StopFailedToStart {
		s.log.Error("task failed to start", "reason", reason)
	}
	var exit sql.NullInt64
	if code != nil {
		exit = sql.NullInt64{Int64: int64(*code), Valid: true}
	}
	final := s.final
	if s.broken != nil {
		final = nil // dropped, as the lines before it were
	}
	record := func(lines []schemas.LogLine, reason string, patience time.Duration) error {
		n := s.stored.Load()
		if len(lines) > 0 {
			n = lines[len(lines)-1].Seq
			if e := lines[len(lines)-1].End; e != nil {
				n = e.Lines
			}
		}
		if s.broken != nil {
			msg := fmt.Sprintf("output after line %d could not be stored: %v", n, s.broken)
			if reason == "" {
				reason = msg
			} else {
				reason += "; " + msg
			}
		}
		now := time.Now().UnixMilli()
		return retry(s.ctx, patience, func() error {
			return s.logs.AppendWith(s.ctx, s.id, s.spec.JobID, lines, func(tx *sql.Tx) error {
				_, err := s.stmts.On(tx).ExecContext(s.ctx, qEnd, exit, stopCode, reason, reason, now, now, n, s.id)
				return err
			})
		})
	}
	err := record(final, reason, appendPatience)
	if err != nil && len(final) > 0 {
		s.broken = err
		s.log.Error("storing the last output and the end record; recording the end without them", "after_line", s.stored.Load(), "err", err)
		err = record(nil, reason, recordPatience)
	}
	if err != nil {
		s.log.Error("recording the task's end", "err", err)
		return SuperviseFailed
	}
	return SuperviseOK
}

// retry calls fn until it succeeds or patience runs out, backing off from
// 50ms to 2s.
func retry(ctx context.Context, patience time.Duration, fn func() error) error {
	deadline := time.Now().Add(patience)
	wait := 50 * time.Millisecond
	for {
		err := fn()
		if err == nil || time.Now().Add(wait).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}
