package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"tripcast"
	"tripcast/sqlstore"
)

// leaseTTL is long enough never to run out during a test.
const leaseTTL = time.Hour

// shortTTL runs out during a test; tests wait out shortWait (longer) to
// see a lease expire, and never assert how long anything took.
const (
	shortTTL  = 200 * time.Millisecond
	shortWait = 300 * time.Millisecond
)

// leaseRow is a leases row, read beside the store.
type leaseRow struct {
	holder                string
	expiresAt, acquiredAt int64
}

// openRaw opens url's database directly (the drivers sqlstore registers),
// closed when the test ends, to look at rows the API does not return.
func openRaw(t *testing.T, url string) *sql.DB {
	t.Helper()
	driver, dsn := "pgx", url
	if path, ok := strings.CutPrefix(url, "sqlite://"); ok {
		driver, dsn = "sqlite", "file:"+path
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

// mustLeaseRow returns the lease's row; ok is false when there is none.
func mustLeaseRow(t *testing.T, raw *sql.DB, name string) (r leaseRow, ok bool) {
	t.Helper()
	err := raw.QueryRow(`SELECT holder, expires_at, acquired_at FROM leases WHERE name = '`+name+`'`).
		Scan(&r.holder, &r.expiresAt, &r.acquiredAt)
	if err == sql.ErrNoRows {
		return r, false
	} else if err != nil {
		t.Fatalf("read lease %s: %v", name, err)
	}
	return r, true
}

// mustTry fails unless TryLease succeeds and reports want.
func mustTry(t *testing.T, db *sqlstore.DB, name, holder string, ttl time.Duration, want bool) {
	t.Helper()
	got, err := db.TryLease(context.Background(), name, holder, ttl)
	if err != nil {
		t.Fatalf("TryLease(%s, %s): %v", name, holder, err)
	}
	if got != want {
		t.Fatalf("TryLease(%s, %s): got %v, want %v", name, holder, got, want)
	}
}

// mustRelease fails unless ReleaseLease succeeds.
func mustRelease(t *testing.T, db *sqlstore.DB, name, holder string) {
	t.Helper()
	if err := db.ReleaseLease(context.Background(), name, holder); err != nil {
		t.Fatalf("ReleaseLease(%s, %s): %v", name, holder, err)
	}
}

func TestLease(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		url := e.Fresh(t)
		db := MustOpenDB(t, url)
		raw := openRaw(t, url)
		ctx := context.Background()

		t.Run("OK", func(t *testing.T) {
			mustTry(t, db, "compact", "a", leaseTTL, true)
			first, ok := mustLeaseRow(t, raw, "compact")
			if !ok || first.holder != "a" || first.expiresAt <= first.acquiredAt {
				t.Fatalf("after a took it: got %+v (found %v), want holder a, expires_at > acquired_at", first, ok)
			}
			// Valid: another holder is refused and changes nothing.
			mustTry(t, db, "compact", "b", leaseTTL, false)
			if got, _ := mustLeaseRow(t, raw, "compact"); got != first {
				t.Errorf("after b was refused: got %+v, want %+v", got, first)
			}
			// Renewal: a still holds it, expiry moves, acquired_at stays.
			mustTry(t, db, "compact", "a", 2*leaseTTL, true)
			renewed, _ := mustLeaseRow(t, raw, "compact")
			if renewed.holder != "a" || renewed.expiresAt <= first.expiresAt || renewed.acquiredAt != first.acquiredAt {
				t.Errorf("after renewal: got %+v, want holder a, expires_at > %d, acquired_at %d",
					renewed, first.expiresAt, first.acquiredAt)
			}
			// Another name is another lease.
			mustTry(t, db, "other", "b", leaseTTL, true)
		})

		t.Run("RenewOutlivesTTL", func(t *testing.T) {
			// A renewal with a long ttl keeps the lease past the first one.
			mustTry(t, db, "renew", "a", shortTTL, true)
			mustTry(t, db, "renew", "a", leaseTTL, true)
			time.Sleep(shortWait)
			mustTry(t, db, "renew", "b", leaseTTL, false)
		})

		t.Run("Expired", func(t *testing.T) {
			mustTry(t, db, "expire", "a", shortTTL, true)
			first, _ := mustLeaseRow(t, raw, "expire")
			time.Sleep(shortWait)
			// b takes the expired lease; then a is refused.
			mustTry(t, db, "expire", "b", leaseTTL, true)
			mustTry(t, db, "expire", "a", leaseTTL, false)
			got, _ := mustLeaseRow(t, raw, "expire")
			if got.holder != "b" || got.acquiredAt <= first.acquiredAt {
				t.Errorf("after b took it: got %+v, want holder b, acquired_at > %d", got, first.acquiredAt)
			}
			// A holder retaking its own expired lease takes it anew.
			mustTry(t, db, "expire-own", "a", shortTTL, true)
			first, _ = mustLeaseRow(t, raw, "expire-own")
			time.Sleep(shortWait)
			mustTry(t, db, "expire-own", "a", leaseTTL, true)
			if got, _ := mustLeaseRow(t, raw, "expire-own"); got.holder != "a" || got.acquiredAt <= first.acquiredAt {
				t.Errorf("after a retook it: got %+v, want holder a, acquired_at > %d", got, first.acquiredAt)
			}
		})

		t.Run("Release", func(t *testing.T) {
			mustTry(t, db, "release", "a", leaseTTL, true)
			before, _ := mustLeaseRow(t, raw, "release")
			// By a non-holder: nothing changes.
			mustRelease(t, db, "release", "b")
			if got, _ := mustLeaseRow(t, raw, "release"); got != before {
				t.Errorf("after b released: got %+v, want %+v", got, before)
			}
			mustTry(t, db, "release", "b", leaseTTL, false)
			// By the holder: the other takes it at once.
			mustRelease(t, db, "release", "a")
			if got, ok := mustLeaseRow(t, raw, "release"); ok {
				t.Errorf("after a released: got %+v, want no row", got)
			}
			mustTry(t, db, "release", "b", leaseTTL, true)
			// Releasing again, or a lease nobody holds, is a no-op.
			mustRelease(t, db, "release", "a")
			mustTry(t, db, "release", "a", leaseTTL, false)
			mustRelease(t, db, "nobody", "a")
		})

		t.Run("ErrInvalid", func(t *testing.T) {
			for _, c := range []struct {
				name, holder string
				ttl          time.Duration
			}{{"", "a", leaseTTL}, {"x", "", leaseTTL}, {"x", "a", 0}, {"x", "a", -time.Second}} {
				got, err := db.TryLease(ctx, c.name, c.holder, c.ttl)
				mustCode(t, err, tripcast.EINVALID)
				if got {
					t.Errorf("TryLease(%q, %q, %v): got true with an error", c.name, c.holder, c.ttl)
				}
			}
			mustCode(t, db.ReleaseLease(ctx, "", "a"), tripcast.EINVALID)
			mustCode(t, db.ReleaseLease(ctx, "x", ""), tripcast.EINVALID)
			if _, ok := mustLeaseRow(t, raw, "x"); ok {
				t.Error("an invalid call stored a lease")
			}
		})

		// Racing holders, on one handle (goroutines of one process) and on
		// two (two processes), for a new lease and for an expired one:
		// exactly one wins each time.
		db2 := MustOpenDB(t, url)
		for _, c := range []struct {
			name string
			dbs  []*sqlstore.DB
		}{{"Race", []*sqlstore.DB{db}}, {"RaceTwoHandles", []*sqlstore.DB{db, db2}}} {
			t.Run(c.name, func(t *testing.T) {
				for round := range 5 {
					name := fmt.Sprintf("race-%s-%d", c.name, round)
					if w := raceLease(t, c.dbs, name); w == "" {
						t.Fatalf("round %d, new lease: no winner", round)
					}
					// Expire the winner's lease, then race for it again.
					mustTry(t, db, name+"-expired", "old", time.Millisecond, true)
					time.Sleep(10 * time.Millisecond)
					if w := raceLease(t, c.dbs, name+"-expired"); w == "" || w == "old" {
						t.Fatalf("round %d, expired lease: got winner %q", round, w)
					}
				}
			})
		}
	})
}

// raceLease has 8 holders call TryLease on name at once, spread over dbs,
// fails unless exactly one gets it, and returns the lease's holder.
func raceLease(t *testing.T, dbs []*sqlstore.DB, name string) string {
	t.Helper()
	const n = 8
	var (
		start = make(chan struct{})
		wg    sync.WaitGroup
		got   [n]bool
		errs  [n]error
	)
	for i := range n {
		wg.Go(func() {
			<-start
			got[i], errs[i] = dbs[i%len(dbs)].TryLease(context.Background(), name, fmt.Sprintf("h%d", i), leaseTTL)
		})
	}
	close(start)
	wg.Wait()
	winner := ""
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("holder h%d: %v", i, errs[i])
		}
		if got[i] {
			if winner != "" {
				t.Fatalf("%s: both %s and h%d got the lease", name, winner, i)
			}
			winner = fmt.Sprintf("h%d", i)
		}
	}
	if winner == "" {
		t.Fatalf("%s: nobody got the lease", name)
	}
	// The others are refused afterwards too.
	for i := range n {
		if h := fmt.Sprintf("h%d", i); h != winner {
			if ok, err := dbs[i%len(dbs)].TryLease(context.Background(), name, h, leaseTTL); err != nil || ok {
				t.Fatalf("%s: %s after the race: got %v, %v, want false", name, h, ok, err)
			}
		}
	}
	return winner
}
