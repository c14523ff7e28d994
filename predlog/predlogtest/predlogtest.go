// Package predlogtest is the conformance suite of tripcast.PredictionReader:
// every prediction log that can be read back (the parquet log on a file or
// S3 blob store, the SQL log on SQLite or PostgreSQL) passes the same tests.
package predlogtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"tripcast"
)

// Open returns a fresh, empty log: the writer records go in through, and
// the reader that reads them back once the writer is flushed.
type Open func(t *testing.T) (tripcast.PredictionLog, tripcast.PredictionReader)

// T0 is the start of the records Records makes: late on a day, so that
// they span hours and a date.
var T0 = time.Date(2026, 3, 4, 22, 30, 0, 0, time.UTC)

// Records returns n records predicted from T0 on, one every step (each
// with its own PredictedAt when step is at least a microsecond): versions
// "1" and "2" of the default model alternate, every fifth record is from
// the model "other", every third ride_id is a JSON number, every fourth
// carries no pickup time; times are UTC whole microseconds (what the logs
// keep).
func Records(n int, step time.Duration) []tripcast.PredictionRecord {
	recs := make([]tripcast.PredictionRecord, n)
	for i := range recs {
		at := T0.Add(time.Duration(i) * step).Truncate(time.Microsecond)
		r := tripcast.PredictionRecord{
			RideID: fmt.Sprintf("ride-%d", i), Model: tripcast.DefaultModelName, Version: strconv.Itoa(1 + i%2),
			PULocationID: 1 + i%265, DOLocationID: 265 - i%265, TripDistance: float64(i%50) / 3,
			PickupTime: at.Add(-time.Duration(i%30) * time.Minute), Prediction: 5 + float64(i%40)/7,
			ReceivedAt: at.Add(-time.Duration(80+i%50) * time.Microsecond), PredictedAt: at,
			Source: []string{tripcast.SourceHTTP, tripcast.SourceNATS, tripcast.SourceKinesis}[i%3],
		}
		r.Latency = r.PredictedAt.Sub(r.ReceivedAt)
		if i%3 == 0 {
			r.RideID, r.RideIDNumeric = strconv.Itoa(100000+i), true
		}
		if i%4 == 0 {
			r.PickupTime = time.Time{}
		}
		if i%5 == 0 {
			r.Model = "other"
		}
		recs[i] = r
	}
	return recs
}

// RunReader runs the conformance suite against the logs open returns.
func RunReader(t *testing.T, open Open) {
	ctx := context.Background()
	mustLog := func(t *testing.T, w tripcast.PredictionLog, recs []tripcast.PredictionRecord) {
		t.Helper()
		for len(recs) > 0 { // in batches, like a consumer
			k := min(len(recs), 1000)
			if err := w.Log(ctx, recs[:k]); err != nil {
				t.Fatal(err)
			}
			recs = recs[k:]
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// 90 records, one every 2 minutes: 22:30 to 01:28, four hours, two dates.
	recs := Records(90, 2*time.Minute)

	t.Run("OK", func(t *testing.T) {
		w, r := open(t)
		mustLog(t, w, recs[:50])
		mustLog(t, w, recs[50:])
		got := MustRead(t, r, tripcast.PredictionQuery{From: T0, To: T0.Add(24 * time.Hour)})
		Same(t, got, recs)
	})
	t.Run("OKWindow", func(t *testing.T) {
		w, r := open(t)
		mustLog(t, w, recs)
		// [from, to): from included, to excluded; bounds between stored
		// microseconds round the way the window says.
		for _, c := range []struct {
			from, to time.Time
			want     []tripcast.PredictionRecord
		}{
			{recs[10].PredictedAt, recs[40].PredictedAt, recs[10:40]},
			{recs[10].PredictedAt.Add(time.Nanosecond), recs[40].PredictedAt.Add(time.Nanosecond), recs[11:41]},
			{recs[10].PredictedAt.Add(-time.Nanosecond), recs[40].PredictedAt.Add(-time.Nanosecond), recs[10:40]},
			{time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 5, 1, 0, 0, 0, time.UTC), recs[45:75]},
			{recs[89].PredictedAt, T0.Add(48 * time.Hour), recs[89:]},
			{T0.Add(-24 * time.Hour), T0, nil},
			{T0.Add(24 * time.Hour), T0.Add(25 * time.Hour), nil},
		} {
			// Another time zone names the same instants.
			ny := time.FixedZone("EST", -5*3600)
			got := MustRead(t, r, tripcast.PredictionQuery{From: c.from.In(ny), To: c.to.In(ny)})
			Same(t, got, c.want)
		}
	})
	t.Run("OKFilter", func(t *testing.T) {
		w, r := open(t)
		mustLog(t, w, recs)
		keep := func(f func(*tripcast.PredictionRecord) bool) []tripcast.PredictionRecord {
			var out []tripcast.PredictionRecord
			for i := range recs {
				if f(&recs[i]) {
					out = append(out, recs[i])
				}
			}
			return out
		}
		all := tripcast.PredictionQuery{From: T0, To: T0.Add(24 * time.Hour)}
		q := all
		q.Model = "other"
		Same(t, MustRead(t, r, q), keep(func(r *tripcast.PredictionRecord) bool { return r.Model == "other" }))
		q = all
		q.Version = "2"
		Same(t, MustRead(t, r, q), keep(func(r *tripcast.PredictionRecord) bool { return r.Version == "2" }))
		q.Model = tripcast.DefaultModelName
		Same(t, MustRead(t, r, q), keep(func(r *tripcast.PredictionRecord) bool {
			return r.Version == "2" && r.Model == tripcast.DefaultModelName
		}))
		q.Version = "3"
		Same(t, MustRead(t, r, q), nil)
	})
	t.Run("OKPages", func(t *testing.T) {
		// More records than a read page, seven at each instant: a page
		// boundary falls inside a group of equal PredictedAt.
		w, r := open(t)
		many := Records(12_000, 0)
		for i := range many {
			many[i].PredictedAt = many[i].PredictedAt.Add(time.Duration(i/7) * 100 * time.Millisecond)
			many[i].ReceivedAt = many[i].PredictedAt.Add(-many[i].Latency)
		}
		mustLog(t, w, many)
		got := MustRead(t, r, tripcast.PredictionQuery{From: T0, To: T0.Add(time.Hour)})
		Same(t, got, many)
	})
	t.Run("OKEmpty", func(t *testing.T) {
		w, r := open(t)
		mustLog(t, w, recs)
		Same(t, MustRead(t, r, tripcast.PredictionQuery{From: recs[5].PredictedAt, To: recs[5].PredictedAt}), nil)
	})
	t.Run("ErrStop", func(t *testing.T) {
		w, r := open(t)
		mustLog(t, w, recs)
		stop := errors.New("enough")
		calls := 0
		err := r.ReadPredictions(ctx, tripcast.PredictionQuery{From: T0, To: T0.Add(24 * time.Hour)}, func(*tripcast.PredictionRecord) error {
			calls++
			if calls == 5 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || calls != 5 {
			t.Fatalf("got %v after %d calls, want the callback's error after 5", err, calls)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		_, r := open(t)
		err := r.ReadPredictions(ctx, tripcast.PredictionQuery{From: T0, To: T0.Add(-time.Second)}, func(*tripcast.PredictionRecord) error {
			t.Fatal("callback called")
			return nil
		})
		if tripcast.ErrorCode(err) != tripcast.EINVALID || tripcast.ErrorField(err) != "to" {
			t.Fatalf("got %v, want EINVALID on field to", err)
		}
	})
}

// MustRead reads q from r, checking that PredictedAt never goes down.
func MustRead(t testing.TB, r tripcast.PredictionReader, q tripcast.PredictionQuery) []tripcast.PredictionRecord {
	t.Helper()
	var out []tripcast.PredictionRecord
	err := r.ReadPredictions(context.Background(), q, func(rec *tripcast.PredictionRecord) error {
		if n := len(out); n > 0 && rec.PredictedAt.Before(out[n-1].PredictedAt) {
			return fmt.Errorf("record %d predicted at %s, before the previous one (%s)", n, rec.PredictedAt, out[n-1].PredictedAt)
		}
		out = append(out, *rec)
		return nil
	})
	if err != nil {
		t.Fatalf("read %s..%s: %v", q.From, q.To, err)
	}
	return out
}

// Same fails unless got and want hold the same records; records with equal
// PredictedAt may come in any order.
func Same(t testing.TB, got, want []tripcast.PredictionRecord) {
	t.Helper()
	order := func(a, b tripcast.PredictionRecord) int {
		if c := a.PredictedAt.Compare(b.PredictedAt); c != 0 {
			return c
		}
		if c := strings.Compare(a.RideID, b.RideID); c != 0 {
			return c
		}
		return strings.Compare(a.Model+"/"+a.Version, b.Model+"/"+b.Version)
	}
	got, want = slices.Clone(got), slices.Clone(want)
	slices.SortStableFunc(got, order)
	slices.SortStableFunc(want, order)
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("record %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
}
