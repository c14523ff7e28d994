package main

import (
	"context"
	"testing"
	"time"

	"tripcast"
	"tripcast/blob/blobtest"
	"tripcast/config"
	"tripcast/predlog"
)

func TestPredictionSinks(t *testing.T) {
	ctx := context.Background()
	store := blobtest.MustOpenFile(t)
	t.Run("OK", func(t *testing.T) {
		a := &app{cfg: config.Default()}
		if sinks, err := a.predictionSinks(store); err != nil || len(sinks) != 0 {
			t.Fatalf("default: got %d sinks, %v, want none beside parquet", len(sinks), err)
		}
		a.cfg.PredictionSinks = "parquet, objects"
		sinks, err := a.predictionSinks(store)
		if err != nil || len(sinks) != 1 {
			t.Fatalf("got %d sinks, %v, want 1", len(sinks), err)
		}
		at := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
		rec := tripcast.PredictionRecord{RideID: "256", RideIDNumeric: true, Model: tripcast.DefaultModelName, Version: "1",
			PULocationID: 130, DOLocationID: 205, TripDistance: 3.66, Prediction: 12.5, ReceivedAt: at, PredictedAt: at, Source: tripcast.SourceHTTP}
		if err := sinks[0].Log(ctx, []tripcast.PredictionRecord{rec}); err != nil {
			t.Fatal(err)
		}
		if err := a.close(); err != nil { // flushes the buffered sink
			t.Fatal(err)
		}
		if _, err := store.Stat(ctx, predlog.ObjectKey(&rec)); err != nil {
			t.Fatalf("object of the prediction: %v", err)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		a := &app{cfg: config.Default()}
		a.cfg.PredictionSinks = "parquet,sqlite"
		if _, err := a.predictionSinks(store); tripcast.ErrorField(err) != "prediction_sinks" {
			t.Fatalf("got %v, want an error on prediction_sinks", err)
		}
	})
}
