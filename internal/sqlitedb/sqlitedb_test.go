package sqlitedb_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/deployerhq/deployer/internal/sqlitedb"
	"github.com/deployerhq/deployer/internal/sqlitedb/sqlitedbtest"
)

// openEnv, when set, makes the test binary a process that opens the state
// directory it names, migrates a table and exits: 0 when that worked, 1
// with the error on stderr otherwise.
const openEnv = "SQLITEDB_TEST_OPEN_DIR"

// shmLockedEnv, when set, makes the test binary a process that reports
// whether some process holds a lock on the dead-man-switch byte of the
// -shm file it names, which every SQLite connection in WAL mode holds a
// read lock on while it is open: exit 0 when one does, 3 when none, 1
// with the error on stderr when it cannot tell.
const shmLockedEnv = "SQLITEDB_TEST_SHM_LOCKED"

func TestMain(m *testing.M) {
	if shm := os.Getenv(shmLockedEnv); shm != "" {
		os.Exit(shmLocked(shm))
	}
	if dir := os.Getenv(openEnv); dir != "" {
		if err := openAndMigrate(context.Background(), dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// shmDMS is the byte of the -shm file SQLite's unix VFS locks as its
// dead-man switch: UNIX_SHM_BASE ((22+SQLITE_SHM_NLOCK)*4, 120) plus
// SQLITE_SHM_NLOCK (8). A connection holds a read lock on it while it
// has the WAL index mapped; the first to find it unlocked takes it
// exclusively and truncates the file.
const shmDMS = 128

// shmLocked is the shmLockedEnv process.
func shmLocked(shm string) int {
	f, err := os.OpenFile(shm, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: shmDMS, Len: 1}
	err = unix.FcntlFlock(f.Fd(), unix.F_GETLK, &lk)
	_ = f.Close()
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		return 1
	case lk.Type == unix.F_UNLCK:
		return 3
	}
	return 0
}

// openAndMigrate is what every process does first with a state directory:
// open it and create its tables.
func openAndMigrate(ctx context.Context, dir string) error {
	db, err := sqlitedb.Open(dir)
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }()
	return sqlitedb.Migrate(ctx, db, `CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY)`)
}

// openers is how many open one new state directory at once: as many as
// the parallel "deployer run"s that used to fail.
const openers = 12

// TestConcurrentFirstOpens opens new state directories from many
// goroutines at once, each with a database handle of its own as a process
// has. Before the WAL switch was retried, about 1 open in 250 failed with
// SQLITE_BUSY.
func TestConcurrentFirstOpens(t *testing.T) {
	const rounds = 150
	for round := range rounds {
		dir := filepath.Join(t.TempDir(), "state")
		errs := make(chan error, openers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range openers {
			wg.Go(func() {
				<-start
				errs <- openAndMigrate(t.Context(), dir)
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d of %d: %v", round, rounds, err)
			}
		}
	}
}

// TestConcurrentFirstOpensAcrossProcesses does the same with processes,
// as parallel "deployer run"s on a new state directory do.
func TestConcurrentFirstOpensAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts hundreds of processes; skipped with -short")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 25
	for round := range rounds {
		dir := filepath.Join(t.TempDir(), "state")
		cmds := make([]*exec.Cmd, openers)
		outs := make([][]byte, openers)
		errs := make([]error, openers)
		var wg sync.WaitGroup
		for i := range cmds {
			c := exec.CommandContext(t.Context(), exe, "-test.run=^$")
			c.Env = append(os.Environ(), openEnv+"="+dir)
			cmds[i] = c
			wg.Go(func() { outs[i], errs[i] = c.CombinedOutput() })
		}
		wg.Wait()
		for i, err := range errs {
			var ee *exec.ExitError
			switch {
			case errors.As(err, &ee):
				t.Fatalf("round %d of %d, process %d: %s", round, rounds, i, outs[i])
			case err != nil:
				t.Fatalf("round %d of %d, process %d: %v", round, rounds, i, err)
			}
		}
	}
}

func TestOpenUsesWAL(t *testing.T) {
	db, err := sqlitedb.Open(filepath.Join(t.TempDir(), "state"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	var mode string
	if err := db.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Fatalf("journal mode %q, want wal", mode)
	}
}

// TestMigrateAppliedTakesNoWriteLock: a schema Migrate applied once is
// found by a read afterwards, even while another process holds the write
// lock; a schema that changed is applied.
func TestMigrateAppliedTakesNoWriteLock(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	v1 := []string{"CREATE TABLE IF NOT EXISTS t (v TEXT)"}
	v2 := append(v1, "CREATE INDEX IF NOT EXISTS t_v ON t (v)")
	db, err := sqlitedb.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if err := sqlitedb.Migrate(ctx, db, v1...); err != nil {
		t.Fatal(err)
	}

	release := sqlitedbtest.HoldWriteLock(t, dir) // as another process
	// The schema applied: one read, whatever the writer does. Taking the
	// lock would wait for the writer, up to the context's deadline.
	quick, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := sqlitedb.Migrate(quick, db, v1...); err != nil {
		t.Fatalf("Migrate of an applied schema while another holds the write lock: %v", err)
	}
	release()
	// A changed schema is applied.
	if err := sqlitedb.Migrate(ctx, db, v2...); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE name = 't_v'").Scan(&n); err != nil || n != 1 {
		t.Errorf("the changed schema's index: %d, %v; want it created", n, err)
	}
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil || n != 2 {
		t.Errorf("%d schemas recorded (%v), want 2", n, err)
	}
}

// TestWALFilesOutliveTheLastHandle: closing the last handle on a state
// database keeps its -wal and -shm files, with what was written
// checkpointed into the database file, so that the next process to write
// does not create them again.
func TestWALFilesOutliveTheLastHandle(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	db, err := sqlitedb.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := sqlitedb.Migrate(ctx, db, "CREATE TABLE IF NOT EXISTS t (v TEXT)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO t VALUES ('kept')"); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, sqlitedb.FileName)
	for _, f := range []string{path + "-wal", path + "-shm"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("after the last handle closed: %v", err)
		}
	}
	// Checkpointed: a reader of the database file alone finds the row.
	file, err := sql.Open("sqlite", "file:"+path+"?mode=ro&immutable=1")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = file.Close() }()
	var v string
	if err := file.QueryRowContext(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != "kept" {
		t.Errorf("the database file alone holds %q (%v), want the row written", v, err)
	}
}

// TestOpenReadOnlyReadsWithoutWriting: a database opened read-only reads
// what writers wrote, Migrate does nothing on it, and writes fail.
func TestOpenReadOnlyReadsWithoutWriting(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlitedb.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := sqlitedb.Migrate(ctx, db, "CREATE TABLE IF NOT EXISTS t (v TEXT)", "INSERT INTO t VALUES ('x')"); err != nil {
		t.Fatal(err)
	}
	if sqlitedb.ReadOnly(ctx, db) {
		t.Error("a database opened by Open is reported read-only")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := sqlitedb.OpenReadOnly(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ro.Close() }()
	if !sqlitedb.ReadOnly(ctx, ro) {
		t.Error("OpenReadOnly's database is not reported read-only")
	}
	if err := sqlitedb.Migrate(ctx, ro, "CREATE TABLE u (v TEXT)"); err != nil {
		t.Errorf("Migrate on a read-only database: %v", err)
	}
	var v string
	if err := ro.QueryRowContext(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != "x" {
		t.Errorf("reading: %q, %v", v, err)
	}
	if _, err := ro.ExecContext(ctx, "INSERT INTO t VALUES ('y')"); err == nil {
		t.Error("a write on a read-only database succeeded")
	}
	if _, err := sqlitedb.OpenReadOnly(t.TempDir()); err == nil {
		t.Error("OpenReadOnly of a directory without a database succeeded")
	}
}

// watchedPair opens a new database twice, as two processes would,
// creates table t (v) through b, and watches the file's changes as a's
// process.
func watchedPair(t *testing.T) (a, b *sql.DB, w *sqlitedb.Watcher) {
	t.Helper()
	path := filepath.Join(t.TempDir(), sqlitedb.FileName)
	for _, db := range []**sql.DB{&a, &b} {
		h, err := sqlitedb.OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Close() })
		*db = h
	}
	if _, err := b.ExecContext(t.Context(), `CREATE TABLE t (v BLOB)`); err != nil {
		t.Fatal(err)
	}
	w = sqlitedb.ChangesOf(t.Context(), a).Watch()
	t.Cleanup(w.Close)
	if !w.Watching() {
		t.Skip("this platform reports no writes to a watched directory's files")
	}
	return a, b, w
}

// lookWhenWoken runs write and returns the number of rows of t that a
// waiter found looking as soon as w woke it, perhaps before write had
// returned; -1 when nothing woke it.
func lookWhenWoken(t *testing.T, w *sqlitedb.Watcher, a *sql.DB, write func() error) int {
	t.Helper()
	next, found := w.Next(), make(chan int, 1)
	go func() {
		select {
		case <-next:
		case <-time.After(10 * time.Second):
			found <- -1
			return
		}
		var n int
		if err := a.QueryRowContext(t.Context(), `SELECT count(*) FROM t`).Scan(&n); err != nil {
			t.Error(err)
		}
		found <- n
	}()
	if err := write(); err != nil {
		t.Fatal(err)
	}
	return <-found
}

// TestChangesWakeOnAnotherHandlesCommit: each commit through one handle
// (as another process's would) wakes the waiters of the file, however
// fast they come, and the look they make then finds it.
func TestChangesWakeOnAnotherHandlesCommit(t *testing.T) {
	a, b, w := watchedPair(t)
	for i := range 50 {
		n := lookWhenWoken(t, w, a, func() error {
			_, err := b.ExecContext(t.Context(), `INSERT INTO t (v) VALUES (?)`, i)
			return err
		})
		if n != i+1 {
			t.Fatalf("commit %d: the look when woken found %d rows, want %d (-1: not woken)", i, n, i+1)
		}
	}
}

// TestChangesWakeOnlyOnceALargeCommitIsVisible: a commit larger than a
// connection's page cache writes most of its frames to the -wal file
// before it commits, each write reported; the waiters are woken once the
// commit is visible, not at its first write, so the look they make
// finds it.
func TestChangesWakeOnlyOnceALargeCommitIsVisible(t *testing.T) {
	a, b, w := watchedPair(t)
	// 2 MiB a commit, four times the page cache: spilled as it is made.
	blob := bytes.Repeat([]byte{'x'}, 4096)
	for i := range 5 {
		n := lookWhenWoken(t, w, a, func() error {
			return sqlitedb.Tx(t.Context(), b, func(tx *sql.Tx) error {
				for range 512 {
					if _, err := tx.ExecContext(t.Context(), `INSERT INTO t (v) VALUES (?)`, blob); err != nil {
						return err
					}
				}
				return nil
			})
		})
		if want := (i + 1) * 512; n != want {
			t.Fatalf("commit %d: the look when woken found %d rows, want %d (-1: not woken)", i, n, want)
		}
	}
}

// TestWatchingLeavesSQLitesLocksOnTheSHM: watching a database for changes
// reads its -shm file (the WAL index's header) through a descriptor of
// its own. Closing any descriptor of a file drops every POSIX lock the
// process holds on it, SQLite's included: once its dead-man switch was
// dropped, the next process to open the database took it for the first,
// truncated the -shm under this one's mapping, and this one's next
// statement failed with "disk I/O error" (SQLITE_IOERR_IN_PAGE), its
// write committed all the same. The watch's descriptor must never be
// closed while SQLite may hold locks through its own.
func TestWatchingLeavesSQLitesLocksOnTheSHM(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	db, err := sqlitedb.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	if err := sqlitedb.Migrate(ctx, db, `CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	// A connection kept open, with the WAL index mapped.
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	if _, err := conn.ExecContext(ctx, `INSERT INTO t DEFAULT VALUES`); err != nil {
		t.Fatal(err)
	}
	shm := filepath.Join(dir, sqlitedb.FileName+"-shm")
	locked := func() bool {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), shmLockedEnv+"="+shm)
		out, err := cmd.CombinedOutput()
		code := cmd.ProcessState.ExitCode()
		if code != 0 && code != 3 {
			t.Fatalf("probing %s: %v\n%s", shm, err, out)
		}
		return code == 0
	}
	if !locked() {
		t.Fatalf("no lock on %s's dead-man switch with a connection open: the probe is wrong", shm)
	}
	for round := range 3 {
		w := sqlitedb.ChangesOf(ctx, db).Watch()
		if _, err := conn.ExecContext(ctx, `INSERT INTO t DEFAULT VALUES`); err != nil {
			t.Fatal(err)
		}
		w.Close()
		runtime.GC() // an unreachable *os.File's finalizer would close it
		if !locked() {
			t.Fatalf("round %d: after a watch, this process no longer holds SQLite's lock on %s's dead-man switch", round, shm)
		}
	}
}
