package sqlstore

import (
	"context"
	"fmt"
	"time"

	"tripcast"
)

// TryLease takes or renews the lease name for holder until now+ttl and
// reports whether holder has it: it does when nobody holds it, when its
// previous holder's lease expired, or when holder already holds it
// (renewal). One statement (INSERT … ON CONFLICT (name) DO UPDATE … WHERE
// leases.holder = excluded.holder OR leases.expires_at <= now), so two
// processes racing for it never both get it.
//
// A lease is valid while now < expires_at; "now" is the calling process's
// clock, so ttl must be much longer than the clock skew between processes,
// and a holder should renew well before ttl runs out and stop its job when
// a renewal reports false. The lease's acquired_at is kept on renewal and
// set anew when a holder takes it, including a holder retaking its own
// expired lease. A ttl under a microsecond (the stored precision) gives a
// lease that expires at once.
func (db *DB) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if err := validLease(name, holder); err != nil {
		return false, err
	}
	if ttl <= 0 {
		return false, tripcast.FieldError("ttl", "must be positive, got %v", ttl)
	}
	now := db.now()
	nowUS, expiresUS := micros(now), micros(now.Add(ttl))
	res, err := db.plain().exec(ctx, `INSERT INTO leases (name, holder, expires_at, acquired_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET
			holder = excluded.holder,
			expires_at = excluded.expires_at,
			acquired_at = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > ?
				THEN leases.acquired_at ELSE excluded.acquired_at END
		WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`,
		name, holder, expiresUS, nowUS, nowUS, nowUS)
	if err != nil {
		return false, fmt.Errorf("try lease %q for %q: %w", name, holder, err)
	}
	// 1: inserted or updated; 0: the DO UPDATE's WHERE was false (another
	// holder's valid lease), on both engines.
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("try lease %q for %q: rows affected: %w", name, holder, err)
	}
	return n == 1, nil
}

// ReleaseLease gives up holder's lease name (a no-op when holder does not
// hold it), so another process may take it at once.
func (db *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	if err := validLease(name, holder); err != nil {
		return err
	}
	if _, err := db.plain().exec(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder); err != nil {
		return fmt.Errorf("release lease %q for %q: %w", name, holder, err)
	}
	return nil
}

// validLease checks the lease name and holder arguments.
func validLease(name, holder string) error {
	if name == "" {
		return tripcast.FieldError("lease", "must not be empty")
	}
	if holder == "" {
		return tripcast.FieldError("holder", "must not be empty")
	}
	return nil
}
