package sqlstore_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"tripcast"
	"tripcast/predlog/predlogtest"
)

// completion returns a completion of rideID lasting minutes.
func completion(rideID string, minutes float64) tripcast.Completion {
	return tripcast.Completion{RideCompleted: tripcast.RideCompleted{RideID: rideID, Duration: minutes,
		Dropoff: time.Date(2021, 2, 1, 8, 30, 0, 0, time.UTC)},
		ReceivedAt: predlogtest.T0.Add(time.Hour), Stream: tripcast.RideCompletedStream, StreamID: "1"}
}

type joinedRow struct {
	ride, version string
	prediction    float64
	actual        float64
}

func mustReadJoined(t *testing.T, r tripcast.GroundTruthReader, q tripcast.PredictionQuery) []joinedRow {
	t.Helper()
	var out []joinedRow
	var last time.Time
	err := r.ReadJoined(context.Background(), q, func(rec *tripcast.PredictionRecord, actual float64) error {
		if rec.PredictedAt.Before(last) {
			t.Errorf("ride %s predicted at %v comes after %v", rec.RideID, rec.PredictedAt, last)
		}
		last = rec.PredictedAt
		out = append(out, joinedRow{rec.RideID, rec.Version, rec.Prediction, actual})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestGroundTruth is the ground-truth conformance test of the SQL store on
// both engines: completions stored once per ride, joined at read time to
// every version's prediction, before or after the prediction is logged.
func TestGroundTruth(t *testing.T) {
	ctx := context.Background()
	forEachEngine(t, func(t *testing.T, e engine) {
		db := MustOpenDB(t, e.Fresh(t))
		recs := predlogtest.Records(12, time.Second)
		// ride-1 is also answered by version 9 (two versions, two rows).
		v9 := recs[1]
		v9.Version, v9.Prediction, v9.PredictedAt = "9", 30, recs[1].PredictedAt.Add(500*time.Millisecond)
		if err := db.PredictionLog().Log(ctx, append(slices.Clone(recs[:10]), v9)); err != nil {
			t.Fatal(err)
		}
		t.Run("OK", func(t *testing.T) {
			cs := []tripcast.Completion{
				completion("ride-1", 11), completion("ride-2", 12),
				completion("ride-1", 99), // a duplicate (other content): the first wins
				completion(recs[3].RideID, 13),
				completion("unknown-ride", 14),
				completion("ride-11", 15), // its prediction is logged after
			}
			cs[3].RideIDNumeric = true
			cs[4].Dropoff = time.Time{}
			added := make([]bool, len(cs))
			if err := db.AddCompletions(ctx, cs, added); err != nil {
				t.Fatal(err)
			}
			if want := []bool{true, true, false, true, true, true}; !slices.Equal(added, want) {
				t.Fatalf("added: got %v, want %v", added, want)
			}
			// The same completions again (a redelivered batch): nothing new.
			if err := db.AddCompletions(ctx, cs[:2], added[:2]); err != nil || added[0] || added[1] {
				t.Fatalf("again: got %v, %v, want no record added", added[:2], err)
			}
			found := make([]bool, 3)
			if err := db.PredictedRides(ctx, []string{"ride-2", "unknown-ride", "ride-11"}, found); err != nil {
				t.Fatal(err)
			}
			if want := []bool{true, false, false}; !slices.Equal(found, want) {
				t.Fatalf("predicted rides: got %v, want %v", found, want)
			}
			if got, err := db.GetCompletion(ctx, recs[3].RideID); err != nil || got != cs[3] {
				t.Fatalf("got %+v, %v, want %+v", got, err, cs[3])
			}
			if got, err := db.GetCompletion(ctx, "unknown-ride"); err != nil || got != cs[4] {
				t.Fatalf("got %+v, %v, want %+v", got, err, cs[4])
			}

			// The prediction of ride-11 arrives after its completion.
			if err := db.PredictionLog().Log(ctx, recs[11:]); err != nil {
				t.Fatal(err)
			}
			all := tripcast.PredictionQuery{From: predlogtest.T0, To: predlogtest.T0.Add(time.Hour)}
			want := []joinedRow{
				{"ride-1", recs[1].Version, recs[1].Prediction, 11},
				{"ride-1", "9", 30, 11},
				{"ride-2", recs[2].Version, recs[2].Prediction, 12},
				{recs[3].RideID, recs[3].Version, recs[3].Prediction, 13},
				{"ride-11", recs[11].Version, recs[11].Prediction, 15},
			}
			if got := mustReadJoined(t, db, all); !slices.Equal(got, want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
			// Filters: version, model, window.
			q := all
			q.Version = "9"
			if got := mustReadJoined(t, db, q); !slices.Equal(got, want[1:2]) {
				t.Errorf("version 9: got %+v, want %+v", got, want[1:2])
			}
			q = all
			q.Model = tripcast.DefaultModelName
			if got := mustReadJoined(t, db, q); !slices.Equal(got, want) { // ride-0, -5, -10 are "other"
				t.Errorf("model: got %+v, want %+v", got, want)
			}
			q.Model = "other"
			if got := mustReadJoined(t, db, q); len(got) != 0 {
				t.Errorf("model other: got %+v, want none", got)
			}
			q = tripcast.PredictionQuery{From: recs[2].PredictedAt, To: recs[11].PredictedAt}
			if got := mustReadJoined(t, db, q); !slices.Equal(got, want[2:4]) {
				t.Errorf("window: got %+v, want %+v", got, want[2:4])
			}

			n, err := db.CountCompletions(ctx, predlogtest.T0, predlogtest.T0.Add(2*time.Hour))
			if err != nil || n.Completions != 5 || n.Unmatched != 1 {
				t.Errorf("counts: got %+v, %v, want 5 completions, 1 unmatched", n, err)
			}
		})
		t.Run("Paging", func(t *testing.T) {
			// More rows than a page (5000) join, in order, none twice.
			db := MustOpenDB(t, e.Fresh(t))
			many := predlogtest.Records(5003, time.Millisecond)
			if err := db.PredictionLog().Log(ctx, many); err != nil {
				t.Fatal(err)
			}
			cs := make([]tripcast.Completion, len(many))
			for i := range many {
				cs[i] = completion(many[i].RideID, float64(i+1))
			}
			if err := db.AddCompletions(ctx, cs, make([]bool, len(cs))); err != nil {
				t.Fatal(err)
			}
			got := mustReadJoined(t, db, tripcast.PredictionQuery{From: predlogtest.T0, To: predlogtest.T0.Add(time.Hour)})
			if len(got) != len(many) {
				t.Fatalf("got %d rows, want %d", len(got), len(many))
			}
			for i, r := range got {
				if r.ride != many[i].RideID || r.actual != float64(i+1) {
					t.Fatalf("row %d: got %+v, want ride %s, actual %d", i, r, many[i].RideID, i+1)
				}
			}
		})
		t.Run("ErrInvalid", func(t *testing.T) {
			err := db.ReadJoined(ctx, tripcast.PredictionQuery{From: predlogtest.T0, To: predlogtest.T0.Add(-time.Second)},
				func(*tripcast.PredictionRecord, float64) error { return nil })
			mustCode(t, err, tripcast.EINVALID)
			mustCode(t, db.AddCompletions(ctx, []tripcast.Completion{{}}, make([]bool, 1)), tripcast.EINVALID)
			stop := errors.New("stop")
			err = db.ReadJoined(ctx, tripcast.PredictionQuery{From: predlogtest.T0, To: predlogtest.T0.Add(time.Hour)},
				func(*tripcast.PredictionRecord, float64) error { return stop })
			if !errors.Is(err, stop) {
				t.Errorf("got %v, want the callback's error", err)
			}
		})
	})
}
