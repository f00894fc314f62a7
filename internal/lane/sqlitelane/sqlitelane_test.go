package sqlitelane_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/deployerhq/deployer/internal/lane"
	"github.com/deployerhq/deployer/internal/lane/lanetest"
	"github.com/deployerhq/deployer/internal/lane/sqlitelane"
	"github.com/deployerhq/deployer/internal/sqlitedb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func openDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sqlitedb.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func newLimiter(t *testing.T, db *sql.DB, opts sqlitelane.Options) *sqlitelane.Limiter {
	t.Helper()
	l, err := sqlitelane.New(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestConformance(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "deployer.db"))
	lanetest.Run(t, func(t *testing.T) lane.Limiter { return newLimiter(t, db, sqlitelane.Options{}) })
}

// TestConformanceCrossHandle alternates between two database handles on
// one file, call by call, as several processes do.
func TestConformanceCrossHandle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "deployer.db")
	a := newLimiter(t, openDB(t, path), sqlitelane.Options{})
	b := newLimiter(t, openDB(t, path), sqlitelane.Options{})
	lanetest.Run(t, func(t *testing.T) lane.Limiter { return &alternate{l: [2]*sqlitelane.Limiter{a, b}} })
}

type alternate struct {
	l [2]*sqlitelane.Limiter
	n atomic.Uint64
}

func (a *alternate) next() *sqlitelane.Limiter { return a.l[a.n.Add(1)%2] }

func (a *alternate) Acquire(ctx context.Context, ln string, limit int, holder string, ttl time.Duration) (bool, error) {
	return a.next().Acquire(ctx, ln, limit, holder, ttl)
}

func (a *alternate) Renew(ctx context.Context, ln, holder string, ttl time.Duration) error {
	return a.next().Renew(ctx, ln, holder, ttl)
}

func (a *alternate) Release(ctx context.Context, ln, holder string) error {
	return a.next().Release(ctx, ln, holder)
}

func (a *alternate) Transfer(ctx context.Context, ln, from, to string, ttl time.Duration) error {
	return a.next().Transfer(ctx, ln, from, to, ttl)
}

func (a *alternate) Leases(ctx context.Context, ln string) ([]lane.Lease, error) {
	return a.next().Leases(ctx, ln)
}

func TestExpiryByClock(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(t, openDB(t, filepath.Join(t.TempDir(), "deployer.db")),
		sqlitelane.Options{Now: func() time.Time { return now }})
	ctx := t.Context()
	if ok, err := l.Acquire(ctx, "ami", 1, "a", time.Minute); err != nil || !ok {
		t.Fatalf("Acquire a = %v, %v", ok, err)
	}
	now = now.Add(59 * time.Second)
	if ok, err := l.Acquire(ctx, "ami", 1, "b", time.Minute); err != nil || ok {
		t.Fatalf("Acquire b before expiry = %v, %v; want false", ok, err)
	}
	now = now.Add(time.Second)
	if err := l.Renew(ctx, "ami", "a", time.Minute); !errors.Is(err, lane.ErrNotHeld) {
		t.Fatalf("Renew at expiry: %v, want lane.ErrNotHeld", err)
	}
	if ok, err := l.Acquire(ctx, "ami", 1, "b", time.Minute); err != nil || !ok {
		t.Fatalf("Acquire b at expiry = %v, %v; want true", ok, err)
	}
}

func TestAcquireRefusesBadArguments(t *testing.T) {
	l := newLimiter(t, openDB(t, filepath.Join(t.TempDir(), "deployer.db")), sqlitelane.Options{})
	for _, tc := range []struct {
		lane, holder string
		limit        int
		ttl          time.Duration
	}{
		{"", "h", 1, time.Minute},
		{"l", "", 1, time.Minute},
		{"l", "h", 0, time.Minute},
		{"l", "h", 1, 0},
	} {
		if _, err := l.Acquire(t.Context(), tc.lane, tc.limit, tc.holder, tc.ttl); err == nil {
			t.Errorf("Acquire(%+v) succeeded, want an error", tc)
		}
	}
}
