package sqlitedb

import (
	"context"
	"database/sql"
	"sync"
)

// Stmts keeps the prepared statements of an adapter's hot queries, those
// run at every wake-up, for every job or for every batch of lines, so
// that SQLite parses each once per connection rather than at every run:
// the driver prepares a query given as text each time, and the parse was
// most of what a wake-up that finds nothing new costs, and 14% of up's
// CPU per job. database/sql prepares a kept statement again on each
// connection it runs on, and inside a transaction (sql.Tx.StmtContext)
// reuses the one of the transaction's connection.
//
// A statement is never prepared from inside a transaction: preparing
// takes a connection of the pool, which may all be held by others
// waiting for the write lock this transaction holds, and would then wait
// until their busy timeout gave up. A query a transaction runs without a
// kept statement runs as text; the second time it does, its statement
// is due, and Tx prepares it once that transaction has committed (or
// Prepare does), on the connection the transaction gave back: the
// commit is not delayed, and other processes act on it meanwhile. A
// query run once in a process (a deployer run submitting its job) is
// never prepared twice nor takes another connection.
//
// Nothing is prepared behind the caller's back: a preparation in a
// goroutine of its own once opened a connection after the handle closed,
// or after a task's supervisor had recorded its end, and a connection
// opened on a removed database creates its file again (a test's state
// directory could not be removed).
//
// The statements live as long as the database handle: closing it closes
// them. Only queries whose text is one of a few constants belong here.
type Stmts struct {
	db *sql.DB

	mu   sync.Mutex
	m    map[string]*sql.Stmt
	seen map[string]bool // queries a transaction ran as text
	due  map[string]bool // those it ran as text again: to prepare
}

// NewStmts returns an empty cache of statements prepared on db.
func NewStmts(db *sql.DB) *Stmts {
	return &Stmts{db: db, m: map[string]*sql.Stmt{}, seen: map[string]bool{}, due: map[string]bool{}}
}

// Get returns the statement of query, preparing it on first use. A
// failed preparation is not kept: the next Get tries again. Not from
// inside a transaction on the same database (see Stmts).
func (s *Stmts) Get(ctx context.Context, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	st := s.m[query]
	s.mu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if kept := s.m[query]; kept != nil {
		// Prepared meanwhile by another caller: keep one.
		_ = st.Close()
		return kept, nil
	}
	s.m[query] = st
	return st, nil
}

// inTx returns the kept statement of query bound to tx, or nil when tx is
// to run query as text; the second time that happens, the statement is
// due (see Prepare).
func (s *Stmts) inTx(ctx context.Context, tx *sql.Tx, query string) *sql.Stmt {
	s.mu.Lock()
	st := s.m[query]
	if st == nil {
		if s.seen[query] {
			s.due[query] = true
		}
		s.seen[query] = true
	}
	s.mu.Unlock()
	if st == nil {
		return nil
	}
	return tx.StmtContext(ctx, st)
}

// Prepare prepares and keeps the statements due: those transactions ran
// as text twice. One that cannot be prepared runs as text, and is due
// again the next time a transaction runs it. Not from inside a
// transaction on the same database (see Stmts).
func (s *Stmts) Prepare(ctx context.Context) {
	s.mu.Lock()
	if len(s.due) == 0 {
		s.mu.Unlock()
		return
	}
	due := s.due
	s.due = map[string]bool{}
	s.mu.Unlock()
	for query := range due {
		_, _ = s.Get(ctx, query)
	}
}

// Tx runs fn in a write transaction, as the package's Tx does, then
// prepares the statements due: once the transaction commits, inside a
// Together.
func (s *Stmts) Tx(ctx context.Context, fn func(*sql.Tx) error) error {
	var err error
	if u := unitOf(ctx, s.db); u != nil {
		// Its savepoint's statements kept here too: a Together makes
		// one per write, and parsing them each time cost more than the
		// commits it saves.
		err = u.savepoint(ctx, s.On(u.tx), fn)
		u.prepare(ctx, s)
		return err
	}
	err = Tx(ctx, s.db, fn)
	s.Prepare(ctx)
	return err
}

// On returns the statements run in tx, or on the database itself when tx
// is nil, behind the methods *sql.Tx and *sql.DB have: code written
// against those keeps its calls and parses each query once instead of at
// every call. With tx nil, a call whose context is in a Together on the
// database runs in the Together's transaction.
func (s *Stmts) On(tx *sql.Tx) Querier { return Querier{s: s, tx: tx} }

// Querier runs queries through the statements of a Stmts (see On).
type Querier struct {
	s  *Stmts
	tx *sql.Tx
}

// ExecContext runs the statement of query, as sql.Tx.ExecContext. Outside
// a transaction, it takes the file's write lock as Tx does (see
// writeLock): a statement run this way writes.
func (q Querier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	q, err := q.in(ctx)
	if err != nil {
		return nil, err
	}
	if q.tx != nil {
		if st := q.s.inTx(ctx, q.tx, query); st != nil {
			return st.ExecContext(ctx, args...)
		}
		return q.tx.ExecContext(ctx, query, args...)
	}
	st, err := q.s.Get(ctx, query)
	if err != nil {
		return nil, err
	}
	release, err := lockWrites(ctx, q.s.db)
	if err != nil {
		return nil, err
	}
	defer release()
	return st.ExecContext(ctx, args...)
}

// QueryContext runs the statement of query, as sql.Tx.QueryContext.
func (q Querier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q, err := q.in(ctx)
	if err != nil {
		return nil, err
	}
	if q.tx != nil {
		if st := q.s.inTx(ctx, q.tx, query); st != nil {
			return st.QueryContext(ctx, args...)
		}
		return q.tx.QueryContext(ctx, query, args...)
	}
	st, err := q.s.Get(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext runs the statement of query for one row, as
// sql.Tx.QueryRowContext. A statement that cannot be prepared is run as
// text instead, whose row then reports why.
func (q Querier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	// In a lost Together, a read on the database itself (nothing here
	// writes through QueryRowContext).
	q, _ = q.in(ctx)
	if q.tx != nil {
		if st := q.s.inTx(ctx, q.tx, query); st != nil {
			return st.QueryRowContext(ctx, args...)
		}
		return q.tx.QueryRowContext(ctx, query, args...)
	}
	if st, err := q.s.Get(ctx, query); err == nil {
		return st.QueryRowContext(ctx, args...)
	}
	return q.s.db.QueryRowContext(ctx, query, args...)
}

// in returns q, run in the transaction of the Together on its database
// that ctx is in, if any, when q has no transaction of its own; the
// Together's error when its transaction was lost (q unchanged).
func (q Querier) in(ctx context.Context) (Querier, error) {
	if q.tx == nil {
		if u := unitOf(ctx, q.s.db); u != nil {
			if u.lost != nil {
				return q, u.lost
			}
			q.tx = u.tx
			u.prepare(ctx, q.s)
		}
	}
	return q, nil
}
