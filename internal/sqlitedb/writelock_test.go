package sqlitedb_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/deployerhq/deployer/internal/sqlitedb"
)

// holdWriter takes the -writer lock of the database at path as another
// process would (flock locks of two open files exclude each other in one
// process too) and returns what releases it.
func holdWriter(t *testing.T, path string) (release func()) {
	t.Helper()
	f, err := os.OpenFile(path+"-writer", os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatalf("taking the -writer lock: %v", err)
	}
	var once bool
	release = func() {
		if !once {
			once = true
			_ = f.Close()
		}
	}
	t.Cleanup(release)
	return release
}

// waitForBlockedFlock waits until the kernel lists this process waiting
// for an flock (a "->" line of /proc/locks with its pid).
func waitForBlockedFlock(t *testing.T) {
	t.Helper()
	pid := " " + strconv.Itoa(os.Getpid()) + " "
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile("/proc/locks")
		if err != nil {
			t.Skipf("no /proc/locks to see the waiter in: %v", err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "->") && strings.Contains(l, "FLOCK") && strings.Contains(l, pid) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no writer waits for the -writer lock")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWritesWaitForAnotherProcesssWriter: each way of writing (a
// transaction, a kept statement run outside one, Exec, a migration) waits
// while another process holds the -writer lock, in the kernel, and writes
// once it is released.
func TestWritesWaitForAnotherProcesssWriter(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(ctx context.Context, db *sql.DB, wrote chan<- struct{}) error
	}{
		{"Tx", func(ctx context.Context, db *sql.DB, wrote chan<- struct{}) error {
			return sqlitedb.Tx(ctx, db, func(tx *sql.Tx) error {
				close(wrote)
				_, err := tx.ExecContext(ctx, `INSERT INTO t (v) VALUES (1)`)
				return err
			})
		}},
		{"Stmts.On(nil).ExecContext", func(ctx context.Context, db *sql.DB, wrote chan<- struct{}) error {
			defer close(wrote)
			_, err := sqlitedb.NewStmts(db).On(nil).ExecContext(ctx, `INSERT INTO t (v) VALUES (1)`)
			return err
		}},
		{"Exec", func(ctx context.Context, db *sql.DB, wrote chan<- struct{}) error {
			defer close(wrote)
			_, err := sqlitedb.Exec(ctx, db, `INSERT INTO t (v) VALUES (1)`)
			return err
		}},
		{"Migrate", func(ctx context.Context, db *sql.DB, wrote chan<- struct{}) error {
			defer close(wrote)
			return sqlitedb.Migrate(ctx, db, `CREATE TABLE IF NOT EXISTS m (v INTEGER)`, `INSERT INTO t (v) VALUES (1)`)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, path := openDBAt(t)
			if _, err := db.ExecContext(t.Context(), `CREATE TABLE t (v INTEGER)`); err != nil {
				t.Fatal(err)
			}
			release := holdWriter(t, path)
			wrote, done := make(chan struct{}), make(chan error, 1)
			go func() { done <- tc.write(t.Context(), db, wrote) }()
			waitForBlockedFlock(t)
			select {
			case <-wrote:
				t.Fatal("wrote while another process held the -writer lock")
			default:
			}
			release()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			var n int
			if err := db.QueryRowContext(t.Context(), `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 1 {
				t.Fatalf("count = %d, %v; want 1", n, err)
			}
		})
	}
}

// TestTxGivesUpTheWriterLockItNoLongerWaitsFor: a transaction whose
// context ends while it waits returns the context's error; the lock,
// released by its holder then, goes to the next writer and is not kept by
// the one that gave up. One held past LockWait is gone on without.
func TestTxGivesUpTheWriterLockItNoLongerWaitsFor(t *testing.T) {
	db, path := openDBAt(t)
	release := holdWriter(t, path)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- sqlitedb.Tx(ctx, db, func(*sql.Tx) error { return nil }) }()
	waitForBlockedFlock(t)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Tx() = %v, want context.Canceled", err)
	}
	release()
	// The abandoned wait takes the lock as it is released, and drops it
	// at once.
	f, err := os.Open(path + "-writer")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) || time.Now().After(deadline) {
			t.Fatalf("the -writer lock after a wait given up: %v (kept by the writer that gave up?)", err)
		}
	}
	// Held (by f) past LockWait: the transaction goes on without it.
	sqlitedb.SetLockWait(t, 50*time.Millisecond)
	if err := sqlitedb.Tx(t.Context(), db, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(t.Context(), `CREATE TABLE u (v INTEGER)`)
		return err
	}); err != nil {
		t.Fatalf("Tx() with the -writer lock held past LockWait: %v", err)
	}
}

// TestWritesWithoutAWriterFile: where the -writer file cannot be had (a
// directory stands in its way, as a read-only or foreign file would), the
// writes go on without it (between processes, SQLite's own waiting
// orders them): two handles writing at once both get through, and
// nothing fails for the missing lock.
func TestWritesWithoutAWriterFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), sqlitedb.FileName)
	if err := os.Mkdir(path+"-writer", 0o700); err != nil {
		t.Fatal(err)
	}
	var dbs [2]*sql.DB
	for i := range dbs {
		db, err := sqlitedb.OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		dbs[i] = db
	}
	if _, err := sqlitedb.Exec(t.Context(), dbs[0], `CREATE TABLE t (v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	const each = 50
	errs := make(chan error, len(dbs))
	for _, db := range dbs {
		go func() {
			for i := range each {
				if err := sqlitedb.Tx(t.Context(), db, func(tx *sql.Tx) error {
					_, err := tx.ExecContext(t.Context(), `INSERT INTO t (v) VALUES (?)`, i)
					return err
				}); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range dbs {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := dbs[1].QueryRowContext(t.Context(), `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 2*each {
		t.Fatalf("count = %d, %v; want %d", n, err, 2*each)
	}
}

// BenchmarkTx is a one-row write transaction with nobody else writing:
// the cost the write lock adds where there is nothing to wait for.
func BenchmarkTx(b *testing.B) {
	path := filepath.Join(b.TempDir(), sqlitedb.FileName)
	db, err := sqlitedb.OpenFile(path)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (v INTEGER)`); err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		if err := sqlitedb.Tx(ctx, db, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO t (v) VALUES (?)`, i)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
}
