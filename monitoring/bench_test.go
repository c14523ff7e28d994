package monitoring_test

import (
	"context"
	"testing"
	"time"

	"tripcast"
	"tripcast/monitoring"
	"tripcast/predlog"
	"tripcast/sqlstore/sqlstoretest"
)

// dayRows is a day of prediction log at 50,000 rides an hour.
const dayRows = 24 * 50000

// BenchmarkReportDay reports one day of prediction log (1.2 M records of
// green 2023-03 rides predicted by the 2021-01 model) against the model's
// reference, from the SQL log (SQLite) and from the parquet log (file blob
// store). Writing the logs is setup, outside the timer.
//
//	go test ./monitoring -run '^$' -bench ReportDay -benchtime 3x
func BenchmarkReportDay(b *testing.B) {
	fixture(b)
	ctx := context.Background()
	recs := records(b, mar, dayRows, day, 24*time.Hour/dayRows)
	db := sqlstoretest.MustOpen(b, sqlstoretest.FreshSQLite(b))
	blobs := mustBlobs(b)
	pw := predlog.New(blobs, predlog.Options{FlushRecords: 100000, MaxPending: 2 * dayRows})
	for i := 0; i < len(recs); i += 50000 {
		batch := recs[i:min(i+50000, len(recs))]
		if err := db.PredictionLog().Log(ctx, batch); err != nil {
			b.Fatal(err)
		}
		if err := pw.Log(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := pw.Close(); err != nil {
		b.Fatal(err)
	}
	w := monitoring.Window{Start: day, End: day.AddDate(0, 0, 1)}
	for _, bc := range []struct {
		name string
		log  tripcast.PredictionReader
	}{{"sql", db}, {"parquet", predlog.NewReader(blobs)}} {
		b.Run(bc.name, func(b *testing.B) {
			r := &monitoring.Runner{Model: "m", Reference: janRef, Log: bc.log}
			b.ReportAllocs()
			for b.Loop() {
				d, err := r.Window(ctx, w)
				if err != nil {
					b.Fatal(err)
				}
				if d.Rows != dayRows || !d.PredictionDrifted {
					b.Fatalf("got %d rows, prediction drift %v; want %d rows and drift", d.Rows, d.PredictionDrifted, dayRows)
				}
			}
			b.ReportMetric(float64(dayRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
