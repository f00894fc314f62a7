// Package sqlitedbtest helps tests of the state database stand in for
// other processes.
package sqlitedbtest

import (
	"sync"
	"testing"

	"github.com/deployerhq/deployer/internal/sqlitedb"
)

// HoldWriteLock has a handle of its own on the state directory dir's
// database, as another process has, take the write lock (BEGIN
// IMMEDIATE) and hold it until release is called or the test ends. The
// database must exist.
func HoldWriteLock(t testing.TB, dir string) (release func()) {
	t.Helper()
	db, err := sqlitedb.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		_ = db.Close()
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			_ = tx.Rollback()
			_ = db.Close()
		})
	}
	t.Cleanup(release)
	return release
}
