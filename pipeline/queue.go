package pipeline

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // the "sqlite" driver
)

// OpenSQLite opens the engine on River's tables in the SQLite file at path
// (tripcast's metadata database: one file holds both), applying River's
// migrations. River gets its own connection (SQLite allows one writer;
// River's driver wants a pool of one), whose transactions take the write
// lock at once and wait for other writers.
func OpenSQLite(ctx context.Context, path string, cfg Config) (*Engine, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("pipeline queue: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(30000)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("pipeline queue: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	e, err := open(ctx, riversqlite.New(db), cfg, true)
	if err != nil {
		db.Close()
		return nil, err
	}
	e.closer = db.Close
	return e, nil
}

// OpenPostgres opens the engine on River's tables in the PostgreSQL
// database at dbURL (the schema its search_path names), applying River's
// migrations (one process at a time). Workers are told of new jobs at once
// (LISTEN/NOTIFY).
func OpenPostgres(ctx context.Context, dbURL string, cfg Config) (*Engine, error) {
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return nil, fmt.Errorf("pipeline queue: %w", err)
	}
	// Two processes starting together would both create River's tables:
	// a session lock makes the second wait for the first.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("pipeline queue: %w", err)
	}
	const lockKey = 7283746502
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockKey); err != nil {
		conn.Release()
		pool.Close()
		return nil, fmt.Errorf("pipeline queue: lock for migrations: %w", err)
	}
	e, err := open(ctx, riverpgxv5.New(pool), cfg, false)
	_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", lockKey)
	conn.Release()
	if err != nil {
		pool.Close()
		return nil, err
	}
	e.closer = func() error { pool.Close(); return nil }
	return e, nil
}

// open migrates River's schema and makes the client: with workers, queues
// and schedules when cfg.Workers > 0, else one that only enqueues.
func open[TTx any](ctx context.Context, driver riverdriver.Driver[TTx], cfg Config, pollOnly bool) (*Engine, error) {
	cfg.defaults()
	if cfg.Store == nil {
		return nil, fmt.Errorf("pipeline: no store")
	}
	m, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("pipeline queue: %w", err)
	}
	if err := migrate(ctx, m); err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, log: cfg.Logger}
	rc := &river.Config{
		Logger:               cfg.Logger,
		PollOnly:             pollOnly,
		FetchPollInterval:    cfg.PollInterval,
		FetchCooldown:        min(100*time.Millisecond, cfg.PollInterval),
		JobTimeout:           cfg.StepTimeout,
		RescueStuckJobsAfter: cfg.RescueAfter,
		MaxAttempts:          maxAttempts,
	}
	if cfg.Workers > 0 {
		rc.Workers = e.workers()
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}}
		if rc.PeriodicJobs, err = e.periodicJobs(); err != nil {
			return nil, err
		}
	}
	c, err := river.NewClient(driver, rc)
	if err != nil {
		return nil, fmt.Errorf("pipeline queue: %w", err)
	}
	e.q = c
	if cfg.Workers > 0 {
		if err := c.Start(ctx); err != nil {
			return nil, fmt.Errorf("pipeline workers: %w", err)
		}
	}
	return e, nil
}

// migrate applies River's migrations. Two processes opening one new SQLite
// file at once may both try to create River's tables: the loser's
// transaction fails and rolls back, and it tries again, finding them made.
// (On PostgreSQL an advisory lock serializes migrators first.)
func migrate[TTx any](ctx context.Context, m *rivermigrate.Migrator[TTx]) error {
	for attempt := 1; ; attempt++ {
		_, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
		if err == nil {
			return nil
		}
		if attempt == 5 || ctx.Err() != nil {
			return fmt.Errorf("pipeline queue: migrate: %w", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
}
