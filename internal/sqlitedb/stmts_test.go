package sqlitedb_test

import (
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/deployerhq/deployer/internal/sqlitedb"
)

func TestStmtsPrepareOnceAndRunInTransactions(t *testing.T) {
	db, err := sqlitedb.OpenFile(filepath.Join(t.TempDir(), sqlitedb.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	ctx := t.Context()
	st := sqlitedb.NewStmts(db)
	const insert, count = `INSERT INTO t (v) VALUES (?)`, `SELECT count(*) FROM t WHERE v >= ?`

	// A statement that cannot be prepared yet is not kept: once its
	// table exists, the same query works.
	var n int
	if err := st.QueryRow(ctx, count, 0).Scan(&n); err == nil {
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
			if _, err := st.Exec(ctx, tx, insert, v); err != nil {
				t.Fatal(err)
			}
		}
		rows, err := st.QueryTx(ctx, tx, count, 1)
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
	if err := st.QueryRow(ctx, count, 0).Scan(&n); err != nil || n != 3 {
		t.Fatalf("after a rollback and a commit of 3 rows each: %d rows, %v; want 3", n, err)
	}
	if _, err := st.Exec(ctx, nil, insert, 9); err != nil {
		t.Fatal(err)
	}
	rows, err := st.Query(ctx, `SELECT v FROM t ORDER BY v DESC LIMIT 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	var top sql.NullInt64
	if !rows.Next() || rows.Scan(&top) != nil || top.Int64 != 9 {
		t.Fatalf("the largest value %v, want 9", top)
	}
}
