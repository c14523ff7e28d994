package predlog_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"tripcast"
	"tripcast/blob/blobtest"
	"tripcast/internal/testlog"
	"tripcast/predlog"
	"tripcast/sqlstore"
	"tripcast/sqlstore/sqlstoretest"
)

// spread logs 900 records made from 22:30 one day to 00:59 the next, one
// every 10 s, in flushes of 100 records: several files in each of the hours
// 22, 23 and 00, across a day boundary.
func spread(t *testing.T) (tripcast.BlobStore, []tripcast.PredictionRecord, time.Time) {
	t.Helper()
	ctx := context.Background()
	t0 := time.Date(2026, 3, 4, 22, 30, 0, 0, time.UTC)
	store := blobtest.MustOpenFile(t)
	w := predlog.New(store, predlog.Options{FlushInterval: time.Hour})
	defer w.Close()
	recs := realRecords(t, 900, t0, 10*time.Second)
	for i := 0; i < len(recs); i += 100 {
		if err := w.Log(ctx, recs[i:i+100]); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return store, recs, t0.Truncate(time.Hour)
}

// filesPerHour counts the parquet files of each hour partition.
func filesPerHour(t *testing.T, store tripcast.BlobStore) map[string]int {
	t.Helper()
	list, err := store.List(context.Background(), predlog.Prefix+"/")
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, b := range list {
		if i := strings.LastIndexByte(b.Key, '/'); i > 0 && strings.HasSuffix(b.Key, ".parquet") {
			n[b.Key[len(predlog.Prefix)+1:i]]++
		}
	}
	return n
}

// readsAll checks that the log's records made in [from, to) are recs, in
// order, each once.
func readsAll(t *testing.T, store tripcast.BlobStore, from, to time.Time, recs []tripcast.PredictionRecord) {
	t.Helper()
	got, err := predlog.Read(context.Background(), store, from, to)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(recs) {
		t.Fatalf("got %d records, want %d", len(got), len(recs))
	}
	for i := range recs {
		if got[i] != recs[i] {
			t.Fatalf("record %d: got %+v, want %+v", i, got[i], recs[i])
		}
	}
}

func TestCompactBefore(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		store, recs, h22 := spread(t)
		before := filesPerHour(t, store)
		if before["date=2026-03-04/hour=22"] < 2 || before["date=2026-03-04/hour=23"] < 2 || before["date=2026-03-05/hour=00"] < 2 {
			t.Fatalf("got files per hour %v, want several in hours 22, 23 and 00", before)
		}
		// Hours ending by 00:30: 22 and 23, not 00.
		hours, files, err := predlog.CompactBefore(ctx, store, h22.Add(-time.Hour), h22.Add(150*time.Minute), nil)
		if err != nil {
			t.Fatal(err)
		}
		want := before["date=2026-03-04/hour=22"] + before["date=2026-03-04/hour=23"]
		if hours != 2 || files != want {
			t.Errorf("got %d hours, %d files, want 2 hours, %d files", hours, files, want)
		}
		after := filesPerHour(t, store)
		if after["date=2026-03-04/hour=22"] != 1 || after["date=2026-03-04/hour=23"] != 1 || after["date=2026-03-05/hour=00"] != before["date=2026-03-05/hour=00"] {
			t.Errorf("got files per hour %v, want one in hours 22 and 23, hour 00 untouched (%d)", after, before["date=2026-03-05/hour=00"])
		}
		readsAll(t, store, h22, h22.Add(4*time.Hour), recs)
		// Again: nothing left to do before 00:30.
		if hours, files, err := predlog.CompactBefore(ctx, store, h22, h22.Add(150*time.Minute), nil); hours != 0 || files != 0 || err != nil {
			t.Errorf("second pass: got %d hours, %d files, %v, want nothing", hours, files, err)
		}
	})
	t.Run("Stopped", func(t *testing.T) {
		store, recs, h22 := spread(t)
		before := filesPerHour(t, store)
		asked := 0
		hours, files, err := predlog.CompactBefore(ctx, store, h22, h22.Add(5*time.Hour), func() bool {
			asked++
			return asked == 1 // the first hour only
		})
		if err != nil || hours != 1 || files != before["date=2026-03-04/hour=22"] || asked != 2 {
			t.Errorf("got %d hours, %d files, %v after %d questions, want hour 22 only (%d files), asked twice", hours, files, err, asked, before["date=2026-03-04/hour=22"])
		}
		readsAll(t, store, h22, h22.Add(4*time.Hour), recs)
	})
}

// TestRunCompactor: compactors of two processes sharing a metadata database
// (a real SQLite file, two handles) leave one file per finished hour and
// every record once; while a third holder has the lease, neither compacts.
func TestRunCompactor(t *testing.T) {
	store, recs, h22 := spread(t)
	url := sqlstoretest.FreshSQLite(t)
	dbs := [2]*sqlstore.DB{sqlstoretest.MustOpen(t, url), sqlstoretest.MustOpen(t, url)}
	now := func() time.Time { return h22.Add(4 * time.Hour) } // every hour finished, grace included
	ctx := context.Background()
	var logs testlog.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	run := func(ctx context.Context, i int) chan error {
		done := make(chan error, 1)
		go func() {
			done <- predlog.RunCompactor(ctx, store, dbs[i], []string{"a", "b"}[i],
				predlog.CompactorOptions{Every: 20 * time.Millisecond, Now: now, Logger: logger})
		}()
		return done
	}

	// Someone else holds the lease: nothing happens.
	if ok, err := dbs[0].TryLease(ctx, predlog.CompactLease, "other", time.Hour); !ok || err != nil {
		t.Fatalf("TryLease: %v, %v", ok, err)
	}
	before := filesPerHour(t, store)
	cctx, stop := context.WithCancel(ctx)
	done := [2]chan error{run(cctx, 0), run(cctx, 1)}
	time.Sleep(200 * time.Millisecond)
	if got := filesPerHour(t, store); len(got) != len(before) || got["date=2026-03-04/hour=22"] != before["date=2026-03-04/hour=22"] {
		t.Errorf("compacted while another holder had the lease: files per hour %v, were %v", got, before)
	}
	// Released: one of them compacts every hour.
	if err := dbs[0].ReleaseLease(ctx, predlog.CompactLease, "other"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := filesPerHour(t, store)
		if n["date=2026-03-04/hour=22"] == 1 && n["date=2026-03-04/hour=23"] == 1 && n["date=2026-03-05/hour=00"] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got files per hour %v, want one per hour", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	for _, d := range done {
		if err := <-d; err != nil {
			t.Errorf("RunCompactor: %v", err)
		}
	}
	readsAll(t, store, h22, h22.Add(4*time.Hour), recs)
	if !strings.Contains(logs.String(), "prediction log compacted") {
		t.Errorf("logs: got %q, want the compaction reported", logs.String())
	}
	if err := predlog.RunCompactor(ctx, store, nil, "a", predlog.CompactorOptions{}); tripcast.ErrorCode(err) != tripcast.EINVALID {
		t.Errorf("without a leaser: got %v, want %s", err, tripcast.EINVALID)
	}
}
