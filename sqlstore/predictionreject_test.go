package sqlstore_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"tripcast/predlog"
	"tripcast/sqlstore"
)

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestPredictionLogRefusedRecord: a record the database cannot hold (a NUL
// byte or invalid UTF-8 in a PostgreSQL text: SQLSTATE 22021) is set aside
// alone; the other records of its batch and the later batches are stored,
// and a buffered log in front does not retry it forever.
func TestPredictionLogRefusedRecord(t *testing.T) {
	ctx := context.Background()
	forEachEngine(t, func(t *testing.T, e engine) {
		var logs syncBuffer
		db, err := sqlstore.Open(ctx, e.Fresh(t), slog.New(slog.NewTextHandler(&logs, nil)))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		at := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
		// The first batch (through the prior-telling log a stream consumer
		// uses) holds a NUL in a ride_id and invalid UTF-8 in another.
		recs := predRecords(0, 300, "1", at)
		recs[137].RideID = "bad\x00ride"
		recs[250].RideID = "bad\xffride"
		prior := make([]time.Time, len(recs))
		if err := db.PredictionLog().LogPrior(ctx, recs, prior); err != nil {
			t.Fatalf("a batch with bad records: got %v, want the others stored", err)
		}
		for i, p := range prior {
			if !p.IsZero() {
				t.Errorf("record %d: got prior %v, want none", i, p)
			}
		}
		// The next batches go through the buffered log, as on the request
		// path: one more bad record, then a good batch.
		w := predlog.Buffered(db.PredictionLog(), predlog.Options{FlushRecords: 1000, FlushInterval: time.Hour})
		more := predRecords(300, 100, "1", at.Add(time.Second))
		more[5].RideID = "\x00"
		if err := w.Log(ctx, more); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatalf("flush: got %v, want nil", err)
		}
		if err := w.Log(ctx, predRecords(400, 50, "1", at.Add(2*time.Second))); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("close: got %v, want nil", err)
		}
		if n := w.Pending(); n != 0 {
			t.Errorf("got %d records pending, want 0", n)
		}
		want, wantRejected := int64(450), int64(0)
		if e.Name == "postgres" {
			want, wantRejected = 447, 3
		}
		if n, err := db.CountPredictions(ctx, sqlstore.PredictionFilter{}); err != nil || n != want {
			t.Errorf("got %d rows, %v, want %d", n, err, want)
		}
		for _, i := range []int{0, 136, 138, 249, 251, 299} {
			if got, err := db.GetPredictions(ctx, recs[i].RideID); err != nil || len(got) != 1 {
				t.Errorf("ride %s: got %v, %v, want it stored", recs[i].RideID, got, err)
			}
		}
		if got := db.RejectedPredictions(); got != wantRejected {
			t.Errorf("got %d rejected, want %d", got, wantRejected)
		}
		if wantRejected > 0 {
			for _, s := range []string{`ride_id=bad\x00ride`, `ride_id=bad\xffride`, `ride_id=\x00 `, "level=ERROR"} {
				if !strings.Contains(logs.String(), s) {
					t.Errorf("log lacks %q:\n%s", s, logs.String())
				}
			}
		}
	})
}
