// Package sqlitedb opens the embedded backend's SQLite database so that
// several processes (CLIs, "deployer up", supervisors) can share one state
// directory safely: WAL journaling, a generous busy timeout, and write
// transactions that take the write lock up front (BEGIN IMMEDIATE), so two
// writers never deadlock upgrading read locks; before it, they wait for
// each other on a lock that wakes the next writer as soon as the last one
// commits (see writeLock), not in SQLite's sleeps. Any number of processes may
// open one new state directory at once: the switch to WAL, which SQLite
// cannot make wait on the busy timeout, is retried (see OpenFile).
//
// The driver is modernc.org/sqlite: pure Go, so every binary cross-compiles
// without cgo.
package sqlitedb

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"modernc.org/sqlite" // registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// FileName is the database file inside a state directory.
const FileName = "deployer.db"

// BusyTimeout is how long a statement waits for another process's write
// lock before failing with SQLITE_BUSY.
const BusyTimeout = 30 * time.Second

// CacheKiB bounds each connection's page cache.
const CacheKiB = 512

// Open opens (creating if needed) the database of the state directory dir.
func Open(dir string) (*sql.DB, error) {
	if dir == "" {
		return nil, errors.New("opening state database: no state directory given")
	}
	if err := MakeDir(dir); err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	return OpenFile(filepath.Join(dir, FileName))
}

// MakeDir makes the state directory dir, and its missing parents, as
// Open does: its owner's alone (0700). A command that writes into the
// directory before it opens the database makes it with MakeDir first.
func MakeDir(dir string) error { return os.MkdirAll(dir, 0o700) }

// OpenFile opens (creating if needed) the database file path and switches
// it to WAL journaling. Several processes may open one new file at once:
// none fails with SQLITE_BUSY while another switches it.
func OpenFile(path string) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()))
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	// A small page cache per connection: the work is small transactions
	// and reads of what was just written (in the OS's cache anyway), and
	// a follower reading a long log keeps its memory flat.
	q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", CacheKiB))
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	persistWAL(dsn)
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening state database %s: %w", path, err)
	}
	setPool(db)
	registerWriteLock(db, path)
	ctx, cancel := context.WithTimeout(context.Background(), BusyTimeout)
	defer cancel()
	if err := useWAL(ctx, db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("opening state database %s: %w", path, err)
	}
	return db, nil
}

// persistWAL has the connections of dsn keep the database's -wal and
// -shm files when the last of them closes (SQLITE_FCNTL_PERSIST_WAL),
// checkpointed as ever. Deleted, the next process to write re-creates
// them, and its first commit syncs the new -wal and the directory: the
// first run after a detached server stopped spent ~2 ms of its submit on
// that. A reader that cannot write the -shm is still opened immutable
// (OpenReadOnly), reading what the checkpoint left in the database file.
func persistWAL(dsn string) {
	persistOnce.Do(func() {
		sqlite.RegisterConnectionHook(func(conn sqlite.ExecQuerierContext, dsn string) error {
			if _, ok := persistDSNs.Load(dsn); !ok {
				return nil
			}
			fc, ok := conn.(sqlite.FileControl)
			if !ok {
				return nil
			}
			if _, err := fc.FileControlPersistWAL("main", 1); err != nil {
				return fmt.Errorf("keeping the WAL file: %w", err)
			}
			return nil
		})
	})
	persistDSNs.Store(dsn, struct{}{})
}

var (
	persistOnce sync.Once
	persistDSNs sync.Map // the DSNs of OpenFile's handles
)

// conns is how many connections a database handle keeps: readers run
// concurrently under WAL, and writers serialize on the file lock anyway.
const conns = 4

// setPool keeps up to conns connections open and all of them idle between
// uses. database/sql keeps two idle by default: a busy process (up's
// waiters, woken together by each commit) would close its third and fourth
// connections after each burst and open them again on the next, paying each
// time for the connection's pragmas and for preparing its statements anew.
// A minute unused closes them.
func setPool(db *sql.DB) {
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(time.Minute)
}

// useWAL switches the database to WAL journaling, a mode kept in the file
// that every connection then follows, so it is done here once rather than
// by each connection of the pool. On a new file the switch writes the
// header from inside a read transaction; when two openers race, SQLite
// answers the one that cannot upgrade its read lock SQLITE_BUSY at once,
// without waiting for the busy timeout (waiting could deadlock). That
// answer is retried until ctx ends; the winner's switch is then seen.
func useWAL(ctx context.Context, db *sql.DB) error {
	delay := time.Millisecond
	for {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		switch {
		case err == nil && strings.EqualFold(mode, "wal"):
			return nil
		case err == nil:
			return fmt.Errorf("switching to WAL journaling: the journal mode stayed %q", mode)
		case !busy(err):
			return fmt.Errorf("switching to WAL journaling: %w", err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("switching to WAL journaling: %w", err)
		case <-t.C:
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// busy reports whether err is SQLite's SQLITE_BUSY (any extended code).
func busy(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY
}

// NotWritableError is CheckWritable's error: the first path this process
// cannot write, and the system's reason (EACCES, EROFS).
type NotWritableError struct {
	Path string
	Err  error
}

func (e *NotWritableError) Error() string { return e.Path + ": " + e.Err.Error() }

func (e *NotWritableError) Unwrap() error { return e.Err }

// CheckWritable returns a *NotWritableError when this process cannot write the state
// directory dir or its database files; nil when it can, or when dir does
// not exist yet (Open then creates it, or says why it cannot).
func CheckWritable(dir string) error {
	db := filepath.Join(dir, FileName)
	for _, p := range []string{dir, db, db + "-wal", db + "-shm"} {
		err := unix.Access(p, unix.W_OK)
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			continue
		}
		return &NotWritableError{Path: p, Err: err}
	}
	return nil
}

// OpenReadOnly opens the existing database of the state directory dir for
// reading only, for a process that cannot write it (see CheckWritable):
// nothing is created, and Migrate does nothing on it. A WAL database
// needs its -shm index, which SQLite creates beside the file; when that
// cannot be done it is opened immutable, reading the database file alone
// (what the last writer checkpointed into it).
func OpenReadOnly(dir string) (*sql.DB, error) {
	path := filepath.Join(dir, FileName)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("opening state database %s for reading: %w", path, err)
	}
	var last error
	for _, immutable := range []bool{false, true} {
		q := url.Values{}
		q.Set("mode", "ro")
		if immutable {
			q.Set("immutable", "1")
		}
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()))
		q.Add("_pragma", "query_only(1)")
		db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
		if err != nil {
			return nil, fmt.Errorf("opening state database %s for reading: %w", path, err)
		}
		setPool(db)
		ctx, cancel := context.WithTimeout(context.Background(), BusyTimeout)
		var n int
		err = db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n)
		cancel()
		if err == nil {
			return db, nil
		}
		_ = db.Close()
		last = err
	}
	return nil, fmt.Errorf("opening state database %s for reading: %w", path, last)
}

// ReadOnly reports whether db was opened by OpenReadOnly.
func ReadOnly(ctx context.Context, db *sql.DB) bool {
	var on int
	return db.QueryRowContext(ctx, "PRAGMA query_only").Scan(&on) == nil && on == 1
}

// Migrate runs each statement of schema (CREATE ... IF NOT EXISTS) in one
// transaction. Adapters call it with their own tables when they are built.
// On a database opened read-only (OpenReadOnly) it does nothing: the
// tables are those the writers made.
//
// Every process opens every adapter, so most calls find their schema in
// place. The transaction records the digest of the statements it ran
// (schema_migrations), and a call whose digest is recorded returns after
// one read: it takes no write lock, waits for no writer, and parses no
// DDL. A schema that changes, in a new version, has a new digest and
// runs once more.
func Migrate(ctx context.Context, db *sql.DB, stmts ...string) error {
	digest := schemaDigest(stmts)
	var one int
	if db.QueryRowContext(ctx, `SELECT 1 FROM schema_migrations WHERE digest = ?`, digest).Scan(&one) == nil {
		return nil
	}
	// Not recorded, or not known yet (no such table, a busy database):
	// the statements say for themselves.
	if ReadOnly(ctx, db) {
		return nil
	}
	err := Tx(ctx, db, func(tx *sql.Tx) error {
		for _, s := range append([]string{migrationsTable}, stmts...) {
			if _, err := tx.ExecContext(ctx, s); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO schema_migrations (digest, applied_ms) VALUES (?, ?)`,
			digest, time.Now().UnixMilli())
		return err
	})
	if err != nil {
		return fmt.Errorf("migrating state database: %w", err)
	}
	return nil
}

// migrationsTable holds the digests of the schemas Migrate applied.
const migrationsTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	digest     TEXT PRIMARY KEY,
	applied_ms INTEGER NOT NULL
)`

// schemaDigest names a list of statements: the SHA-256 of the statements,
// each prefixed with its length so that no two lists share one.
func schemaDigest(stmts []string) string {
	h := sha256.New()
	for _, s := range stmts {
		_, _ = fmt.Fprintf(h, "%d:%s", len(s), s)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Exec runs query, a statement that writes, outside a transaction, as
// db.ExecContext does, after taking the file's write lock as Tx does
// (inside a Together on db, in its transaction). It
// is for the writes made now and then; a hot path's statements are kept
// prepared (Stmts.On(nil).ExecContext, which locks the same way).
func Exec(ctx context.Context, db *sql.DB, query string, args ...any) (sql.Result, error) {
	if u := unitOf(ctx, db); u != nil {
		if u.lost != nil {
			return nil, u.lost
		}
		return u.tx.ExecContext(ctx, query, args...)
	}
	release, err := lockWrites(ctx, db)
	if err != nil {
		return nil, err
	}
	defer release()
	return db.ExecContext(ctx, query, args...)
}

// Tx runs fn in a write transaction (BEGIN IMMEDIATE) and commits it when
// fn returns nil. On a handle from OpenFile, it takes the file's write
// lock for the transaction (see writeLock). Inside a Together on db, fn
// runs in a savepoint of its transaction instead (see Together).
func Tx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	if u := unitOf(ctx, db); u != nil {
		return u.savepoint(ctx, u.tx, fn)
	}
	release, err := lockWrites(ctx, db)
	if err != nil {
		return err
	}
	defer release()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}
