package tripcast

import (
	"context"
	"time"
)

// Leaser grants a named lease to one holder at a time, until it expires, so
// that of the processes sharing a metadata database only one runs a
// singleton job at a time (the prediction log's compactor, a pipeline's
// scheduler). *sqlstore.DB implements it on SQLite and PostgreSQL.
//
// A lease is held while the leaser's clock is before its expiry; a holder
// renews it (TryLease again) well before ttl runs out and stops its job
// when a renewal reports false.
type Leaser interface {
	// TryLease takes or renews name for holder until ttl from now and
	// reports whether holder has it: it does when nobody holds it, when
	// the previous holder's lease expired, or when holder holds it already.
	// Two holders racing for it never both get it. EINVALID when name or
	// holder is empty or ttl is not positive; any other error means the
	// leaser could not be asked (treat the lease as not held).
	TryLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// ReleaseLease gives name up if holder has it (a no-op otherwise), so
	// that another holder may take it at once. EINVALID when name or
	// holder is empty.
	ReleaseLease(ctx context.Context, name, holder string) error
}
