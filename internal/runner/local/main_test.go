package local_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	"go.uber.org/goleak"
	"modernc.org/sqlite"

	"github.com/deployerhq/deployer/internal/runner"
	"github.com/deployerhq/deployer/internal/runner/local"
	"github.com/deployerhq/deployer/internal/runner/runnertest"
	"github.com/deployerhq/deployer/internal/sqlitedb"
	"github.com/deployerhq/deployer/internal/task/secret"
	"github.com/deployerhq/deployer/internal/tasklog/sqlitelog"
)

// The test binary doubles as the supervisor (and as a process that starts
// a task and exits at once): the runner re-executes it with these first
// arguments.
const (
	superviseArg = "__supervise"
	startArg     = "__start"
	// impatientArg supervises giving up on storing output after
	// impatience instead of a minute.
	impatientArg = "__supervise-impatient"
	impatience   = 300 * time.Millisecond
	// superviseTwoArg supervises with local.TasksPerSupervisor lowered
	// to two.
	superviseTwoArg = "__supervise-two"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case superviseArg:
			os.Exit(local.Supervise(context.Background(), os.Args[2:], "test", &secret.Resolver{}))
		case impatientArg:
			local.SetAppendPatience(impatience)
			os.Exit(local.Supervise(context.Background(), os.Args[2:], "test", &secret.Resolver{}))
		case superviseTwoArg:
			local.SetTasksPerSupervisor(2)
			os.Exit(local.Supervise(context.Background(), os.Args[2:], "test", &secret.Resolver{}))
		case startArg:
			os.Exit(startAndExit(os.Args[2:]))
		}
	}
	countCommits()
	goleak.VerifyTestMain(m)
}

// commits counts the commits this process makes to each state
// directory's database, by directory (see countCommits).
var commits sync.Map // string -> *atomic.Int64

// countCommits has every connection opened from now on count its
// commits in commits.
func countCommits() {
	sqlite.RegisterConnectionHook(func(conn sqlite.ExecQuerierContext, dsn string) error {
		h, ok := conn.(sqlite.HookRegisterer)
		if !ok {
			return fmt.Errorf("connection %T takes no commit hook", conn)
		}
		path, _, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
		n, _ := commits.LoadOrStore(filepath.Dir(path), new(atomic.Int64))
		h.RegisterCommitHook(func() int32 { n.(*atomic.Int64).Add(1); return 0 })
		return nil
	})
}

// commitsTo returns how many commits this process has made to the
// database of state directory dir.
func commitsTo(dir string) int64 {
	n, ok := commits.Load(dir)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

// Short timings keep the tests quick.
const (
	testHeartbeat = 100 * time.Millisecond
	testGrace     = 1 * time.Second
	waitTimeout   = 60 * time.Second
)

// env is one state directory with a runner and a scripts directory.
type env struct {
	t        *testing.T
	stateDir string
	scripts  string
	db       *sql.DB
	logs     *sqlitelog.Log
	r        *local.Runner
	logBuf   *syncBuffer
}

// exe is the test binary's path.
func exe(t testing.TB) string {
	p, err := os.Executable()
	if err != nil {
		if t == nil {
			panic(err)
		}
		t.Fatal(err)
	}
	return p
}

// newEnv opens a fresh state directory. tweak may change the options.
func newEnv(t *testing.T, tweak ...func(*local.Options)) *env {
	t.Helper()
	e := &env{t: t, stateDir: t.TempDir(), scripts: t.TempDir(), logBuf: &syncBuffer{}}
	db, err := sqlitedb.Open(e.stateDir)
	if err != nil {
		t.Fatal(err)
	}
	e.db = db
	if e.logs, err = sqlitelog.New(db, sqlitelog.Options{}); err != nil {
		t.Fatal(err)
	}
	opts := local.Options{
		StateDir:   e.stateDir,
		Supervisor: []string{exe(t), superviseArg},
		Grace:      testGrace,
		Heartbeat:  testHeartbeat,
		Logger:     slog.New(slog.NewTextHandler(e.logBuf, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, f := range tweak {
		f(&opts)
	}
	if e.r, err = local.New(db, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.close)
	return e
}

// close stops whatever still runs, waits for the supervisors and closes
// the database.
func (e *env) close() {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	rows, err := e.db.QueryContext(ctx, `SELECT id FROM local_tasks WHERE status != 'stopped'`)
	if err == nil {
		var ids []string
		for rows.Next() {
			var id string
			if rows.Scan(&id) == nil {
				ids = append(ids, id)
			}
		}
		_ = rows.Close()
		for _, id := range ids {
			_ = e.r.Stop(ctx, id, "test cleanup")
		}
	}
	done := make(chan struct{})
	go func() { local.WaitSupervisors(e.r); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		e.t.Errorf("supervisors still running at the end of the test")
	}
	_ = e.db.Close()
}

// script writes an executable script into the scripts directory.
func (e *env) script(name, body string) string {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.scripts, name), []byte(body), 0o755); err != nil { //nolint:gosec // a test script
		e.t.Fatal(err)
	}
	return name
}

// spec returns a spec running script for a fresh job.
func (e *env) spec(script string, argv ...string) runner.Spec {
	return runner.Spec{JobID: ulid.Make().String(), Attempt: 1, Container: "test", Script: script, Argv: argv, ScriptsDir: e.scripts}
}

func (e *env) start(spec runner.Spec) runner.Task {
	e.t.Helper()
	task, err := e.r.Start(e.t.Context(), spec)
	if err != nil {
		e.t.Fatalf("Start: %v", err)
	}
	return task
}

func (e *env) waitStopped(id string) runner.Task {
	e.t.Helper()
	return runnertest.WaitStopped(e.t, e.r, id, waitTimeout)
}

// lines returns every line of the task's log.
func (e *env) lines(id string) []string {
	e.t.Helper()
	var out []string
	after := int64(0)
	for {
		ls, err := e.logs.Read(e.t.Context(), id, after, 10000)
		if err != nil {
			if len(out) == 0 {
				return nil
			}
			e.t.Fatal(err)
		}
		if len(ls) == 0 {
			return out
		}
		for _, l := range ls {
			if l.End != nil {
				if l.End.Lines != int64(len(out)) {
					e.t.Fatalf("the end record counts %d lines, the log has %d", l.End.Lines, len(out))
				}
				return out
			}
			if l.Seq != int64(len(out)+1) {
				e.t.Fatalf("line %d has seq %d", len(out)+1, l.Seq)
			}
			out = append(out, l.Text)
		}
		after = ls[len(ls)-1].Seq
	}
}

// row returns every column of the task's row, as text.
func (e *env) row(id string) string {
	e.t.Helper()
	rows, err := e.db.QueryContext(e.t.Context(), `SELECT * FROM local_tasks WHERE id = ?`, id)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	cols, _ := rows.Columns()
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			e.t.Fatal(err)
		}
		for i, c := range cols {
			fmt.Fprintf(&b, "%s=%v\n", c, vals[i])
		}
	}
	return b.String()
}

func (e *env) supervisorPID(id string) int {
	e.t.Helper()
	var pid int
	if err := e.db.QueryRowContext(e.t.Context(), `SELECT supervisor_pid FROM local_tasks WHERE id = ?`, id).Scan(&pid); err != nil {
		e.t.Fatal(err)
	}
	return pid
}

func exitOf(t runner.Task) string {
	if t.ExitCode == nil {
		return "none"
	}
	return strconv.Itoa(*t.ExitCode)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// behaveScript implements runnertest.Behaviour: behave <exit code>
// <sleep 0|1> [lines...]. It counts its runs in $RUNS_DIR.
const behaveScript = `#!/bin/sh
code=$1; sleep=$2; shift 2
echo run >> "$RUNS_DIR/$DEPLOYER_JOB_ID-$DEPLOYER_ATTEMPT"
if [ $# -gt 0 ]; then printf '%s\n' "$@"; fi
if [ "$sleep" = 1 ]; then exec sleep 1000; fi
exit "$code"
`

func TestConformance(t *testing.T) {
	runnertest.Run(t, runnertest.Features{LogEvents: true, Tags: true, Timeout: waitTimeout}, func(t *testing.T) runnertest.Harness {
		e := newEnv(t)
		e.script("behave", behaveScript)
		runs := t.TempDir()
		return runnertest.Harness{
			Runner: e.r,
			Logs:   e.logs,
			Spec: func(b runnertest.Behaviour) runner.Spec {
				sleep := "0"
				if b.Sleep {
					sleep = "1"
				}
				script := "behave"
				if b.NoSuchScript {
					script = "no-such-script"
				}
				return runner.Spec{
					Container: "test", Script: script, ScriptsDir: e.scripts,
					Argv: append([]string{strconv.Itoa(b.ExitCode), sleep}, b.Lines...),
					Env:  map[string]string{"RUNS_DIR": runs},
				}
			},
			Runs: func(jobID string, attempt int) int {
				b, err := os.ReadFile(filepath.Join(runs, fmt.Sprintf("%s-%d", jobID, attempt)))
				if err != nil {
					return 0
				}
				return strings.Count(string(b), "run\n")
			},
		}
	})
}

// startAndExit is the body of a process that starts one task and exits
// at once: args are the state directory, the scripts directory, the job
// id, the script and its arguments.
func startAndExit(args []string) int {
	if len(args) < 4 {
		return 2
	}
	db, err := sqlitedb.Open(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	r, err := local.New(db, local.Options{StateDir: args[0], Supervisor: []string{exe(nil), superviseArg}, Heartbeat: testHeartbeat})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	task, err := r.Start(context.Background(), runner.Spec{JobID: args[2], Attempt: 1, Script: args[3], Argv: args[4:], ScriptsDir: args[1]})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(task.ID)
	return 0
}
