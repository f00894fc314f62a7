package sqlitedb_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/deployerhq/deployer/internal/sqlitedb"
)

// togetherDB is a database with a table t of texts, written through a
// Stmts (as the adapters write), and a second handle on the same file
// that reads it as another process would.
type togetherDB struct {
	db, other *sql.DB
	stmts     *sqlitedb.Stmts
}

func newTogetherDB(t *testing.T) *togetherDB {
	t.Helper()
	db, path := openDBAt(t)
	if err := sqlitedb.Migrate(t.Context(), db, `CREATE TABLE t (v TEXT NOT NULL UNIQUE)`); err != nil {
		t.Fatal(err)
	}
	other, err := sqlitedb.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	return &togetherDB{db: db, other: other, stmts: sqlitedb.NewStmts(db)}
}

// insert writes the values in one Tx of its own, as an adapter's write.
func (d *togetherDB) insert(ctx context.Context, vs ...string) error {
	return d.stmts.Tx(ctx, func(tx *sql.Tx) error {
		for _, v := range vs {
			if _, err := d.stmts.On(tx).ExecContext(ctx, `INSERT INTO t (v) VALUES (?)`, v); err != nil {
				return err
			}
		}
		return nil
	})
}

// seen returns the values db holds, as read through it.
func seen(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT v FROM t ORDER BY v`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTogetherCommitsItsWritesAtOnce: the writes of a Together, made
// through Tx, Exec and a Querier with no transaction of its own, are
// invisible to another handle until Together returns, and then all
// there; the Querier reads them inside.
func TestTogetherCommitsItsWritesAtOnce(t *testing.T) {
	d := newTogetherDB(t)
	err := sqlitedb.Together(t.Context(), d.db, func(ctx context.Context) error {
		if err := d.insert(ctx, "a", "b"); err != nil {
			return err
		}
		if _, err := sqlitedb.Exec(ctx, d.db, `INSERT INTO t (v) VALUES ('c')`); err != nil {
			return err
		}
		if _, err := d.stmts.On(nil).ExecContext(ctx, `INSERT INTO t (v) VALUES (?)`, "d"); err != nil {
			return err
		}
		var n int
		if err := d.stmts.On(nil).QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil {
			return err
		}
		if n != 4 {
			t.Errorf("inside the Together, its Querier reads %d rows, want its 4", n)
		}
		if got := seen(t, d.other); len(got) != 0 {
			t.Errorf("before the Together returned, another handle read %v, want nothing", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := seen(t, d.other), []string{"a", "b", "c", "d"}; !slices.Equal(got, want) {
		t.Fatalf("after the Together, another handle reads %v, want %v", got, want)
	}
}

// TestTogetherThatFailsWritesNothing: a Together whose function fails
// undoes every write it made, and returns the function's error.
func TestTogetherThatFailsWritesNothing(t *testing.T) {
	d := newTogetherDB(t)
	boom := errors.New("boom")
	err := sqlitedb.Together(t.Context(), d.db, func(ctx context.Context) error {
		if err := d.insert(ctx, "a"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Together = %v, want the function's error", err)
	}
	if got := seen(t, d.db); len(got) != 0 {
		t.Fatalf("after a failed Together the table holds %v, want nothing", got)
	}
}

// TestTogetherUndoesAFailedWriteAlone: a write that fails inside a
// Together is undone whole (its first rows too), its error is returned
// to the function, and the writes before and after it commit.
func TestTogetherUndoesAFailedWriteAlone(t *testing.T) {
	d := newTogetherDB(t)
	err := sqlitedb.Together(t.Context(), d.db, func(ctx context.Context) error {
		if err := d.insert(ctx, "a"); err != nil {
			return err
		}
		// "b" goes in, then "a" breaks the table's UNIQUE.
		if err := d.insert(ctx, "b", "a"); err == nil {
			t.Error("inserting a value twice succeeded inside the Together")
		}
		return d.insert(ctx, "c")
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := seen(t, d.db), []string{"a", "c"}; !slices.Equal(got, want) {
		t.Fatalf("the table holds %v, want %v (the failed write's b undone)", got, want)
	}
}

// TestTogetherNests: a Together inside another is a part of it: its
// failure undoes its writes alone, and nothing commits before the outer
// one returns.
func TestTogetherNests(t *testing.T) {
	d := newTogetherDB(t)
	boom := errors.New("boom")
	err := sqlitedb.Together(t.Context(), d.db, func(ctx context.Context) error {
		if err := sqlitedb.Together(ctx, d.db, func(ctx context.Context) error { return d.insert(ctx, "a") }); err != nil {
			return err
		}
		if err := sqlitedb.Together(ctx, d.db, func(ctx context.Context) error {
			if err := d.insert(ctx, "b"); err != nil {
				return err
			}
			return boom
		}); !errors.Is(err, boom) {
			t.Errorf("the failing inner Together = %v, want its error", err)
		}
		if got := seen(t, d.other); len(got) != 0 {
			t.Errorf("before the outer Together returned, another handle read %v", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := seen(t, d.other), []string{"a"}; !slices.Equal(got, want) {
		t.Fatalf("the table holds %v, want %v", got, want)
	}
}

// TestAfterCommitRunsOnceTheWritesAreVisible: inside a Together,
// AfterCommit's functions run in order once it has committed, when
// another handle reads its writes, and never when it fails; outside one
// at once.
func TestAfterCommitRunsOnceTheWritesAreVisible(t *testing.T) {
	d := newTogetherDB(t)
	var ran []string
	sqlitedb.AfterCommit(t.Context(), d.db, func() { ran = append(ran, "outside") })
	if !slices.Equal(ran, []string{"outside"}) {
		t.Fatalf("outside a Together, AfterCommit ran %v, want at once", ran)
	}

	ran = nil
	err := sqlitedb.Together(t.Context(), d.db, func(ctx context.Context) error {
		if err := d.insert(ctx, "a"); err != nil {
			return err
		}
		for _, name := range []string{"first", "second"} {
			sqlitedb.AfterCommit(ctx, d.db, func() {
				ran = append(ran, name)
				if got := seen(t, d.other); !slices.Equal(got, []string{"a"}) {
					t.Errorf("AfterCommit's %s ran when another handle read %v, want the commit's [a]", name, got)
				}
			})
		}
		if len(ran) != 0 {
			t.Errorf("AfterCommit ran %v inside the Together", ran)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ran, []string{"first", "second"}) {
		t.Fatalf("after the commit, AfterCommit ran %v, want [first second]", ran)
	}

	ran = nil
	_ = sqlitedb.Together(t.Context(), d.db, func(ctx context.Context) error {
		sqlitedb.AfterCommit(ctx, d.db, func() { ran = append(ran, "rolled back") })
		return errors.New("boom")
	})
	if len(ran) != 0 {
		t.Fatalf("a failed Together ran AfterCommit's %v", ran)
	}
}

// TestTogetherIsOfOneDatabase: writes to another database inside a
// Together are their own, committed at once.
func TestTogetherIsOfOneDatabase(t *testing.T) {
	d, e := newTogetherDB(t), newTogetherDB(t)
	err := sqlitedb.Together(t.Context(), d.db, func(ctx context.Context) error {
		if err := e.insert(ctx, "elsewhere"); err != nil {
			return err
		}
		if got := seen(t, e.other); !slices.Equal(got, []string{"elsewhere"}) {
			t.Errorf("a write to another database inside a Together: its other handle reads %v, want it committed", got)
		}
		return errors.New("boom")
	})
	if err == nil {
		t.Fatal("Together succeeded, want the function's error")
	}
	if got := seen(t, e.db); !slices.Equal(got, []string{"elsewhere"}) {
		t.Fatalf("the other database holds %v after the Together failed, want its own write kept", got)
	}
}

// TestTogetherKeepsItsStatementsPrepared: the statements run inside
// Togethers, through a Querier with no transaction of its own or a
// Stmts' Tx (with its savepoint's), run as text the first times and are
// kept prepared once they are hot, as outside one, even when the
// context of the write that ran them was over before the commit.
func TestTogetherKeepsItsStatementsPrepared(t *testing.T) {
	d := newTogetherDB(t)
	for i := range 3 {
		err := sqlitedb.Together(t.Context(), d.db, func(ctx context.Context) error {
			wctx, cancel := context.WithCancel(ctx)
			_, err := d.stmts.On(nil).ExecContext(wctx, `INSERT INTO t (v) VALUES (?)`, fmt.Sprintf("on nil %d", i))
			cancel()
			if err != nil {
				return err
			}
			wctx, cancel = context.WithCancel(ctx)
			defer cancel()
			return d.stmts.Tx(wctx, func(tx *sql.Tx) error {
				_, err := d.stmts.On(tx).ExecContext(wctx, `INSERT INTO t (v) VALUES (?) ON CONFLICT DO NOTHING`, fmt.Sprintf("in tx %d", i))
				return err
			})
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The two inserts, SAVEPOINT and RELEASE.
	if got := sqlitedb.Kept(d.stmts); got != 4 {
		t.Fatalf("%d statements kept after three Togethers, want 4", got)
	}
}

// TestTogetherUndoesAWriteWhoseContextEnded: a write that fails because
// its own context ended (a timeout of its caller's) is still undone
// whole inside a Together, and the Together's other writes commit.
func TestTogetherUndoesAWriteWhoseContextEnded(t *testing.T) {
	d := newTogetherDB(t)
	err := sqlitedb.Together(t.Context(), d.db, func(ctx context.Context) error {
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		err := d.stmts.Tx(wctx, func(tx *sql.Tx) error {
			if _, err := d.stmts.On(tx).ExecContext(wctx, `INSERT INTO t (v) VALUES ('b')`); err != nil {
				return err
			}
			cancel()
			_, err := d.stmts.On(tx).ExecContext(wctx, `INSERT INTO t (v) VALUES ('never')`)
			return err
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the write whose context ended = %v, want context.Canceled", err)
		}
		return d.insert(ctx, "c")
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := seen(t, d.db), []string{"c"}; !slices.Equal(got, want) {
		t.Fatalf("the table holds %v, want %v (the write whose context ended undone)", got, want)
	}
}

// TestTogetherWhoseTransactionIsLostWritesNothingMore: once SQLite has
// rolled the transaction of a Together back itself (as it does when a
// write in it is interrupted), the writes that would follow fail instead
// of being committed one by one, and the Together fails.
func TestTogetherWhoseTransactionIsLostWritesNothingMore(t *testing.T) {
	d := newTogetherDB(t)
	err := sqlitedb.Together(t.Context(), d.db, func(ctx context.Context) error {
		if err := d.insert(ctx, "a"); err != nil {
			return err
		}
		err := d.stmts.Tx(ctx, func(tx *sql.Tx) error {
			// What SQLite does to a transaction whose write it interrupts.
			if _, err := tx.ExecContext(ctx, `ROLLBACK`); err != nil {
				t.Fatal(err)
			}
			return errors.New("interrupted")
		})
		if err == nil {
			t.Error("the interrupted write succeeded")
		}
		if err := d.insert(ctx, "b"); err == nil {
			t.Error("a write after the transaction was lost succeeded")
		}
		if _, err := d.stmts.On(nil).ExecContext(ctx, `INSERT INTO t (v) VALUES ('c')`); err == nil {
			t.Error("a write through a Querier after the transaction was lost succeeded")
		}
		if _, err := sqlitedb.Exec(ctx, d.db, `INSERT INTO t (v) VALUES ('d')`); err == nil {
			t.Error("an Exec after the transaction was lost succeeded")
		}
		return nil // as a caller that logs its writes' failures and goes on
	})
	if err == nil {
		t.Fatal("a Together whose transaction was lost succeeded")
	}
	if got := seen(t, d.other); len(got) != 0 {
		t.Fatalf("the table holds %v, want nothing", got)
	}
}
