package sqlitedb_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/deployerhq/deployer/internal/sqlitedb"
)

func TestStmtsPrepareOnceAndRunInTransactions(t *testing.T) {
	db := openDB(t)
	ctx := t.Context()
	st := sqlitedb.NewStmts(db)
	const insert, count = `INSERT INTO t (v) VALUES (?)`, `SELECT count(*) FROM t WHERE v >= ?`

	// A statement that cannot be prepared yet is not kept: once its
	// table exists, the same query works.
	var n int
	if err := st.On(nil).QueryRowContext(ctx, count, 0).Scan(&n); err == nil {
		t.Fatal("a query of a table that does not exist: no error")
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	a, err := st.Get(ctx, count)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := st.Get(ctx, count); err != nil || b != a {
		t.Fatalf("the second Get: %p, %v; want the first statement %p", b, err, a)
	}

	// In a transaction that rolls back, then in one that commits.
	for _, commit := range []bool{false, true} {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for v := range 3 {
			if _, err := st.On(tx).ExecContext(ctx, insert, v); err != nil {
				t.Fatal(err)
			}
		}
		rows, err := st.On(tx).QueryContext(ctx, count, 1)
		if err != nil {
			t.Fatal(err)
		}
		if !rows.Next() || rows.Scan(&n) != nil || n != 2 {
			t.Fatalf("inside the transaction: %d rows of v >= 1, want 2", n)
		}
		_ = rows.Close()
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := st.On(nil).QueryRowContext(ctx, count, 0).Scan(&n); err != nil || n != 3 {
		t.Fatalf("after a rollback and a commit of 3 rows each: %d rows, %v; want 3", n, err)
	}
	if _, err := st.On(nil).ExecContext(ctx, insert, 9); err != nil {
		t.Fatal(err)
	}
	rows, err := st.On(nil).QueryContext(ctx, `SELECT v FROM t ORDER BY v DESC LIMIT 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	var top sql.NullInt64
	if !rows.Next() || rows.Scan(&top) != nil || top.Int64 != 9 {
		t.Fatalf("the largest value %v, want 9", top)
	}
}

// TestQuerierRunsKeptStatementsInItsTransaction: a Querier runs each
// query inside its transaction (it sees the transaction's own writes,
// which the database does not yet), through the statement Stmts keeps for
// it once the query has run in a transaction twice and the transaction
// of Tx ended, and reports a query that cannot be prepared as
// the text query would.
func TestQuerierRunsKeptStatementsInItsTransaction(t *testing.T) {
	db := openDB(t)
	ctx := t.Context()
	st := sqlitedb.NewStmts(db)
	const insert, count = `INSERT INTO t (v) VALUES (?)`, `SELECT count(*) FROM t`

	var n int
	if err := st.On(nil).QueryRowContext(ctx, count).Scan(&n); err == nil || !strings.Contains(err.Error(), "no such table") {
		t.Fatalf("a row of a table that does not exist: %v, want SQLite's error", err)
	}
	if _, err := st.On(nil).ExecContext(ctx, insert, 1); err == nil {
		t.Fatal("an insert into a table that does not exist: no error")
	}
	if _, err := st.On(nil).ExecContext(ctx, `CREATE TABLE t (v INTEGER)`); err != nil {
		t.Fatal(err)
	}

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	in := st.On(tx)
	for v := range 3 {
		if _, err := in.ExecContext(ctx, insert, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := in.QueryRowContext(ctx, count).Scan(&n); err != nil || n != 3 {
		t.Fatalf("inside the transaction: %d rows, %v; want its 3", n, err)
	}
	rows, err := in.QueryContext(ctx, `SELECT v FROM t ORDER BY v`)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
	}
	if err := rows.Close(); err != nil || len(got) != 3 {
		t.Fatalf("rows inside the transaction: %v, %v; want 0 1 2", got, err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	// Outside a transaction, a statement is kept at once (the create);
	// from inside one, after its second run there (the insert, not the
	// count and the select, which ran there once), when the caller
	// prepares what is due: nothing is prepared behind its back.
	if n := sqlitedb.Kept(st); n != 1 {
		t.Fatalf("%d statements kept after a transaction begun without Tx, want 1: the create's", n)
	}
	err = st.Tx(ctx, func(tx *sql.Tx) error {
		return st.On(tx).QueryRowContext(ctx, count).Scan(&n)
	})
	if err != nil || n != 3 {
		t.Fatalf("the count's second run: %d rows, %v; want 3", n, err)
	}
	if n := sqlitedb.Kept(st); n != 3 {
		t.Fatalf("%d statements kept once Tx returned, want 3: the create's, the insert's and the count's", n)
	}
	if err := st.On(nil).QueryRowContext(ctx, count).Scan(&n); err != nil || n != 3 {
		t.Fatalf("after the commit: %d rows, %v; want 3", n, err)
	}
}

// TestQuerierInATransactionNeedsNoOtherConnection: with every connection
// of the pool held (here its only one, by the transaction), a query run
// again and again inside the transaction neither waits for a connection
// to prepare its statement nor fails; it is prepared once the transaction
// gives its connection back, at the next Prepare. Preparing from inside
// the transaction would wait until the deadline.
func TestQuerierInATransactionNeedsNoOtherConnection(t *testing.T) {
	db := openDB(t)
	if _, err := db.ExecContext(t.Context(), `CREATE TABLE t (v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	st := sqlitedb.NewStmts(db)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	for v := range 5 {
		if _, err := st.On(tx).ExecContext(ctx, `INSERT INTO t (v) VALUES (?)`, v); err != nil {
			t.Fatalf("insert %d inside the transaction: %v", v, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	st.Prepare(ctx)
	if n := sqlitedb.Kept(st); n != 1 {
		t.Fatalf("%d statements kept once the connection is free, want the insert's", n)
	}
}

// openDB opens a database of its own for the test, closed at its end.
func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, _ := openDBAt(t)
	return db
}

// openDBAt is openDB, with the database file's path.
func openDBAt(t *testing.T) (*sql.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), sqlitedb.FileName)
	db, err := sqlitedb.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, path
}

// TestQuerierRetriesAStatementThatCouldNotBePrepared: a query a
// transaction runs on a table it created itself cannot be prepared
// outside it until it commits; it keeps running as text, is due again
// when a transaction runs it next, and is kept once Tx can prepare it.
func TestQuerierRetriesAStatementThatCouldNotBePrepared(t *testing.T) {
	db := openDB(t)
	st := sqlitedb.NewStmts(db)
	ctx := t.Context()
	const insert = `INSERT INTO fresh (v) VALUES (?)`
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE fresh (v INTEGER)`); err != nil {
		t.Fatal(err)
	}
	for v := range 3 {
		if _, err := st.On(tx).ExecContext(ctx, insert, v); err != nil {
			t.Fatalf("insert %d: %v", v, err)
		}
	}
	// Before the commit: the preparation, on another connection, cannot
	// see the table.
	st.Prepare(ctx)
	if n := sqlitedb.Kept(st); n != 0 {
		t.Fatalf("%d statements kept, want none: the table does not exist outside the transaction", n)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		err := st.Tx(ctx, func(tx *sql.Tx) error {
			_, err := st.On(tx).ExecContext(ctx, insert, 9)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := sqlitedb.Kept(st); n != 1 {
		t.Fatalf("%d statements kept, want the insert's once its table exists", n)
	}
}
