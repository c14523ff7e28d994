package predlog_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tripcast"
	"tripcast/blob"
	"tripcast/blob/blobtest"
	"tripcast/internal/testfiles/tlcdata"
	"tripcast/predlog"
)

// realRecords turns the first n rides of green 2021-01 into prediction
// records made from t0 on, one every step, predicting the actual duration.
func realRecords(tb testing.TB, n int, t0 time.Time, step time.Duration) []tripcast.PredictionRecord {
	tb.Helper()
	trips := tlcdata.CourseShared(tb, "2021-01")
	if n > trips.Len() {
		n = trips.Len()
	}
	recs := make([]tripcast.PredictionRecord, n)
	for i := range recs {
		r := tripcast.Ride{ID: strconv.Itoa(i), PULocationID: int(trips.PULocationID[i]), DOLocationID: int(trips.DOLocationID[i]),
			TripDistance: trips.TripDistance[i]}
		if i%3 != 0 { // some events carry no pickup time
			r.PickupTime = trips.PickupTime(i)
		}
		p := tripcast.Prediction{RideID: r.ID, Model: tripcast.DefaultModelName, Version: strconv.Itoa(1 + i%2), RideDuration: trips.Duration[i]}
		recv := t0.Add(time.Duration(i) * step)
		recs[i] = tripcast.NewPredictionRecord(r, p, recv, recv.Add(time.Duration(50+i%100)*time.Microsecond), []string{tripcast.SourceHTTP, tripcast.SourceNATS}[i%2])
	}
	return recs
}

// logKeys returns the keys of the objects under predictions/ in store.
func logKeys(t *testing.T, store tripcast.BlobStore) []string {
	t.Helper()
	list, err := store.List(context.Background(), "predictions/")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, b := range list {
		keys = append(keys, b.Key)
	}
	return keys
}

func TestWriter(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 4, 22, 58, 0, 0, time.UTC)
	t.Run("OK", func(t *testing.T) {
		store := blobtest.MustOpenFile(t)
		w := predlog.New(store, predlog.Options{FlushInterval: time.Hour})
		defer w.Close()
		recs := realRecords(t, 5000, t0, 50*time.Millisecond) // 22:58 to 23:02: two hours, two dates
		if err := w.Log(ctx, recs[:2500]); err != nil {
			t.Fatal(err)
		}
		if err := w.Log(ctx, recs[2500:]); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if n := w.Pending(); n != 0 {
			t.Errorf("got %d pending after Flush, want 0", n)
		}
		keys := logKeys(t, store)
		if len(keys) != 2 || !strings.HasPrefix(keys[0], "predictions/date=2026-03-04/hour=22/20260304T225800.000050Z-") ||
			!strings.HasPrefix(keys[1], "predictions/date=2026-03-04/hour=23/") || !strings.HasSuffix(keys[1], ".parquet") {
			t.Errorf("got keys %q, want one file in hour 22 and one in hour 23", keys)
		}
		readsAll(t, store, t0, t0.Add(time.Hour), recs)
	})
	t.Run("OKReadWindow", func(t *testing.T) {
		store := blobtest.MustOpenFile(t)
		w := predlog.New(store, predlog.Options{})
		recs := realRecords(t, 300, t0, time.Second) // 22:58:00 to 23:02:59
		if err := w.Log(ctx, recs); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil { // Close flushes
			t.Fatal(err)
		}
		from, to := recs[100].PredictedAt, recs[200].PredictedAt
		got, err := predlog.Read(ctx, store, from, to)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 100 || got[0] != recs[100] || got[99] != recs[199] {
			t.Errorf("got %d records, want records 100..199 ([from, to))", len(got))
		}
		if got, err := predlog.Read(ctx, store, t0.Add(-48*time.Hour), t0.Add(-47*time.Hour)); err != nil || len(got) != 0 {
			t.Errorf("empty window: got %d, %v, want none", len(got), err)
		}
	})
	t.Run("OKBackgroundFlush", func(t *testing.T) {
		store := blobtest.MustOpenFile(t)
		w := predlog.New(store, predlog.Options{FlushRecords: 100, FlushInterval: time.Hour})
		defer w.Close()
		if err := w.Log(ctx, realRecords(t, 150, t0, time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		for i := 0; w.Pending() != 0; i++ {
			if i > 10000 {
				t.Fatalf("got %d pending, want a background flush past FlushRecords", w.Pending())
			}
			time.Sleep(time.Millisecond)
		}
		// The swap to an empty buffer happens before the write: wait for it.
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := predlog.Read(ctx, store, t0, t0.Add(time.Hour))
		if err != nil || len(got) != 150 {
			t.Errorf("got %d, %v, want 150 records", len(got), err)
		}
	})
	t.Run("ErrWriteKeepsRecords", func(t *testing.T) {
		store := blobtest.MustOpenFile(t)
		w := predlog.New(store, predlog.Options{FlushInterval: time.Hour})
		defer w.Close()
		// A file where the hour-23 folder must go: writing that partition fails.
		blocker := filepath.Join(store.Dir(), "predictions", "date=2026-03-04", "hour=23")
		if err := os.MkdirAll(filepath.Dir(blocker), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(blocker, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		recs := realRecords(t, 300, t0, time.Second)
		if err := w.Log(ctx, recs); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(ctx); err == nil {
			t.Fatal("got nil, want the write error")
		}
		if got, want := w.Pending(), 300-120; got != want {
			t.Errorf("got %d pending, want %d (hour 22 written, hour 23 kept)", got, want)
		}
		if err := os.Remove(blocker); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := predlog.Read(ctx, store, t0, t0.Add(time.Hour))
		if err != nil || len(got) != 300 {
			t.Fatalf("got %d, %v, want 300 records, each once", len(got), err)
		}
		for i := range got {
			if got[i] != recs[i] {
				t.Fatalf("record %d: got %+v, want %+v", i, got[i], recs[i])
			}
		}
	})
	t.Run("ErrFull", func(t *testing.T) {
		w := predlog.New(blobtest.MustOpenFile(t), predlog.Options{FlushRecords: 10, MaxPending: 10, FlushInterval: time.Hour})
		defer w.Close()
		recs := realRecords(t, 11, t0, time.Millisecond)
		if err := w.Log(ctx, recs); tripcast.ErrorCode(err) != tripcast.EUNAVAILABLE {
			t.Errorf("got %v, want unavailable", err)
		}
	})
	t.Run("ErrClosed", func(t *testing.T) {
		w := predlog.New(blobtest.MustOpenFile(t), predlog.Options{})
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.Log(ctx, realRecords(t, 1, t0, time.Millisecond)); tripcast.ErrorCode(err) != tripcast.EUNAVAILABLE {
			t.Errorf("got %v, want unavailable", err)
		}
		if err := w.Close(); err != nil {
			t.Errorf("second Close: got %v, want nil", err)
		}
	})
}

// TestWriterConcurrent logs and flushes from many goroutines, as stream
// consumers do: every record is read back exactly once.
func TestWriterConcurrent(t *testing.T) {
	ctx := context.Background()
	store := blobtest.MustOpenFile(t)
	w := predlog.New(store, predlog.Options{FlushRecords: 500, FlushInterval: 5 * time.Millisecond})
	t0 := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	recs := realRecords(t, 8000, t0, time.Millisecond)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			part := recs[g*1000 : (g+1)*1000]
			for i := 0; i < len(part); i += 100 {
				if err := w.Log(ctx, part[i:i+100]); err != nil {
					t.Error(err)
					return
				}
				if i%300 == 0 {
					if err := w.Flush(ctx); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := predlog.Read(ctx, store, t0, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range got {
		seen[r.RideID]++
	}
	if len(got) != len(recs) || len(seen) != len(recs) {
		t.Errorf("got %d records, %d distinct, want %d each once", len(got), len(seen), len(recs))
	}
}

func TestMulti(t *testing.T) {
	ctx := context.Background()
	a, b := blobtest.MustOpenFile(t), blobtest.MustOpenFile(t)
	wa, wb := predlog.New(a, predlog.Options{}), predlog.New(b, predlog.Options{})
	defer wa.Close()
	defer wb.Close()
	t0 := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	m := predlog.Multi(wa, wb)
	if err := m.Log(ctx, realRecords(t, 10, t0, time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i, s := range []tripcast.BlobStore{a, b} {
		if got, err := predlog.Read(ctx, s, t0, t0.Add(time.Hour)); err != nil || len(got) != 10 {
			t.Errorf("log %d: got %d, %v, want 10", i, len(got), err)
		}
	}
}

func BenchmarkLog(b *testing.B) {
	w := predlog.New(blobtest.MustOpenFile(b), predlog.Options{FlushInterval: time.Hour, MaxPending: 1 << 30, FlushRecords: 1 << 30})
	defer w.Close()
	recs := realRecords(b, 100, time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC), time.Millisecond)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := w.Log(ctx, recs[:1]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkFlush(b *testing.B) {
	for _, n := range []int{1000, 50000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			w := predlog.New(blobtest.MustOpenFile(b), predlog.Options{FlushInterval: time.Hour, FlushRecords: 1 << 30})
			defer w.Close()
			recs := realRecords(b, n, time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC), time.Microsecond)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := w.Log(ctx, recs); err != nil {
					b.Fatal(err)
				}
				if err := w.Flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func TestCompact(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 4, 22, 10, 0, 0, time.UTC)
	hour := t0.Truncate(time.Hour)
	// logged writes 500 records in 5 flushes (5 files in hour 22).
	logged := func(t *testing.T) (*blob.File, []tripcast.PredictionRecord) {
		store := blobtest.MustOpenFile(t)
		w := predlog.New(store, predlog.Options{FlushInterval: time.Hour})
		defer w.Close()
		recs := realRecords(t, 500, t0, time.Second)
		for i := 0; i < len(recs); i += 100 {
			if err := w.Log(ctx, recs[i:i+100]); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		return store, recs
	}
	keys := func(t *testing.T, store tripcast.BlobStore) []string {
		out := logKeys(t, store)
		return out
	}
	readAll := func(t *testing.T, store tripcast.BlobStore, want []tripcast.PredictionRecord) {
		t.Helper()
		got, err := predlog.Read(ctx, store, hour, hour.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("got %d records, want %d", len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("record %d: got %+v, want %+v", i, got[i], want[i])
			}
		}
	}
	t.Run("OK", func(t *testing.T) {
		store, recs := logged(t)
		if n, err := predlog.Compact(ctx, store, hour.Add(30*time.Minute)); n != 5 || err != nil {
			t.Fatalf("got %d, %v, want 5 files merged", n, err)
		}
		if k := keys(t, store); len(k) != 1 || !strings.Contains(k[0], "/hour=22/20260304T221000.000050Z-compacted-") {
			t.Errorf("got keys %q, want one compacted file", k)
		}
		readAll(t, store, recs)
		if n, err := predlog.Compact(ctx, store, hour); n != 0 || err != nil {
			t.Errorf("second compaction: got %d, %v, want nothing to do", n, err)
		}
	})
	t.Run("OKInterrupted", func(t *testing.T) {
		// A compaction that stopped after writing the merged file, before
		// deleting its inputs: put the inputs back as they were.
		store, recs := logged(t)
		inputs := map[string][]byte{}
		for _, k := range keys(t, store) {
			rc, err := store.Open(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			inputs[k] = b
		}
		if _, err := predlog.Compact(ctx, store, hour); err != nil {
			t.Fatal(err)
		}
		for k, b := range inputs {
			if _, err := store.Put(ctx, k, bytes.NewReader(b)); err != nil {
				t.Fatal(err)
			}
		}
		if k := keys(t, store); len(k) != 6 {
			t.Fatalf("got %d files, want 6 (5 inputs left behind + the merged one)", len(k))
		}
		readAll(t, store, recs) // each record once
		if n, err := predlog.Compact(ctx, store, hour); n != 5 || err != nil {
			t.Errorf("got %d, %v, want the 5 leftovers deleted", n, err)
		}
		if k := keys(t, store); len(k) != 1 {
			t.Errorf("got keys %q, want the merged file alone", k)
		}
		readAll(t, store, recs)
	})
	t.Run("OKNewFileKept", func(t *testing.T) {
		store, recs := logged(t)
		if _, err := predlog.Compact(ctx, store, hour); err != nil {
			t.Fatal(err)
		}
		// A late flush into the compacted hour, then a second compaction.
		late := realRecords(t, 600, t0, time.Second)[500:]
		w := predlog.New(store, predlog.Options{})
		if err := w.Log(ctx, late); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		all := append(append([]tripcast.PredictionRecord{}, recs...), late...)
		readAll(t, store, all)
		if n, err := predlog.Compact(ctx, store, hour); n != 2 || err != nil {
			t.Errorf("got %d, %v, want 2 files merged", n, err)
		}
		readAll(t, store, all)
	})
}
