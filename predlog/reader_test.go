package predlog_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"tripcast"
	"tripcast/blob/blobtest"
	"tripcast/predlog"
	"tripcast/predlog/predlogtest"
)

// openParquet returns a predlogtest.Open for the parquet log on the store
// newStore makes.
func openParquet(newStore func(t testing.TB) tripcast.BlobStore) predlogtest.Open {
	return func(t *testing.T) (tripcast.PredictionLog, tripcast.PredictionReader) {
		store := newStore(t)
		w := predlog.New(store, predlog.Options{FlushInterval: time.Hour})
		t.Cleanup(func() { w.Close() })
		return w, predlog.NewReader(store)
	}
}

func TestReaderFile(t *testing.T) {
	predlogtest.RunReader(t, openParquet(func(t testing.TB) tripcast.BlobStore { return blobtest.MustOpenFile(t) }))
}

func TestReaderS3(t *testing.T) {
	predlogtest.RunReader(t, openParquet(func(t testing.TB) tripcast.BlobStore { return blobtest.MustOpenS3(t, "predlog") }))
}

// TestReaderOldFiles reads a file written before the ride_id_numeric
// column existed: its ride_ids read as strings (RideIDNumeric false).
func TestReaderOldFiles(t *testing.T) {
	ctx := context.Background()
	store := blobtest.MustOpenFile(t)
	// The columns of the first version of the log.
	type oldRow struct {
		RideID       string    `parquet:"ride_id"`
		Model        string    `parquet:"model,dict"`
		Version      string    `parquet:"version,dict"`
		PULocationID int32     `parquet:"pu_location_id"`
		DOLocationID int32     `parquet:"do_location_id"`
		TripDistance float64   `parquet:"trip_distance"`
		Pickup       time.Time `parquet:"pickup_datetime,optional,timestamp(microsecond)"`
		Prediction   float64   `parquet:"prediction"`
		ReceivedAt   time.Time `parquet:"received_at,timestamp(microsecond)"`
		PredictedAt  time.Time `parquet:"predicted_at,timestamp(microsecond)"`
		LatencyUS    int64     `parquet:"latency_us"`
		Source       string    `parquet:"source,dict"`
	}
	recs := predlogtest.Records(20, time.Second)
	old := make([]oldRow, len(recs))
	for i, r := range recs {
		old[i] = oldRow{RideID: r.RideID, Model: r.Model, Version: r.Version, PULocationID: int32(r.PULocationID),
			DOLocationID: int32(r.DOLocationID), TripDistance: r.TripDistance, Pickup: r.PickupTime, Prediction: r.Prediction,
			ReceivedAt: r.ReceivedAt, PredictedAt: r.PredictedAt, LatencyUS: r.Latency.Microseconds(), Source: r.Source}
		recs[i].RideIDNumeric = false
	}
	var buf bytes.Buffer
	if err := parquet.Write(&buf, old); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(ctx, "predictions/date=2026-03-04/hour=22/20260304T223000.000000Z-0123456789ab.parquet", &buf); err != nil {
		t.Fatal(err)
	}
	// A new file beside it, with the column.
	w := predlog.New(store, predlog.Options{FlushInterval: time.Hour})
	defer w.Close()
	newer := predlogtest.Records(40, time.Second)[20:]
	if err := w.Log(ctx, newer); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := predlogtest.MustRead(t, predlog.NewReader(store), tripcast.PredictionQuery{From: predlogtest.T0, To: predlogtest.T0.Add(time.Hour)})
	predlogtest.Same(t, got, append(recs, newer...))
	// Compact merges old and new files into one of the new schema.
	if n, err := predlog.Compact(ctx, store, predlogtest.T0); err != nil || n != 2 {
		t.Fatalf("compact: got %d, %v, want 2 files merged", n, err)
	}
	got = predlogtest.MustRead(t, predlog.NewReader(store), tripcast.PredictionQuery{From: predlogtest.T0, To: predlogtest.T0.Add(time.Hour)})
	predlogtest.Same(t, got, append(recs, newer...))
}
