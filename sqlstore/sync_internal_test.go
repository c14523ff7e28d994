package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"tripcast"
)

// openTempSQLite opens a new SQLite database in a temporary folder, closed
// when the test ends.
func openTempSQLite(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), "sqlite://"+filepath.ToSlash(filepath.Join(t.TempDir(), "m.db")), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestSQLiteSynchronous: the registry's handle commits with fsync (FULL,
// 2), the prediction log's without (NORMAL, 1), on the same file, which
// both see in WAL mode.
func TestSQLiteSynchronous(t *testing.T) {
	ctx := context.Background()
	db := openTempSQLite(t)
	var full, normal int
	if err := db.db.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&full); err != nil {
		t.Fatal(err)
	}
	if err := db.logdb.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&normal); err != nil {
		t.Fatal(err)
	}
	if full != 2 || normal != 1 {
		t.Errorf("synchronous: registry handle %d, prediction log handle %d; want 2 (FULL) and 1 (NORMAL)", full, normal)
	}
	for name, h := range map[string]*sql.DB{"registry": db.db, "prediction log": db.logdb} {
		var mode string
		if err := h.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" {
			t.Errorf("%s handle: journal_mode %q, want wal", name, mode)
		}
	}
	if db.logdb == db.db {
		t.Error("the prediction log shares the registry's handle")
	}
}

// TestSQLiteCheckpoints: the prediction log's handle never checkpoints in
// a commit; the background loop copies its WAL into the database file.
func TestSQLiteCheckpoints(t *testing.T) {
	ctx := context.Background()
	db := openTempSQLite(t)
	var auto int
	if err := db.logdb.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&auto); err != nil {
		t.Fatal(err)
	}
	if auto != 0 {
		t.Errorf("prediction log handle: wal_autocheckpoint %d, want 0", auto)
	}
	now := time.Now()
	recs := make([]tripcast.PredictionRecord, 500)
	for i := range recs {
		recs[i] = tripcast.PredictionRecord{RideID: fmt.Sprint("r", i), Model: "m", Version: "1", PULocationID: 1,
			DOLocationID: 2, TripDistance: 1, Prediction: 10, ReceivedAt: now, PredictedAt: now, Source: "test"}
	}
	if n, err := db.LogPredictions(ctx, recs); err != nil || n != len(recs) {
		t.Fatalf("LogPredictions: %d, %v", n, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for db.walCopied.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no WAL frame copied by the checkpoint loop in 20 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
