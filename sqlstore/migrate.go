package sqlstore

import (
	"context"
	"fmt"
	"strings"
)

// migrations is the schema, one entry per version, applied in order and
// recorded in schema_migrations. Never edit an applied entry: append a new
// one. {{ID}} is replaced by the dialect's auto-increment primary key.
// Times are Unix microseconds (UTC) in both engines.
var migrations = []string{
	// 1: tracking, registry, checkpoints.
	`CREATE TABLE experiments (
		id {{ID}},
		name TEXT NOT NULL UNIQUE,
		created_at BIGINT NOT NULL
	);
	CREATE TABLE runs (
		id TEXT PRIMARY KEY,
		experiment_id BIGINT NOT NULL REFERENCES experiments(id),
		name TEXT NOT NULL,
		status TEXT NOT NULL,
		start_time BIGINT NOT NULL,
		end_time BIGINT,
		parent_id TEXT REFERENCES runs(id),
		feature_spec TEXT NOT NULL DEFAULT '',
		tripcast_version TEXT NOT NULL DEFAULT '',
		vcs_revision TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX runs_experiment_start ON runs(experiment_id, start_time);
	CREATE INDEX runs_parent ON runs(parent_id);
	CREATE TABLE run_params (
		run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		key TEXT NOT NULL,
		value TEXT NOT NULL,
		PRIMARY KEY (run_id, key)
	);
	CREATE TABLE run_metrics (
		run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		key TEXT NOT NULL,
		step BIGINT NOT NULL,
		ts BIGINT NOT NULL,
		value DOUBLE PRECISION
	);
	CREATE INDEX run_metrics_run_key_step ON run_metrics(run_id, key, step);
	CREATE TABLE run_latest_metrics (
		run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		key TEXT NOT NULL,
		step BIGINT NOT NULL,
		ts BIGINT NOT NULL,
		value DOUBLE PRECISION,
		PRIMARY KEY (run_id, key)
	);
	CREATE TABLE run_tags (
		run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		key TEXT NOT NULL,
		value TEXT NOT NULL,
		PRIMARY KEY (run_id, key)
	);
	CREATE TABLE run_artifacts (
		run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		name TEXT NOT NULL,
		uri TEXT NOT NULL,
		blob_key TEXT NOT NULL,
		sha256 TEXT NOT NULL,
		size BIGINT NOT NULL,
		PRIMARY KEY (run_id, name)
	);
	CREATE TABLE run_datasets (
		id {{ID}},
		run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		uri TEXT NOT NULL,
		sha256 TEXT NOT NULL,
		rows_count BIGINT NOT NULL DEFAULT 0,
		UNIQUE (run_id, uri, sha256)
	);
	CREATE TABLE registered_models (
		name TEXT PRIMARY KEY,
		last_version INTEGER NOT NULL DEFAULT 0,
		created_at BIGINT NOT NULL
	);
	CREATE TABLE model_versions (
		name TEXT NOT NULL REFERENCES registered_models(name),
		version INTEGER NOT NULL,
		run_id TEXT REFERENCES runs(id),
		artifact_uri TEXT NOT NULL,
		artifact_key TEXT NOT NULL,
		sha256 TEXT NOT NULL,
		size BIGINT NOT NULL,
		feature_spec TEXT NOT NULL DEFAULT '',
		metrics TEXT NOT NULL DEFAULT '{}',
		description TEXT NOT NULL DEFAULT '',
		created_at BIGINT NOT NULL,
		PRIMARY KEY (name, version)
	);
	CREATE TABLE model_aliases (
		name TEXT NOT NULL,
		alias TEXT NOT NULL,
		version INTEGER NOT NULL,
		updated_at BIGINT NOT NULL,
		PRIMARY KEY (name, alias),
		FOREIGN KEY (name, version) REFERENCES model_versions(name, version)
	);
	CREATE TABLE alias_history (
		id {{ID}},
		name TEXT NOT NULL REFERENCES registered_models(name),
		alias TEXT NOT NULL,
		from_version INTEGER NOT NULL,
		to_version INTEGER NOT NULL,
		is_rollback SMALLINT NOT NULL DEFAULT 0,
		reason TEXT NOT NULL,
		actor TEXT NOT NULL,
		at BIGINT NOT NULL
	);
	CREATE INDEX alias_history_name_alias ON alias_history(name, alias, id);
	CREATE TABLE stream_checkpoints (
		consumer TEXT NOT NULL,
		stream TEXT NOT NULL,
		shard TEXT NOT NULL,
		seq TEXT NOT NULL,
		updated_at BIGINT NOT NULL,
		PRIMARY KEY (consumer, stream, shard)
	)`,
	// 2: the prediction log (one row per ride and model version: a
	// redelivered event never adds a second row).
	`CREATE TABLE predictions (
		id {{ID}},
		ride_id TEXT NOT NULL,
		model TEXT NOT NULL,
		version TEXT NOT NULL,
		pu_location_id INTEGER NOT NULL,
		do_location_id INTEGER NOT NULL,
		trip_distance DOUBLE PRECISION NOT NULL,
		pickup_at BIGINT,
		prediction DOUBLE PRECISION NOT NULL,
		received_at BIGINT NOT NULL,
		predicted_at BIGINT NOT NULL,
		latency_us BIGINT NOT NULL,
		source TEXT NOT NULL,
		UNIQUE (ride_id, model, version)
	);
	CREATE INDEX predictions_predicted_at ON predictions(predicted_at)`,
	// 3: leases, so one of several processes runs a singleton job (see
	// TryLease). acquired_at is when the current holder took the lease.
	`CREATE TABLE leases (
		name TEXT PRIMARY KEY,
		holder TEXT NOT NULL,
		expires_at BIGINT NOT NULL,
		acquired_at BIGINT NOT NULL
	)`,
	// 4: ride_id's JSON type: true when it was a number, so that what is
	// read back from the log echoes it as it came (rows logged before
	// were taken as strings).
	`ALTER TABLE predictions ADD COLUMN ride_id_numeric BOOLEAN NOT NULL DEFAULT FALSE`,
	// 5: input_key (tripcast.PredictionRecord.InputKey) joins the unique
	// key, so a ride_id reused with other inputs is a row of its own; see
	// dialectMigrations.
	"",
	// 6: ground truth: one completion per ride_id (the first one read
	// wins), joined to the prediction log when read. received_at is when
	// tripcast read it; dropoff_at the event's dropoff wall clock (NULL when
	// it had none). IF NOT EXISTS: a test takes the schema back to version
	// 3 and migrates again.
	`CREATE TABLE IF NOT EXISTS ride_completions (
		ride_id TEXT PRIMARY KEY,
		ride_id_numeric BOOLEAN NOT NULL DEFAULT FALSE,
		duration DOUBLE PRECISION NOT NULL,
		dropoff_at BIGINT,
		received_at BIGINT NOT NULL,
		stream TEXT NOT NULL,
		stream_id TEXT NOT NULL
	);
	CREATE INDEX IF NOT EXISTS ride_completions_received_at ON ride_completions(received_at)`,
	// 7: pipeline history (see tripcast.PipelineStore); params and
	// outputs are JSON objects of strings.
	`CREATE TABLE IF NOT EXISTS pipeline_runs (
		id TEXT PRIMARY KEY,
		pipeline TEXT NOT NULL,
		logical_date BIGINT NOT NULL,
		trigger_kind TEXT NOT NULL,
		params TEXT NOT NULL DEFAULT '{}',
		status TEXT NOT NULL,
		error TEXT NOT NULL DEFAULT '',
		created_at BIGINT NOT NULL,
		started_at BIGINT,
		ended_at BIGINT
	);
	CREATE INDEX IF NOT EXISTS pipeline_runs_created ON pipeline_runs(created_at);
	CREATE TABLE IF NOT EXISTS pipeline_steps (
		run_id TEXT NOT NULL REFERENCES pipeline_runs(id) ON DELETE CASCADE,
		name TEXT NOT NULL,
		seq INTEGER NOT NULL,
		status TEXT NOT NULL,
		attempts INTEGER NOT NULL DEFAULT 0,
		job_id BIGINT NOT NULL DEFAULT 0,
		error TEXT NOT NULL DEFAULT '',
		outputs TEXT NOT NULL DEFAULT '{}',
		started_at BIGINT,
		ended_at BIGINT,
		PRIMARY KEY (run_id, name)
	)`,
	// 8: monitoring: one row per report window and summary figure (the
	// time series of the dashboard and Grafana), and the alert states.
	`CREATE TABLE IF NOT EXISTS monitor_figures (
		window_start BIGINT NOT NULL,
		window_end BIGINT NOT NULL,
		model TEXT NOT NULL,
		version TEXT NOT NULL,
		name TEXT NOT NULL,
		value DOUBLE PRECISION NOT NULL,
		PRIMARY KEY (model, version, name, window_start, window_end)
	);
	CREATE INDEX IF NOT EXISTS monitor_figures_start ON monitor_figures(window_start);
	CREATE TABLE IF NOT EXISTS monitor_alerts (
		model TEXT NOT NULL,
		rule TEXT NOT NULL,
		firing BOOLEAN NOT NULL,
		since BIGINT NOT NULL,
		PRIMARY KEY (model, rule)
	)`,
}

// dialectMigrations replace the entries of migrations that differ by
// engine: version -> dialect name -> script.
var dialectMigrations = map[int]map[string]string{
	// 5: the unique key becomes (ride_id, model, version, input_key). Rows
	// logged before keep input_key 0, which no record's InputKey equals:
	// such a row never counts as the prior of a new record.
	5: {
		// A UNIQUE constraint in CREATE TABLE cannot be dropped on SQLite:
		// the table is rebuilt (ids kept: INTEGER PRIMARY KEY is the rowid).
		"sqlite": `CREATE TABLE predictions_v5 (
			id INTEGER PRIMARY KEY,
			ride_id TEXT NOT NULL,
			model TEXT NOT NULL,
			version TEXT NOT NULL,
			pu_location_id INTEGER NOT NULL,
			do_location_id INTEGER NOT NULL,
			trip_distance DOUBLE PRECISION NOT NULL,
			pickup_at BIGINT,
			prediction DOUBLE PRECISION NOT NULL,
			received_at BIGINT NOT NULL,
			predicted_at BIGINT NOT NULL,
			latency_us BIGINT NOT NULL,
			source TEXT NOT NULL,
			ride_id_numeric BOOLEAN NOT NULL DEFAULT FALSE,
			input_key BIGINT NOT NULL DEFAULT 0
		);
		INSERT INTO predictions_v5 (id, ride_id, model, version, pu_location_id, do_location_id, trip_distance, pickup_at,
			prediction, received_at, predicted_at, latency_us, source, ride_id_numeric)
			SELECT id, ride_id, model, version, pu_location_id, do_location_id, trip_distance, pickup_at,
			prediction, received_at, predicted_at, latency_us, source, ride_id_numeric FROM predictions;
		DROP TABLE predictions;
		ALTER TABLE predictions_v5 RENAME TO predictions;
		CREATE UNIQUE INDEX predictions_key ON predictions(ride_id, model, version, input_key);
		CREATE INDEX predictions_predicted_at ON predictions(predicted_at)`,
		"postgres": `ALTER TABLE predictions ADD COLUMN input_key BIGINT NOT NULL DEFAULT 0;
		ALTER TABLE predictions DROP CONSTRAINT predictions_ride_id_model_version_key;
		CREATE UNIQUE INDEX predictions_key ON predictions(ride_id, model, version, input_key)`,
	},
}

// migrate applies the migrations the database lacks, in one transaction
// that other migrating processes wait for.
func (db *DB) migrate(ctx context.Context) error {
	return db.inTx(ctx, func(c conn) error {
		if db.d.lockAll != "" {
			if _, err := c.exec(ctx, db.d.lockAll); err != nil {
				return fmt.Errorf("lock: %w", err)
			}
		}
		if _, err := c.exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY,
			applied_at BIGINT NOT NULL
		)`); err != nil {
			return fmt.Errorf("schema_migrations: %w", err)
		}
		var current int
		if err := c.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return fmt.Errorf("schema version: %w", err)
		}
		if current > len(migrations) {
			return fmt.Errorf("database schema version %d is newer than this tripcast's (%d): upgrade tripcast", current, len(migrations))
		}
		for v := current + 1; v <= len(migrations); v++ {
			script := migrations[v-1]
			if m, ok := dialectMigrations[v]; ok {
				script = m[db.d.name]
			}
			script = strings.ReplaceAll(script, "{{ID}}", db.d.autoID)
			for _, stmt := range strings.Split(script, ";") {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if _, err := c.exec(ctx, stmt); err != nil {
					return fmt.Errorf("migration %d: %w", v, err)
				}
			}
			if _, err := c.exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, micros(db.now())); err != nil {
				return fmt.Errorf("migration %d: record: %w", v, err)
			}
			db.log.Info("applied schema migration", "db", db.url, "version", v)
		}
		return nil
	})
}
