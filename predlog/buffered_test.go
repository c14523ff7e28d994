package predlog_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"tripcast"
	"tripcast/blob/blobtest"
	"tripcast/predlog"
	"tripcast/predlog/predlogtest"
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

// TestBufferedOutage: while the metadata database refuses writes (its
// table is gone), a buffered SQL log keeps the records, reports the outage
// to readiness (CheckLog, through Multi too) and refuses records past
// MaxPending; once the database is back, everything is stored and the log
// is healthy again.
func TestBufferedOutage(t *testing.T) {
	ctx := context.Background()
	sqlstoretest.ForEach(t, func(t *testing.T, e sqlstoretest.Engine) {
		url := e.Fresh(t)
		db := sqlstoretest.MustOpen(t, url)
		driver, dsn := "pgx", url
		if p, ok := strings.CutPrefix(url, "sqlite://"); ok {
			driver, dsn = "sqlite", "file:"+p+"?_pragma=busy_timeout(10000)"
		}
		raw, err := sql.Open(driver, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		exec := func(q string) {
			t.Helper()
			if _, err := raw.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		w := predlog.Buffered(db.PredictionLog(), predlog.Options{FlushRecords: 100, MaxPending: 300, FlushInterval: time.Hour})
		defer w.Close()
		var checker tripcast.LogChecker = w
		multiChecker, ok := predlog.Multi(w, predlog.New(blobtest.MustOpenFile(t), predlog.Options{})).(tripcast.LogChecker)
		if !ok {
			t.Fatal("Multi is not a LogChecker")
		}
		recs := predlogtest.Records(400, time.Second)
		if err := w.Log(ctx, recs[:50]); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(ctx); err != nil || checker.CheckLog() != nil {
			t.Fatalf("flush: %v; CheckLog: %v, want nil, nil", err, checker.CheckLog())
		}
		exec(`ALTER TABLE predictions RENAME TO predictions_away`)
		if err := w.Log(ctx, recs[50:150]); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(ctx); err == nil {
			t.Fatal("flush during the outage: got nil, want an error")
		}
		for _, c := range []tripcast.LogChecker{checker, multiChecker} {
			if err := c.CheckLog(); tripcast.ErrorCode(err) != tripcast.EUNAVAILABLE || !strings.Contains(err.Error(), "100 records waiting") {
				t.Errorf("CheckLog during the outage: got %v, want EUNAVAILABLE with 100 records waiting", err)
			}
		}
		if err := w.Log(ctx, recs[150:300]); err != nil {
			t.Fatalf("within MaxPending: %v", err)
		}
		// 250 waiting (some perhaps being written by a background flush):
		// 100 more pass MaxPending.
		if err := w.Log(ctx, recs[300:400]); tripcast.ErrorCode(err) != tripcast.EUNAVAILABLE {
			t.Fatalf("past MaxPending: got %v, want EUNAVAILABLE", err)
		}
		exec(`ALTER TABLE predictions_away RENAME TO predictions`)
		if err := w.Flush(ctx); err != nil {
			t.Fatalf("flush after the outage: %v", err)
		}
		if err := checker.CheckLog(); err != nil {
			t.Errorf("CheckLog after the outage: got %v, want nil", err)
		}
		if n, err := db.CountPredictions(ctx, sqlstore.PredictionFilter{}); err != nil || n != 300 {
			t.Errorf("got %d rows, %v, want 300", n, err)
		}
	})
}
