package sqlitedb

import (
	"context"
	"database/sql"
	"sync"
)

// Stmts keeps the prepared statements of an adapter's hot queries, those
// run at every wake-up or for every batch of lines, so that SQLite parses
// each once per connection rather than at every run: the driver prepares
// a query given as text each time, and the parse was most of what a
// wake-up that finds nothing new costs. database/sql prepares a kept
// statement again on each connection it runs on, and inside a
// transaction (sql.Tx.StmtContext) reuses the one of the transaction's
// connection.
//
// The statements live as long as the database handle: closing it closes
// them. Only queries whose text is one of a few constants belong here.
type Stmts struct {
	db *sql.DB

	mu   sync.Mutex
	m    map[string]*sql.Stmt
	seen map[string]bool // queries a transaction ran as text (see Querier)
}

// NewStmts returns an empty cache of statements prepared on db.
func NewStmts(db *sql.DB) *Stmts {
	return &Stmts{db: db, m: map[string]*sql.Stmt{}, seen: map[string]bool{}}
}

// again reports whether query has a statement kept, or was run as text
// before; it notes that it now is.
func (s *Stmts) again(query string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[query] != nil || s.seen[query] {
		return true
	}
	s.seen[query] = true
	return false
}

// Get returns the statement of query, preparing it on first use. A
// failed preparation is not kept: the next Get tries again.
func (s *Stmts) Get(ctx context.Context, query string) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.m[query]; st != nil {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s.m[query] = st
	return st, nil
}

// Query runs the statement of query.
func (s *Stmts) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := s.Get(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRow runs the statement of query for one row. As with
// sql.DB.QueryRowContext, an error preparing it is Scan's.
func (s *Stmts) QueryRow(ctx context.Context, query string, args ...any) *Row {
	st, err := s.Get(ctx, query)
	if err != nil {
		return &Row{err: err}
	}
	return &Row{row: st.QueryRowContext(ctx, args...)}
}

// Exec runs the statement of query, in tx when tx is not nil.
func (s *Stmts) Exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	st, err := s.Get(ctx, query)
	if err != nil {
		return nil, err
	}
	if tx != nil {
		st = tx.StmtContext(ctx, st)
	}
	return st.ExecContext(ctx, args...)
}

// QueryTx runs the statement of query in tx.
func (s *Stmts) QueryTx(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	st, err := s.Get(ctx, query)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, st).QueryContext(ctx, args...)
}

// Row is the result of QueryRow: a *sql.Row, or the error of preparing
// its statement.
type Row struct {
	row *sql.Row
	err error
}

// Scan copies the row's columns into dest, as sql.Row.Scan.
func (r *Row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	return r.row.Scan(dest...)
}

// On returns the statements run in tx, or on the database itself when tx
// is nil, behind the methods *sql.Tx and *sql.DB have: code written
// against those keeps its calls and parses each query once instead of at
// every call.
func (s *Stmts) On(tx *sql.Tx) Querier { return Querier{s: s, tx: tx} }

// Querier runs queries through the statements of a Stmts (see On).
type Querier struct {
	s  *Stmts
	tx *sql.Tx
}

// stmt returns the statement of query, in q's transaction; nil, with no
// error, when query is to run as text instead.
//
// Inside a transaction, a query's first run is as text: preparing the
// statement to keep would take another connection than the
// transaction's, opening one when none is idle, and then prepare it
// again on the transaction's. That is worth it from the second run on,
// which a process that runs the query once (a deployer run submitting its
// job) never reaches.
func (q Querier) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if q.tx == nil {
		return q.s.Get(ctx, query)
	}
	if !q.s.again(query) {
		return nil, nil
	}
	st, err := q.s.Get(ctx, query)
	if err != nil {
		return nil, err
	}
	return q.tx.StmtContext(ctx, st), nil
}

// ExecContext runs the statement of query, as sql.Tx.ExecContext.
func (q Querier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := q.stmt(ctx, query)
	switch {
	case err != nil:
		return nil, err
	case st == nil:
		return q.tx.ExecContext(ctx, query, args...)
	}
	return st.ExecContext(ctx, args...)
}

// QueryContext runs the statement of query, as sql.Tx.QueryContext.
func (q Querier) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := q.stmt(ctx, query)
	switch {
	case err != nil:
		return nil, err
	case st == nil:
		return q.tx.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext runs the statement of query for one row, as
// sql.Tx.QueryRowContext. A statement that cannot be prepared is run as
// text instead, whose row then reports why.
func (q Querier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := q.stmt(ctx, query)
	switch {
	case err == nil && st != nil:
		return st.QueryRowContext(ctx, args...)
	case q.tx != nil:
		return q.tx.QueryRowContext(ctx, query, args...)
	}
	return q.s.db.QueryRowContext(ctx, query, args...)
}
