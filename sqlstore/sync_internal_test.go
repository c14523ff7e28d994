package sqlstore

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// TestSQLiteSynchronous: the registry's handle commits with fsync (FULL,
// 2), the prediction log's without (NORMAL, 1), on the same file, which
// both see in WAL mode.
func TestSQLiteSynchronous(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite://"+filepath.ToSlash(filepath.Join(t.TempDir(), "m.db")), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
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
