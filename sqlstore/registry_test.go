package sqlstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"tripcast"
	"tripcast/sqlstore"
)

const model = "ride_duration_prediction_model"

// mustVersion registers a version of model and returns it.
func mustVersion(t testing.TB, db *sqlstore.DB, runID string) *tripcast.ModelVersion {
	t.Helper()
	v := &tripcast.ModelVersion{Name: model, RunID: runID, ArtifactURI: "file:///a/model.json", ArtifactKey: "artifacts/x/model.json",
		SHA256: "00ff", Size: 3}
	if err := db.CreateVersion(context.Background(), v); err != nil {
		t.Fatalf("create version: %v", err)
	}
	return v
}

func TestRegistry(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		db := MustOpenDB(t, e.Fresh(t))
		ctx := context.Background()
		mustRun(t, db, "exp", "run1", "")

		t.Run("OK", func(t *testing.T) {
			for range 2 { // if missing: the second call is a no-op
				if err := db.CreateRegisteredModel(ctx, model); err != nil {
					t.Fatal(err)
				}
			}
			created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			v1 := &tripcast.ModelVersion{Name: model, RunID: "run1", ArtifactURI: "file:///blobs/artifacts/run1/model.json",
				ArtifactKey: "artifacts/run1/model.json", SHA256: "abcd", Size: 1234,
				FeatureSpec: json.RawMessage(`{"version":1,"features":["PU_DO","trip_distance"]}`),
				Metrics:     map[string]float64{"valid_rmse": 6.1}, Description: "first", CreatedAt: created}
			if err := db.CreateVersion(ctx, v1); err != nil {
				t.Fatal(err)
			}
			if v1.Version != 1 {
				t.Fatalf("got version %d, want 1", v1.Version)
			}
			v2 := mustVersion(t, db, "")
			v3 := mustVersion(t, db, "run1")
			if v2.Version != 2 || v3.Version != 3 || v2.CreatedAt.IsZero() {
				t.Fatalf("got versions %d, %d (created %v), want 2, 3", v2.Version, v3.Version, v2.CreatedAt)
			}
			got, err := db.GetVersion(ctx, model, 1)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, v1) {
				t.Errorf("got\n%+v\nwant\n%+v", got, v1)
			}

			// champion: 1, then 2, then 3; challenger: 3.
			steps := []struct {
				alias   string
				version int
			}{{"champion", 1}, {"champion", 2}, {"champion", 3}, {"challenger", 3}}
			for _, s := range steps {
				if _, err := db.SetAlias(ctx, model, s.alias, s.version, "promote", "alice"); err != nil {
					t.Fatal(err)
				}
			}
			if v, err := db.GetAlias(ctx, model, "champion"); err != nil || v != 3 {
				t.Fatalf("got champion %d, %v, want 3", v, err)
			}
			versions, err := db.ListVersions(ctx, model)
			if err != nil {
				t.Fatal(err)
			}
			var aliases [][]string
			for _, v := range versions {
				aliases = append(aliases, v.Aliases)
			}
			if want := [][]string{nil, nil, {"challenger", "champion"}}; !reflect.DeepEqual(aliases, want) {
				t.Errorf("got aliases %v, want %v", aliases, want)
			}

			// Rollback pops: 3 → 2 → 1, then nothing is left.
			for _, want := range []int{2, 1} {
				m, err := db.Rollback(ctx, model, "champion", "bad model", "bob")
				if err != nil {
					t.Fatal(err)
				}
				if m.To != want || !m.Rollback || m.Actor != "bob" {
					t.Errorf("got move %+v, want rollback to %d by bob", m, want)
				}
			}
			_, err = db.Rollback(ctx, model, "champion", "again", "bob")
			mustCode(t, err, tripcast.ECONFLICT)

			hist, err := db.AliasHistory(ctx, model, "champion")
			if err != nil {
				t.Fatal(err)
			}
			var moves []string
			for _, m := range hist {
				moves = append(moves, fmt.Sprintf("%d>%d %v %s", m.From, m.To, m.Rollback, m.Actor))
			}
			want := []string{"0>1 false alice", "1>2 false alice", "2>3 false alice", "3>2 true bob", "2>1 true bob"}
			if !reflect.DeepEqual(moves, want) {
				t.Errorf("got history %v, want %v", moves, want)
			}
			all, _ := db.AliasHistory(ctx, model, "")
			if len(all) != 6 || all[3].Alias != "challenger" {
				t.Errorf("got %d moves (4th %+v), want 6 with challenger 4th", len(all), all[3])
			}
		})

		t.Run("ErrNotFound", func(t *testing.T) {
			err := db.CreateVersion(ctx, &tripcast.ModelVersion{Name: "nope"})
			mustCode(t, err, tripcast.ENOTFOUND)
			err = db.CreateVersion(ctx, &tripcast.ModelVersion{Name: model, RunID: "no-such-run"})
			mustCode(t, err, tripcast.ENOTFOUND)
			_, err = db.GetVersion(ctx, model, 99)
			mustCode(t, err, tripcast.ENOTFOUND)
			_, err = db.ListVersions(ctx, "nope")
			mustCode(t, err, tripcast.ENOTFOUND)
			_, err = db.SetAlias(ctx, model, "champion", 99, "r", "a")
			mustCode(t, err, tripcast.ENOTFOUND)
			_, err = db.SetAlias(ctx, "nope", "champion", 1, "r", "a")
			mustCode(t, err, tripcast.ENOTFOUND)
			_, err = db.GetAlias(ctx, model, "staging")
			mustCode(t, err, tripcast.ENOTFOUND)
			_, err = db.Rollback(ctx, model, "staging", "r", "a")
			mustCode(t, err, tripcast.ENOTFOUND)
		})
		t.Run("ErrConflict", func(t *testing.T) {
			_, err := db.SetAlias(ctx, model, "challenger", 3, "again", "a")
			mustCode(t, err, tripcast.ECONFLICT)
		})
		t.Run("CompareAndSet", func(t *testing.T) {
			// challenger is at 3, staging is not set.
			if m, err := db.CompareAndSetAlias(ctx, model, "challenger", 3, 2, "cas", "a"); err != nil || m.From != 3 || m.To != 2 {
				t.Fatalf("got %+v, %v, want 3 → 2", m, err)
			}
			_, err := db.CompareAndSetAlias(ctx, model, "challenger", 3, 1, "stale", "a")
			mustCode(t, err, tripcast.ECONFLICT)
			if m, err := db.CompareAndSetAlias(ctx, model, "staging", 0, 1, "cas", "a"); err != nil || m.From != 0 {
				t.Fatalf("got %+v, %v, want 0 → 1", m, err)
			}
			_, err = db.CompareAndSetAlias(ctx, model, "staging", 0, 2, "stale", "a")
			mustCode(t, err, tripcast.ECONFLICT)
			if v, _ := db.GetAlias(ctx, model, "challenger"); v != 2 {
				t.Errorf("got challenger %d, want 2", v)
			}
		})
		t.Run("ErrInvalid", func(t *testing.T) {
			_, err := db.CompareAndSetAlias(ctx, model, "champion", -1, 1, "r", "a")
			mustCode(t, err, tripcast.EINVALID)
			mustCode(t, db.CreateRegisteredModel(ctx, ""), tripcast.EINVALID)
			_, err = db.SetAlias(ctx, model, "", 1, "r", "a")
			mustCode(t, err, tripcast.EINVALID)
		})
	})
}

// TestRegistryConcurrent has two handles (two processes) with two
// goroutines each creating versions and promoting them, with rollbacks in
// between: no version is lost or numbered twice, and every move of the
// alias starts where the previous one ended.
func TestRegistryConcurrent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		url := e.Fresh(t)
		dbs := []*sqlstore.DB{MustOpenDB(t, url), MustOpenDB(t, url)}
		ctx := context.Background()
		if err := dbs[0].CreateRegisteredModel(ctx, model); err != nil {
			t.Fatal(err)
		}
		const workers, perWorker = 4, 10
		var mu sync.Mutex
		var numbers []int
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			db := dbs[w%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range perWorker {
					v := &tripcast.ModelVersion{Name: model, ArtifactKey: fmt.Sprintf("w%d/%d", w, i), SHA256: "x"}
					if err := db.CreateVersion(ctx, v); err != nil {
						errs <- err
						return
					}
					mu.Lock()
					numbers = append(numbers, v.Version)
					mu.Unlock()
					if _, err := db.SetAlias(ctx, model, "champion", v.Version, fmt.Sprintf("w%d", w), "test"); err != nil {
						errs <- err
						return
					}
					if i%3 == 2 {
						_, err := db.Rollback(ctx, model, "champion", "rb", "test")
						if err != nil && tripcast.ErrorCode(err) != tripcast.ECONFLICT {
							errs <- err
							return
						}
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}

		sort.Ints(numbers)
		for i, n := range numbers {
			if n != i+1 {
				t.Fatalf("got version numbers %v, want 1..%d each once", numbers, workers*perWorker)
			}
		}
		versions, err := dbs[1].ListVersions(ctx, model)
		if err != nil {
			t.Fatal(err)
		}
		if len(versions) != workers*perWorker {
			t.Fatalf("got %d stored versions, want %d", len(versions), workers*perWorker)
		}
		hist, err := dbs[1].AliasHistory(ctx, model, "champion")
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) < workers*perWorker {
			t.Fatalf("got %d moves, want at least %d", len(hist), workers*perWorker)
		}
		prev := 0
		for i, m := range hist {
			if m.From != prev {
				t.Fatalf("move %d: got from %d, want %d (the previous move's to)", i, m.From, prev)
			}
			prev = m.To
		}
		if cur, err := dbs[0].GetAlias(ctx, model, "champion"); err != nil || cur != prev {
			t.Errorf("got champion %d, %v, want %d (the last move's to)", cur, err, prev)
		}
	})
}
