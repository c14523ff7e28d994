package sqlstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"tripcast"
	"tripcast/sqlstore"
)

// predRecord returns a record for ride i answered by version v, times at
// microsecond precision in UTC (what the store keeps).
func predRecord(i int, v string, at time.Time) tripcast.PredictionRecord {
	r := tripcast.PredictionRecord{
		RideID: fmt.Sprintf("ride-%d", i), Model: tripcast.DefaultModelName, Version: v,
		PULocationID: 1 + i%265, DOLocationID: 265 - i%265, TripDistance: float64(i%50) / 3,
		Prediction: 5 + float64(i%40)/7, ReceivedAt: at, PredictedAt: at.Add(150 * time.Microsecond),
		Latency: 150 * time.Microsecond, Source: tripcast.SourceNATS,
	}
	if i%2 == 0 { // an input: the same whenever the ride is answered
		r.PickupTime = time.Date(2021, 1, 5, 9, 0, 0, 0, time.UTC).Add(-time.Duration(i) * time.Minute)
	}
	return r
}

func predRecords(from, n int, v string, at time.Time) []tripcast.PredictionRecord {
	recs := make([]tripcast.PredictionRecord, n)
	for i := range recs {
		recs[i] = predRecord(from+i, v, at)
	}
	return recs
}

func TestPredictionLog(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		db := MustOpenDB(t, e.Fresh(t))
		ctx := context.Background()
		at := time.Date(2021, 1, 5, 10, 30, 0, 123456000, time.UTC)
		t.Run("OK", func(t *testing.T) {
			// 2,500 rows: on SQLite 19 chunks of 128 rows, then 64 and 4.
			recs := predRecords(0, 2500, "1", at)
			n, err := db.LogPredictions(ctx, recs)
			if err != nil || n != 2500 {
				t.Fatalf("got %d, %v, want 2500 inserted", n, err)
			}
			for _, i := range []int{0, 1, 1999, 2499} {
				got, err := db.GetPredictions(ctx, recs[i].RideID)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != 1 || got[0] != recs[i] {
					t.Fatalf("ride %d: got %+v, want [%+v]", i, got, recs[i])
				}
			}
			if got, err := db.GetPredictions(ctx, "nobody"); err != nil || len(got) != 0 {
				t.Errorf("unknown ride: got %v, %v, want none", got, err)
			}
		})
		t.Run("Duplicates", func(t *testing.T) {
			// A redelivered batch overlapping the logged one, with a duplicate
			// inside the batch itself and another version of one ride.
			again := predRecords(2400, 200, "1", at.Add(time.Second))
			again = append(again, again[150], predRecord(0, "2", at))
			n, err := db.LogPredictions(ctx, again)
			if err != nil {
				t.Fatal(err)
			}
			if n != 101 { // rides 2500..2599 and ride 0 of version 2
				t.Errorf("got %d inserted, want 101", n)
			}
			total, err := db.CountPredictions(ctx, sqlstore.PredictionFilter{})
			if err != nil || total != 2601 {
				t.Errorf("got %d rows, %v, want 2601", total, err)
			}
			// The first answer is kept.
			got, _ := db.GetPredictions(ctx, "ride-2450")
			if len(got) != 1 || !got[0].ReceivedAt.Equal(at) {
				t.Errorf("got %+v, want the first logged record", got)
			}
			if got, _ := db.GetPredictions(ctx, "ride-0"); len(got) != 2 || got[1].Version != "2" {
				t.Errorf("got %+v, want versions 1 and 2", got)
			}
		})
		t.Run("Prior", func(t *testing.T) {
			// Rides 20000..20009 logged; then a batch of 300: rides
			// 20005..20009 again (an earlier attempt's, so prior), new rides,
			// a new ride repeated in another chunk of the same batch (with
			// the same clock reading), and a new version of ride 20000.
			db := MustOpenDB(t, e.Fresh(t)) // its own: the counts below stay
			first := predRecords(20000, 10, "1", at)
			if _, err := db.LogPredictions(ctx, first); err != nil {
				t.Fatal(err)
			}
			later := at.Add(time.Minute)
			recs := predRecords(20005, 290, "1", later)
			recs = append(recs, recs[10], recs[200], predRecord(20000, "2", later))
			for len(recs) < 300 {
				recs = append(recs, predRecord(30000+len(recs), "1", later))
			}
			prior := make([]time.Time, len(recs))
			prior[7] = time.Now() // overwritten: prior is cleared first
			n, err := db.LogPredictionsPrior(ctx, recs, prior)
			if err != nil {
				t.Fatal(err)
			}
			if want := 300 - 5 - 2; n != want {
				t.Errorf("got %d inserted, want %d", n, want)
			}
			for i, p := range prior {
				var want time.Time
				switch {
				case i < 5:
					want = first[5+i].PredictedAt
				case i == 290:
					want = recs[10].PredictedAt
				case i == 291:
					want = recs[200].PredictedAt
				}
				if !p.Equal(want) {
					t.Errorf("record %d (ride %s v%s): got prior %v, want %v", i, recs[i].RideID, recs[i].Version, p, want)
				}
			}
			if _, err := db.LogPredictionsPrior(ctx, recs, prior[:3]); tripcast.ErrorCode(err) != tripcast.EINVALID {
				t.Errorf("prior of the wrong length: got %v, want %s", err, tripcast.EINVALID)
			}
		})
		t.Run("PriorOtherSource", func(t *testing.T) {
			// Ride 40000 was answered over HTTP; the stream's record of it
			// is not inserted (one row per ride and version) but is new to
			// the stream: its prediction was never published there.
			db := MustOpenDB(t, e.Fresh(t))
			web := predRecord(40000, "1", at)
			web.Source = tripcast.SourceHTTP
			if _, err := db.LogPredictions(ctx, []tripcast.PredictionRecord{web}); err != nil {
				t.Fatal(err)
			}
			recs := []tripcast.PredictionRecord{predRecord(40000, "1", at.Add(time.Minute)), predRecord(40001, "1", at.Add(time.Minute))}
			prior := make([]time.Time, 2)
			n, err := db.LogPredictionsPrior(ctx, recs, prior)
			if err != nil || n != 1 || !prior[0].IsZero() || !prior[1].IsZero() {
				t.Errorf("got %d inserted, prior %v, %v, want 1 inserted and both new to the stream", n, prior, err)
			}
			if got, _ := db.GetPredictions(ctx, "ride-40000"); len(got) != 1 || got[0].Source != tripcast.SourceHTTP {
				t.Errorf("got %+v, want the HTTP record kept", got)
			}
		})
		t.Run("Concurrent", func(t *testing.T) {
			// Two consumers logging the same batch at once: each row once.
			recs := predRecords(10000, 500, "1", at)
			var wg sync.WaitGroup
			counts := make([]int, 4)
			for w := range counts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n, err := db.LogPredictions(ctx, recs)
					if err != nil {
						t.Error(err)
					}
					counts[w] = n
				}()
			}
			wg.Wait()
			if sum := counts[0] + counts[1] + counts[2] + counts[3]; sum != 500 {
				t.Errorf("got %v inserted (sum %d), want 500 in all", counts, sum)
			}
		})
		t.Run("Count", func(t *testing.T) {
			for _, c := range []struct {
				f    sqlstore.PredictionFilter
				want int64
			}{
				{sqlstore.PredictionFilter{Version: "2"}, 1},
				{sqlstore.PredictionFilter{RideID: "ride-0"}, 2},
				{sqlstore.PredictionFilter{Model: tripcast.DefaultModelName, Version: "1", Source: tripcast.SourceNATS}, 3100},
				{sqlstore.PredictionFilter{Source: tripcast.SourceHTTP}, 0},
				{sqlstore.PredictionFilter{Since: at.Add(time.Second)}, 100},
				{sqlstore.PredictionFilter{Until: at.Add(time.Second)}, 3001},
			} {
				if got, err := db.CountPredictions(ctx, c.f); err != nil || got != c.want {
					t.Errorf("%+v: got %d, %v, want %d", c.f, got, err, c.want)
				}
			}
		})
		t.Run("ReadAfter", func(t *testing.T) {
			var after int64
			seen := map[string]bool{}
			pages := 0
			for {
				ps, err := db.ReadPredictionsAfter(ctx, after, 1000)
				if err != nil {
					t.Fatal(err)
				}
				if len(ps) == 0 {
					break
				}
				pages++
				for _, p := range ps {
					if p.ID <= after {
						t.Fatalf("got id %d after %d, want increasing ids", p.ID, after)
					}
					after = p.ID
					seen[p.RideID+"@"+p.Version] = true
				}
			}
			if len(seen) != 3101 || pages != 4 {
				t.Errorf("got %d distinct rows in %d pages, want 3101 in 4", len(seen), pages)
			}
		})
		t.Run("ErrInvalid", func(t *testing.T) {
			// Records without a version or a ride_id are set aside; the
			// others of the batch are stored, and told new or prior.
			recs := []tripcast.PredictionRecord{predRecord(50000, "1", at), predRecord(50001, "", at), predRecord(50002, "1", at),
				predRecord(0, "1", at.Add(time.Hour)), predRecord(50003, "1", at)}
			recs[2].RideID = ""
			rejected := db.RejectedPredictions()
			prior := make([]time.Time, len(recs))
			n, err := db.LogPredictionsPrior(ctx, recs, prior)
			if err != nil || n != 2 {
				t.Fatalf("got %d, %v, want 2 inserted", n, err)
			}
			if got := db.RejectedPredictions() - rejected; got != 2 {
				t.Errorf("got %d rejected, want 2", got)
			}
			for i, p := range prior {
				if want := i == 3; p.IsZero() == want {
					t.Errorf("record %d: got prior %v, want prior: %v", i, p, want)
				}
			}
			for _, i := range []int{0, 4} {
				if got, _ := db.GetPredictions(ctx, recs[i].RideID); len(got) != 1 {
					t.Errorf("ride %s: got %v, want it stored", recs[i].RideID, got)
				}
			}
			if _, err := db.ReadPredictionsAfter(ctx, 0, 0); tripcast.ErrorCode(err) != tripcast.EINVALID {
				t.Errorf("limit 0: got %v, want %s", err, tripcast.EINVALID)
			}
		})
		t.Run("PredictionLog", func(t *testing.T) {
			var l tripcast.PredictionLog = db.PredictionLog()
			if err := l.Log(ctx, predRecords(20000, 3, "1", at)); err != nil {
				t.Fatal(err)
			}
			if err := l.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if got, _ := db.GetPredictions(ctx, "ride-20002"); len(got) != 1 {
				t.Errorf("got %d rows, want 1", len(got))
			}
		})
	})
}

// BenchmarkLogPredictions measures logging batches of 990 new
// predictions, the stream consumer's hot path.
func BenchmarkLogPredictions(b *testing.B) {
	for _, e := range engines {
		b.Run(e.Name, func(b *testing.B) {
			db := MustOpenDB(b, e.Fresh(b))
			ctx := context.Background()
			const batch = 990 // what a consumer sees
			at := time.Now().UTC().Truncate(time.Microsecond)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				if _, err := db.LogPredictions(ctx, predRecords(i*batch, batch, "1", at)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "rows/s")
		})
	}
}

// TestLogPredictionsFirstUse: four writers logging at once on a new
// database, where the first LogPredictions prepares the INSERTs, all get
// their rows in.
func TestLogPredictionsFirstUse(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		db := MustOpenDB(t, e.Fresh(t))
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		at := time.Date(2021, 1, 5, 10, 30, 0, 0, time.UTC)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if n, err := db.LogPredictions(ctx, predRecords(w*1000, 300+w, "1", at)); err != nil || n != 300+w {
					t.Errorf("writer %d: got %d, %v, want %d inserted", w, n, err, 300+w)
				}
			}()
		}
		wg.Wait()
		if n, err := db.CountPredictions(ctx, sqlstore.PredictionFilter{}); err != nil || n != 1206 {
			t.Errorf("got %d rows, %v, want 1206", n, err)
		}
	})
}
