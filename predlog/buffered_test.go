package predlog_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"tripcast"
	"tripcast/predlog"
	"tripcast/sqlstore"
	"tripcast/sqlstore/sqlstoretest"
)

// TestBuffered puts the metadata database's synchronous prediction log
// behind a buffer: nothing is written until a flush, everything after, and
// records written twice (a retried batch) are stored once.
func TestBuffered(t *testing.T) {
	ctx := context.Background()
	sqlstoretest.ForEach(t, func(t *testing.T, e sqlstoretest.Engine) {
		db := sqlstoretest.MustOpen(t, e.Fresh(t))
		w := predlog.Buffered(db.PredictionLog(), predlog.Options{FlushRecords: 1000, FlushInterval: time.Hour})
		now := time.Now().UTC()
		recs := make([]tripcast.PredictionRecord, 250)
		for i := range recs {
			recs[i] = tripcast.PredictionRecord{RideID: fmt.Sprint("r", i), Model: "m", Version: "1", PULocationID: 1, DOLocationID: 2,
				TripDistance: 1, Prediction: 10, ReceivedAt: now, PredictedAt: now, Source: tripcast.SourceHTTP}
		}
		if err := w.Log(ctx, recs); err != nil {
			t.Fatal(err)
		}
		count := func() int64 {
			n, err := db.CountPredictions(ctx, sqlstore.PredictionFilter{})
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if n := count(); n != 0 {
			t.Fatalf("before a flush: got %d rows, want 0 (buffered)", n)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != 250 {
			t.Fatalf("after Flush: got %d rows, want 250", n)
		}
		if err := w.Log(ctx, recs[:100]); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if n := count(); n != 250 {
			t.Fatalf("after logging 100 again and Close: got %d rows, want 250", n)
		}
		if err := w.Log(ctx, recs[:1]); tripcast.ErrorCode(err) != tripcast.EUNAVAILABLE {
			t.Fatalf("Log after Close: got %v, want EUNAVAILABLE", err)
		}
	})
}
