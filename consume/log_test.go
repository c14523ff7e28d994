package consume_test

import (
	"testing"
	"time"

	"tripcast"
	"tripcast/blob"
	"tripcast/consume"
	"tripcast/predlog"
	"tripcast/sqlstore"
)

// TestTee: Flush makes the SQL log durable at once; the parquet log writes
// its buffered records later, on its own flush.
func TestTee(t *testing.T) {
	ctx := testCtx(t)
	db := freshDB(t)
	blobs, err := blob.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pw := predlog.New(blobs, predlog.Options{FlushInterval: time.Hour, FlushRecords: 1000})
	defer pw.Close()
	now := time.Now().UTC().Truncate(time.Microsecond)
	recs := []tripcast.PredictionRecord{
		{RideID: "1", Model: tripcast.DefaultModelName, Version: "1", PULocationID: 1, DOLocationID: 2, TripDistance: 1, Prediction: 9,
			ReceivedAt: now, PredictedAt: now, Source: tripcast.SourceNATS},
	}
	l := consume.Tee(db.PredictionLog(), pw)
	t.Run("OK", func(t *testing.T) {
		if err := l.Log(ctx, recs); err != nil {
			t.Fatal(err)
		}
		if err := l.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if n, err := db.CountPredictions(ctx, sqlstore.PredictionFilter{}); err != nil || n != 1 {
			t.Errorf("SQL log: got %d, %v, want 1", n, err)
		}
		if got := pw.Pending(); got != 1 {
			t.Errorf("parquet log: got %d pending, want 1 (buffered)", got)
		}
		if err := pw.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := predlog.Read(ctx, blobs, now.Add(-time.Hour), now.Add(time.Hour))
		if err != nil || len(got) != 1 {
			t.Errorf("parquet log after its flush: got %d records, %v, want 1", len(got), err)
		}
	})
}
