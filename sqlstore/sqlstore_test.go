package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"tripcast"
	"tripcast/sqlstore"
	"tripcast/sqlstore/sqlstoretest"
)

type engine = sqlstoretest.Engine

var (
	engines       = sqlstoretest.Engines
	forEachEngine = sqlstoretest.ForEach
	MustOpenDB    = sqlstoretest.MustOpen
)

// mustCode fails unless err carries the tripcast error code want.
func mustCode(t testing.TB, err error, want string) {
	t.Helper()
	if got := tripcast.ErrorCode(err); got != want {
		t.Fatalf("got error code %q (%v), want %q", got, err, want)
	}
}

// mustRun creates experiment exp (if needed) and a RUNNING run id in it.
func mustRun(t testing.TB, db *sqlstore.DB, exp, id, parent string) *tripcast.Run {
	t.Helper()
	ctx := context.Background()
	if _, err := db.GetExperimentByName(ctx, exp); tripcast.ErrorCode(err) == tripcast.ENOTFOUND {
		if _, err := db.CreateExperiment(ctx, exp); err != nil {
			t.Fatalf("create experiment: %v", err)
		}
	}
	r := &tripcast.Run{ID: id, Experiment: exp, Name: "run " + id, Status: tripcast.RunRunning,
		StartTime: time.Now().UTC().Truncate(time.Microsecond), ParentID: parent}
	if err := db.CreateRun(ctx, r); err != nil {
		t.Fatalf("create run %s: %v", id, err)
	}
	return r
}

func TestOpen(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		t.Run("OK", func(t *testing.T) {
			url := e.Fresh(t)
			// Several processes starting at once: migrations run once.
			errs := make(chan error, 3)
			for range 3 {
				go func() {
					db, err := sqlstore.Open(context.Background(), url, nil)
					if err == nil {
						err = db.Close()
					}
					errs <- err
				}()
			}
			for range 3 {
				if err := <-errs; err != nil {
					t.Fatalf("concurrent open: %v", err)
				}
			}
			db := MustOpenDB(t, url) // re-open: nothing to apply
			if got := db.Engine(); got != e.Name {
				t.Errorf("got engine %q, want %q", got, e.Name)
			}
			// The schema is usable.
			mustRun(t, db, "exp", "r1", "")
		})
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, u := range []string{"mysql://x/y", "sqlite://", "::nope"} {
			_, err := sqlstore.Open(context.Background(), u, nil)
			mustCode(t, err, tripcast.EINVALID)
		}
	})
	t.Run("ErrUnavailable", func(t *testing.T) {
		_, err := sqlstore.Open(context.Background(), "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", nil)
		mustCode(t, err, tripcast.EUNAVAILABLE)
	})
}

func TestCheckpoints(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		db := MustOpenDB(t, e.Fresh(t))
		ctx := context.Background()
		t.Run("OK", func(t *testing.T) {
			if got, err := db.GetCheckpoint(ctx, "c", "rides", "shard-0"); err != nil || got != "" {
				t.Fatalf("got %q, %v, want \"\", nil", got, err)
			}
			for _, seq := range []string{"100", "205"} {
				if err := db.SetCheckpoint(ctx, "c", "rides", "shard-0", seq); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.SetCheckpoint(ctx, "c", "rides", "shard-1", "7"); err != nil {
				t.Fatal(err)
			}
			for shard, want := range map[string]string{"shard-0": "205", "shard-1": "7"} {
				if got, err := db.GetCheckpoint(ctx, "c", "rides", shard); err != nil || got != want {
					t.Errorf("%s: got %q, %v, want %q", shard, got, err, want)
				}
			}
			if got, _ := db.GetCheckpoint(ctx, "other", "rides", "shard-0"); got != "" {
				t.Errorf("other consumer: got %q, want \"\"", got)
			}
		})
	})
}
