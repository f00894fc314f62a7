package sqlitedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
)

// Together runs fn in one write transaction of db: the writes made with
// the context fn is given (or one derived from it) through this
// package's Tx, Exec and the Querier of a Stmts on db join that
// transaction, and commit together when fn returns nil, or not at all. A
// job's hops are a few writes each (an event into the journal and onto
// the job's stream; a request's stream and the request), and each write
// on its own is a commit: a WAL append, and a wake-up of every process
// watching the database (see Changes). Made together they are one.
//
// A Tx joined this way runs in a savepoint of its own: when its function
// fails, its writes are undone and the error is returned to its caller,
// who may go on (a stream already deleted is no reason not to journal);
// the transaction commits whatever the others wrote. Queries run through
// a Querier with no transaction of its own read in the transaction too,
// so they see its writes. What must wait for the commit (waking this
// process's waiters) goes through AfterCommit.
//
// The transaction holds the database's write lock while fn runs, so fn
// does nothing slow, and writes only through db: a write of fn through
// another handle on the same file would wait for the lock fn holds. The
// context is for one goroutine at a time, as a transaction is. Inside a
// Together on db, Together runs fn in a savepoint of the same
// transaction.
func Together(ctx context.Context, db *sql.DB, fn func(ctx context.Context) error) error {
	if u := unitOf(ctx, db); u != nil {
		return u.savepoint(ctx, u.tx, func(*sql.Tx) error { return fn(ctx) })
	}
	u := &unit{db: db}
	err := Tx(ctx, db, func(tx *sql.Tx) error {
		u.tx = tx
		if err := fn(context.WithValue(ctx, unitKey{}, u)); err != nil {
			return err
		}
		return u.lost
	})
	u.done = true
	if err != nil {
		return err
	}
	for _, f := range u.after {
		f()
	}
	return nil
}

// AfterCommit runs fn once the writes made with ctx on db are visible to
// others: when the transaction of the Together ctx is in commits (and
// never if it does not), or at once outside one.
func AfterCommit(ctx context.Context, db *sql.DB, fn func()) {
	if u := unitOf(ctx, db); u != nil {
		u.after = append(u.after, fn)
		return
	}
	fn()
}

// unit is the transaction of a Together.
type unit struct {
	db    *sql.DB
	tx    *sql.Tx
	done  bool     // committed or rolled back: nothing joins it any more
	after []func() // AfterCommit's, in order
	// stmts are the Stmts that ran statements in the transaction: the
	// ones they ran as text may be due, prepared once it has committed
	// (see Stmts).
	stmts []*Stmts
	// lost is set once the transaction is found gone under the unit
	// (SQLite rolls a transaction back itself when a write in it is
	// interrupted, or finds the disk full): a write after that would be
	// its own commit, so every write joining the unit fails with lost.
	lost error
}

type unitKey struct{}

// unitOf returns the transaction of the Together on db that ctx is in,
// or nil.
func unitOf(ctx context.Context, db *sql.DB) *unit {
	u, _ := ctx.Value(unitKey{}).(*unit)
	if u == nil || u.db != db || u.done {
		return nil
	}
	return u
}

// execer runs a statement: the unit's transaction, or a Querier on it,
// which runs the savepoints' statements prepared once they are hot (see
// Stmts).
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// prepare has s prepare the statements due once the unit commits,
// whatever became of ctx meanwhile: a write's context is often its own
// timeout's, over before the commit.
func (u *unit) prepare(ctx context.Context, s *Stmts) {
	if slices.Contains(u.stmts, s) {
		return
	}
	u.stmts = append(u.stmts, s)
	ctx = context.WithoutCancel(ctx)
	u.after = append(u.after, func() { s.Prepare(ctx) })
}

// savepoint runs fn in a savepoint of the unit's transaction, opened
// and closed through in: fn's writes are kept when it returns nil and
// undone when it fails. The savepoint is closed whatever became of ctx:
// a write that failed because its context ended is undone all the same,
// or the unit would commit its first half.
func (u *unit) savepoint(ctx context.Context, in execer, fn func(*sql.Tx) error) error {
	if u.lost != nil {
		return u.lost
	}
	if _, err := in.ExecContext(ctx, "SAVEPOINT together"); err != nil {
		return fmt.Errorf("opening a savepoint: %w", err)
	}
	err := fn(u.tx)
	ctx = context.WithoutCancel(ctx)
	if err != nil {
		if _, rerr := in.ExecContext(ctx, "ROLLBACK TO together"); rerr != nil {
			u.lose(rerr)
			return errors.Join(err, u.lost)
		}
		if _, rerr := in.ExecContext(ctx, "RELEASE together"); rerr != nil {
			u.lose(rerr)
			return errors.Join(err, u.lost)
		}
		return err
	}
	if _, err := in.ExecContext(ctx, "RELEASE together"); err != nil {
		u.lose(err)
		return u.lost
	}
	return nil
}

// lose marks the unit's transaction gone, as err found it.
func (u *unit) lose(err error) {
	u.lost = fmt.Errorf("the writes made together were lost: closing a savepoint: %w", err)
}
