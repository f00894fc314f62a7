package sqlitelane

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/deployerhq/deployer/internal/lane"
	"github.com/deployerhq/deployer/internal/sqlitedb"
)

var schema = []string{
	`CREATE TABLE IF NOT EXISTS lane_leases (
		lane       TEXT NOT NULL,
		holder     TEXT NOT NULL,
		expires_ms INTEGER NOT NULL,
		PRIMARY KEY (lane, holder)
	)`,
}

// Options tunes the adapter. The zero value is ready to use.
type Options struct {
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
}

// Limiter is the SQLite lane adapter.
type Limiter struct {
	db  *sql.DB
	now func() time.Time
	// stmts holds the statements of the leases, taken, renewed, handed
	// on and given back for every job.
	stmts *sqlitedb.Stmts
}

var _ lane.Limiter = (*Limiter)(nil)

// New returns the adapter over db, creating its table if needed.
func New(db *sql.DB, opts Options) (*Limiter, error) {
	if db == nil {
		return nil, errors.New("sqlitelane: no database")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := sqlitedb.Migrate(context.Background(), db, schema...); err != nil {
		return nil, fmt.Errorf("sqlitelane: %w", err)
	}
	return &Limiter{db: db, now: opts.Now, stmts: sqlitedb.NewStmts(db)}, nil
}

func check(ln, holder string, ttl time.Duration) error {
	switch {
	case ln == "":
		return errors.New("no lane")
	case holder == "":
		return errors.New("no holder")
	case ttl <= 0:
		return fmt.Errorf("ttl %s is not positive", ttl)
	}
	return nil
}

// Acquire takes one of the lane's limit slots for holder until now+ttl,
// or renews the holder's unexpired lease. It reports false when the lane
// is full. A limit below 1 is an error.
func (l *Limiter) Acquire(ctx context.Context, ln string, limit int, holder string, ttl time.Duration) (bool, error) {
	if err := check(ln, holder, ttl); err != nil {
		return false, fmt.Errorf("acquiring lane %q: %w", ln, err)
	}
	if limit < 1 {
		return false, fmt.Errorf("acquiring lane %q: limit %d is below 1", ln, limit)
	}
	var ok bool
	err := l.stmts.Tx(ctx, func(tx *sql.Tx) error {
		in := l.stmts.On(tx)
		now := l.now()
		if _, err := in.ExecContext(ctx, `DELETE FROM lane_leases WHERE lane = ? AND expires_ms <= ?`,
			ln, now.UnixMilli()); err != nil {
			return err
		}
		expires := now.Add(ttl).UnixMilli()
		res, err := in.ExecContext(ctx, `UPDATE lane_leases SET expires_ms = ? WHERE lane = ? AND holder = ?`,
			expires, ln, holder)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			ok = n > 0
			return err
		}
		var held int
		if err := in.QueryRowContext(ctx, `SELECT count(*) FROM lane_leases WHERE lane = ?`, ln).Scan(&held); err != nil {
			return err
		}
		if held >= limit {
			return nil
		}
		if _, err := in.ExecContext(ctx, `INSERT INTO lane_leases (lane, holder, expires_ms) VALUES (?, ?, ?)`,
			ln, holder, expires); err != nil {
			return err
		}
		ok = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("acquiring lane %q for %s: %w", ln, holder, err)
	}
	return ok, nil
}

// Renew extends the holder's unexpired lease to now+ttl;
// lane.ErrNotHeld when it has none.
func (l *Limiter) Renew(ctx context.Context, ln, holder string, ttl time.Duration) error {
	if err := check(ln, holder, ttl); err != nil {
		return fmt.Errorf("renewing lane %q lease: %w", ln, err)
	}
	now := l.now()
	res, err := l.stmts.On(nil).ExecContext(ctx, `UPDATE lane_leases SET expires_ms = ?
		WHERE lane = ? AND holder = ? AND expires_ms > ?`,
		now.Add(ttl).UnixMilli(), ln, holder, now.UnixMilli())
	if err != nil {
		return fmt.Errorf("renewing lane %q lease of %s: %w", ln, holder, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("renewing lane %q lease of %s: %w", ln, holder, err)
	}
	if n == 0 {
		return fmt.Errorf("renewing lane %q lease of %s: %w", ln, holder, lane.ErrNotHeld)
	}
	return nil
}

// Release gives the holder's slot back; releasing a lease not held is a
// no-op.
func (l *Limiter) Release(ctx context.Context, ln, holder string) error {
	if _, err := l.stmts.On(nil).ExecContext(ctx, `DELETE FROM lane_leases WHERE lane = ? AND holder = ?`, ln, holder); err != nil {
		return fmt.Errorf("releasing lane %q lease of %s: %w", ln, holder, err)
	}
	return nil
}

// Transfer hands from's live lease to holder to until now+ttl, in one
// write transaction, so the lane's count never changes; when to holds a
// live lease already, from's is deleted and to's renewed.
// lane.ErrNotHeld when from holds no live lease.
func (l *Limiter) Transfer(ctx context.Context, ln, from, to string, ttl time.Duration) error {
	if err := errors.Join(check(ln, from, ttl), check(ln, to, ttl)); err != nil {
		return fmt.Errorf("transferring lane %q lease: %w", ln, err)
	}
	err := l.stmts.Tx(ctx, func(tx *sql.Tx) error {
		in := l.stmts.On(tx)
		now := l.now()
		nowMs, expires := now.UnixMilli(), now.Add(ttl).UnixMilli()
		var held bool
		if err := in.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM lane_leases
			WHERE lane = ? AND holder = ? AND expires_ms > ?)`, ln, from, nowMs).Scan(&held); err != nil {
			return err
		}
		if !held {
			return lane.ErrNotHeld
		}
		// An expired lease of to is no lease: clear it so that the
		// rename below cannot collide with it.
		if _, err := in.ExecContext(ctx, `DELETE FROM lane_leases WHERE lane = ? AND holder = ? AND expires_ms <= ?`,
			ln, to, nowMs); err != nil {
			return err
		}
		res, err := in.ExecContext(ctx, `UPDATE lane_leases SET expires_ms = ? WHERE lane = ? AND holder = ?`,
			expires, ln, to)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n > 0 {
			if from == to {
				return nil
			}
			_, err := in.ExecContext(ctx, `DELETE FROM lane_leases WHERE lane = ? AND holder = ?`, ln, from)
			return err
		}
		_, err = in.ExecContext(ctx, `UPDATE lane_leases SET holder = ?, expires_ms = ? WHERE lane = ? AND holder = ?`,
			to, expires, ln, from)
		return err
	})
	if err != nil {
		return fmt.Errorf("transferring lane %q lease of %s to %s: %w", ln, from, to, err)
	}
	return nil
}

// Leases lists the lane's live leases, by holder.
func (l *Limiter) Leases(ctx context.Context, ln string) ([]lane.Lease, error) {
	rows, err := l.db.QueryContext(ctx, `SELECT holder, expires_ms FROM lane_leases
		WHERE lane = ? AND expires_ms > ? ORDER BY holder`, ln, l.now().UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("listing lane %q leases: %w", ln, err)
	}
	defer func() { _ = rows.Close() }()
	var out []lane.Lease
	for rows.Next() {
		var ls lane.Lease
		var ms int64
		if err := rows.Scan(&ls.Holder, &ms); err != nil {
			return nil, fmt.Errorf("listing lane %q leases: %w", ln, err)
		}
		ls.Expires = time.UnixMilli(ms)
		out = append(out, ls)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing lane %q leases: %w", ln, err)
	}
	return out, nil
}
