// Package sqlstoretest gives tests fresh, throw-away metadata databases on
// every engine sqlstore supports: a SQLite file in a temp dir, and a
// PostgreSQL schema t_<random> on the test server, dropped at the end.
package sqlstoretest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tripcast/internal/testenv"
	"tripcast/sqlstore"
)

// PostgresURL is the test server: env TRIPCAST_TEST_POSTGRES, else the
// machine's PostgreSQL (trust auth, user postgres, database test).
func PostgresURL() string {
	if u := os.Getenv("TRIPCAST_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// Engine names an engine and returns the URL of a fresh, empty database on
// it, removed when the test ends.
type Engine struct {
	Name  string
	Fresh func(t testing.TB) string
}

// Engines are every engine, for conformance suites.
var Engines = []Engine{
	{"sqlite", FreshSQLite},
	{"postgres", FreshPostgres},
}

// ForEach runs fn as one subtest per engine.
func ForEach(t *testing.T, fn func(t *testing.T, e Engine)) {
	for _, e := range Engines {
		t.Run(e.Name, func(t *testing.T) { fn(t, e) })
	}
}

// FreshSQLite returns the URL of a new SQLite file in a temp dir.
func FreshSQLite(t testing.TB) string {
	return "sqlite://" + filepath.ToSlash(filepath.Join(t.TempDir(), "tripcast.db"))
}

// FreshPostgres creates a schema t_<random>, returns a URL whose
// search_path selects it, and drops it when the test ends. It skips the
// test when the server is unreachable, unless CI=true (then it fails).
func FreshPostgres(t testing.TB) string {
	t.Helper()
	base := PostgresURL()
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { admin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		testenv.SkipOrFail(t, "PostgreSQL at %s is unreachable (start it, see ENGINES.md): %v", base, err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

// MustOpen opens url and closes it when the test ends.
func MustOpen(t testing.TB, url string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), url, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return db
}
