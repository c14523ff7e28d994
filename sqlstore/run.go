package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"tripcast"
)

// CreateExperiment creates an experiment. ECONFLICT when the name is taken.
func (db *DB) CreateExperiment(ctx context.Context, name string) (*tripcast.Experiment, error) {
	if name == "" {
		return nil, tripcast.FieldError("experiment", "must not be empty")
	}
	e := &tripcast.Experiment{Name: name, CreatedAt: fromMicros(micros(db.now()))}
	err := db.inTx(ctx, func(c conn) error {
		res, err := c.exec(ctx, `INSERT INTO experiments (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`,
			name, micros(e.CreatedAt))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return tripcast.Errorf(tripcast.ECONFLICT, "experiment %q already exists", name)
		}
		return c.queryRow(ctx, `SELECT id FROM experiments WHERE name = ?`, name).Scan(&e.ID)
	})
	if err != nil {
		return nil, fmt.Errorf("create experiment %q: %w", name, err)
	}
	return e, nil
}

// GetExperimentByName returns an experiment. ENOTFOUND when none has that
// name.
func (db *DB) GetExperimentByName(ctx context.Context, name string) (*tripcast.Experiment, error) {
	e := &tripcast.Experiment{Name: name}
	var created int64
	err := db.plain().queryRow(ctx, `SELECT id, created_at FROM experiments WHERE name = ?`, name).Scan(&e.ID, &created)
	if err != nil {
		return nil, notFound(err, "experiment %q not found", name)
	}
	e.CreatedAt = fromMicros(created)
	return e, nil
}

// CreateRun inserts a run. See tripcast.RunStore.
func (db *DB) CreateRun(ctx context.Context, r *tripcast.Run) error {
	switch {
	case r.ID == "":
		return tripcast.FieldError("run_id", "must not be empty")
	case !r.Status.Valid():
		return tripcast.FieldError("status", "%q is not RUNNING, FINISHED, FAILED or KILLED", r.Status)
	}
	err := db.inTx(ctx, func(c conn) error {
		var expID int64
		if err := c.queryRow(ctx, `SELECT id FROM experiments WHERE name = ?`, r.Experiment).Scan(&expID); err != nil {
			return notFound(err, "experiment %q not found", r.Experiment)
		}
		var parent any
		if r.ParentID != "" {
			if err := runExists(ctx, c, r.ParentID); err != nil {
				return fmt.Errorf("parent: %w", err)
			}
			parent = r.ParentID
		}
		var end any
		if !r.EndTime.IsZero() {
			end = micros(r.EndTime)
		}
		res, err := c.exec(ctx, `INSERT INTO runs (id, experiment_id, name, status, start_time, end_time, parent_id,
				feature_spec, tripcast_version, vcs_revision)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			r.ID, expID, r.Name, string(r.Status), micros(r.StartTime), end, parent,
			r.FeatureSpec, r.TripcastVersion, r.VCSRevision)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return tripcast.Errorf(tripcast.ECONFLICT, "run %s already exists", r.ID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create run %s: %w", r.ID, err)
	}
	return nil
}

// runExists returns ENOTFOUND when run id does not exist.
func runExists(ctx context.Context, c conn, id string) error {
	var one int
	err := c.queryRow(ctx, `SELECT 1 FROM runs WHERE id = ?`, id).Scan(&one)
	return notFound(err, "run %s not found", id)
}

// LogParams records write-once parameters. See tripcast.RunStore.
func (db *DB) LogParams(ctx context.Context, runID string, params map[string]string) error {
	if len(params) == 0 {
		return nil
	}
	err := db.inTx(ctx, func(c conn) error {
		if err := runExists(ctx, c, runID); err != nil {
			return err
		}
		for _, k := range slices.Sorted(maps.Keys(params)) {
			v := params[k]
			var old string
			err := c.queryRow(ctx, `SELECT value FROM run_params WHERE run_id = ? AND key = ?`, runID, k).Scan(&old)
			switch {
			case err == nil && old == v:
				continue
			case err == nil:
				return tripcast.Errorf(tripcast.ECONFLICT, "param %q is already %q: params are write-once, cannot set %q", k, old, v)
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
			if _, err := c.exec(ctx, `INSERT INTO run_params (run_id, key, value) VALUES (?, ?, ?)`, runID, k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("log params of run %s: %w", runID, err)
	}
	return nil
}

// metricChunk is the number of metric rows per INSERT statement: 5
// parameters each, well under SQLite's 32766 and PostgreSQL's 65535
// parameter limits, and large enough that 10,000 points take 20 round trips.
const metricChunk = 500

// LogMetrics records a batch of metric points in one transaction: multi-row
// INSERTs of metricChunk rows through one prepared statement (one parse per
// batch), then one upsert per key into run_latest_metrics.
func (db *DB) LogMetrics(ctx context.Context, runID string, metrics []tripcast.Metric) error {
	if len(metrics) == 0 {
		return nil
	}
	for i := range metrics {
		if metrics[i].Key == "" {
			return tripcast.FieldError("metric", "point %d has an empty key", i)
		}
	}
	err := db.inTx(ctx, func(c conn) error {
		if err := runExists(ctx, c, runID); err != nil {
			return err
		}
		if c.d.arrays {
			// PostgreSQL: the whole batch as four array parameters, one
			// statement; 2-3x faster than multi-row VALUES here.
			keys, steps, ts, vals := make([]string, len(metrics)), make([]int64, len(metrics)), make([]int64, len(metrics)), make([]float64, len(metrics))
			for i, m := range metrics {
				keys[i], steps[i], ts[i], vals[i] = m.Key, m.Step, micros(m.Timestamp), m.Value
			}
			if _, err := c.exec(ctx, `INSERT INTO run_metrics (run_id, key, step, ts, value)
				SELECT ?, k, s, t, v FROM unnest(?::text[], ?::bigint[], ?::bigint[], ?::float8[]) AS u(k, s, t, v)`,
				runID, keys, steps, ts, vals); err != nil {
				return err
			}
			return upsertLatest(ctx, c, runID, metrics)
		}
		var full *sql.Stmt
		args := make([]any, 0, metricChunk*5)
		for start := 0; start < len(metrics); start += metricChunk {
			chunk := metrics[start:min(start+metricChunk, len(metrics))]
			args = args[:0]
			for _, m := range chunk {
				args = append(args, runID, m.Key, m.Step, micros(m.Timestamp), metricValue(m.Value))
			}
			if len(chunk) < metricChunk {
				if _, err := c.exec(ctx, metricInsert(len(chunk)), args...); err != nil {
					return err
				}
				continue
			}
			if full == nil {
				var err error
				if full, err = c.tx.PrepareContext(ctx, c.d.rebind(metricInsert(metricChunk))); err != nil {
					return err
				}
				defer full.Close()
			}
			if _, err := full.ExecContext(ctx, args...); err != nil {
				return err
			}
		}
		return upsertLatest(ctx, c, runID, metrics)
	})
	if err != nil {
		return fmt.Errorf("log %d metric points of run %s: %w", len(metrics), runID, err)
	}
	return nil
}

// upsertLatest keeps run_latest_metrics at the latest point per key:
// highest step, then latest time.
func upsertLatest(ctx context.Context, c conn, runID string, metrics []tripcast.Metric) error {
	latest := map[string]tripcast.Metric{}
	for _, m := range metrics {
		if l, ok := latest[m.Key]; !ok || m.Step > l.Step || (m.Step == l.Step && !m.Timestamp.Before(l.Timestamp)) {
			latest[m.Key] = m
		}
	}
	for _, k := range slices.Sorted(maps.Keys(latest)) {
		m := latest[k]
		if _, err := c.exec(ctx, `INSERT INTO run_latest_metrics (run_id, key, step, ts, value) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (run_id, key) DO UPDATE SET step = excluded.step, ts = excluded.ts, value = excluded.value
			WHERE excluded.step > run_latest_metrics.step
				OR (excluded.step = run_latest_metrics.step AND excluded.ts >= run_latest_metrics.ts)`,
			runID, k, m.Step, micros(m.Timestamp), metricValue(m.Value)); err != nil {
			return err
		}
	}
	return nil
}

// metricInsert returns the INSERT of n metric rows, with ? placeholders.
func metricInsert(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO run_metrics (run_id, key, step, ts, value) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?)")
	}
	return b.String()
}

// metricValue stores NaN as NULL (SQLite cannot hold NaN).
func metricValue(v float64) any {
	if math.IsNaN(v) {
		return nil
	}
	return v
}

// SetTags sets tags. See tripcast.RunStore.
func (db *DB) SetTags(ctx context.Context, runID string, tags map[string]string) error {
	if len(tags) == 0 {
		return nil
	}
	err := db.inTx(ctx, func(c conn) error {
		if err := runExists(ctx, c, runID); err != nil {
			return err
		}
		for _, k := range slices.Sorted(maps.Keys(tags)) {
			if _, err := c.exec(ctx, `INSERT INTO run_tags (run_id, key, value) VALUES (?, ?, ?)
				ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value`, runID, k, tags[k]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set tags of run %s: %w", runID, err)
	}
	return nil
}

// LogArtifact records an artifact. See tripcast.RunStore.
func (db *DB) LogArtifact(ctx context.Context, runID string, a tripcast.Artifact) error {
	if a.Name == "" {
		return tripcast.FieldError("artifact", "name must not be empty")
	}
	err := db.inTx(ctx, func(c conn) error {
		if err := runExists(ctx, c, runID); err != nil {
			return err
		}
		_, err := c.exec(ctx, `INSERT INTO run_artifacts (run_id, name, uri, blob_key, sha256, size) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (run_id, name) DO UPDATE SET uri = excluded.uri, blob_key = excluded.blob_key,
				sha256 = excluded.sha256, size = excluded.size`,
			runID, a.Name, a.URI, a.Key, a.SHA256, a.Size)
		return err
	})
	if err != nil {
		return fmt.Errorf("log artifact %q of run %s: %w", a.Name, runID, err)
	}
	return nil
}

// AddDatasetInput records a dataset the run read. See tripcast.RunStore.
func (db *DB) AddDatasetInput(ctx context.Context, runID string, d tripcast.DatasetInput) error {
	if d.URI == "" {
		return tripcast.FieldError("dataset", "URI must not be empty")
	}
	err := db.inTx(ctx, func(c conn) error {
		if err := runExists(ctx, c, runID); err != nil {
			return err
		}
		_, err := c.exec(ctx, `INSERT INTO run_datasets (run_id, uri, sha256, rows_count) VALUES (?, ?, ?, ?)
			ON CONFLICT (run_id, uri, sha256) DO NOTHING`, runID, d.URI, d.SHA256, d.Rows)
		return err
	})
	if err != nil {
		return fmt.Errorf("add dataset %s to run %s: %w", d.URI, runID, err)
	}
	return nil
}

// EndRun ends a RUNNING run. See tripcast.RunStore.
func (db *DB) EndRun(ctx context.Context, runID string, status tripcast.RunStatus, end time.Time) error {
	if !status.Terminal() {
		return tripcast.FieldError("status", "%q is not FINISHED, FAILED or KILLED", status)
	}
	err := db.inTx(ctx, func(c conn) error {
		var cur string
		if err := c.queryRow(ctx, `SELECT status FROM runs WHERE id = ?`+c.d.forUpdate, runID).Scan(&cur); err != nil {
			return notFound(err, "run %s not found", runID)
		}
		if cur != string(tripcast.RunRunning) {
			return tripcast.Errorf(tripcast.ECONFLICT, "run %s already ended (%s)", runID, cur)
		}
		_, err := c.exec(ctx, `UPDATE runs SET status = ?, end_time = ? WHERE id = ?`, string(status), micros(end), runID)
		return err
	})
	if err != nil {
		return fmt.Errorf("end run %s: %w", runID, err)
	}
	return nil
}

const runColumns = `r.id, e.name, r.name, r.status, r.start_time, r.end_time, r.parent_id,
	r.feature_spec, r.tripcast_version, r.vcs_revision`

func scanRun(s interface{ Scan(...any) error }) (*tripcast.Run, error) {
	r := &tripcast.Run{}
	var status string
	var start int64
	var end sql.NullInt64
	var parent sql.NullString
	if err := s.Scan(&r.ID, &r.Experiment, &r.Name, &status, &start, &end, &parent,
		&r.FeatureSpec, &r.TripcastVersion, &r.VCSRevision); err != nil {
		return nil, err
	}
	r.Status = tripcast.RunStatus(status)
	r.StartTime = fromMicros(start)
	if end.Valid {
		r.EndTime = fromMicros(end.Int64)
	}
	r.ParentID = parent.String
	return r, nil
}

// GetRun returns a run with everything logged to it. ENOTFOUND when it does
// not exist.
func (db *DB) GetRun(ctx context.Context, runID string) (*tripcast.Run, error) {
	c := db.plain()
	r, err := scanRun(c.queryRow(ctx, `SELECT `+runColumns+` FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE r.id = ?`, runID))
	if err != nil {
		return nil, fmt.Errorf("get run %s: %w", runID, notFound(err, "run %s not found", runID))
	}
	if r.Params, err = db.keyValues(ctx, `SELECT key, value FROM run_params WHERE run_id = ?`, runID); err != nil {
		return nil, fmt.Errorf("get run %s: params: %w", runID, err)
	}
	if r.Tags, err = db.keyValues(ctx, `SELECT key, value FROM run_tags WHERE run_id = ?`, runID); err != nil {
		return nil, fmt.Errorf("get run %s: tags: %w", runID, err)
	}
	if r.Metrics, err = db.metrics(ctx, `SELECT key, value, step, ts FROM run_latest_metrics WHERE run_id = ? ORDER BY key`, runID); err != nil {
		return nil, fmt.Errorf("get run %s: metrics: %w", runID, err)
	}
	rows, err := c.query(ctx, `SELECT name, uri, blob_key, sha256, size FROM run_artifacts WHERE run_id = ? ORDER BY name`, runID)
	if err != nil {
		return nil, fmt.Errorf("get run %s: artifacts: %w", runID, err)
	}
	for rows.Next() {
		var a tripcast.Artifact
		if err := rows.Scan(&a.Name, &a.URI, &a.Key, &a.SHA256, &a.Size); err != nil {
			rows.Close()
			return nil, fmt.Errorf("get run %s: artifacts: %w", runID, err)
		}
		r.Artifacts = append(r.Artifacts, a)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("get run %s: artifacts: %w", runID, err)
	}
	rows, err = c.query(ctx, `SELECT uri, sha256, rows_count FROM run_datasets WHERE run_id = ? ORDER BY id`, runID)
	if err != nil {
		return nil, fmt.Errorf("get run %s: datasets: %w", runID, err)
	}
	for rows.Next() {
		var d tripcast.DatasetInput
		if err := rows.Scan(&d.URI, &d.SHA256, &d.Rows); err != nil {
			rows.Close()
			return nil, fmt.Errorf("get run %s: datasets: %w", runID, err)
		}
		r.Datasets = append(r.Datasets, d)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("get run %s: datasets: %w", runID, err)
	}
	return r, nil
}

// closeRows closes rows and returns the iteration error, if any.
func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}

// keyValues reads (key, value) rows into a map (nil when there are none).
func (db *DB) keyValues(ctx context.Context, query string, args ...any) (map[string]string, error) {
	rows, err := db.plain().query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var m map[string]string
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			rows.Close()
			return nil, err
		}
		if m == nil {
			m = map[string]string{}
		}
		m[k] = v
	}
	return m, closeRows(rows)
}

// metrics reads (key, value, step, ts) rows.
func (db *DB) metrics(ctx context.Context, query string, args ...any) ([]tripcast.Metric, error) {
	rows, err := db.plain().query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var out []tripcast.Metric
	for rows.Next() {
		var m tripcast.Metric
		var v sql.NullFloat64
		var ts int64
		if err := rows.Scan(&m.Key, &v, &m.Step, &ts); err != nil {
			rows.Close()
			return nil, err
		}
		m.Value = math.NaN()
		if v.Valid {
			m.Value = v.Float64
		}
		m.Timestamp = fromMicros(ts)
		out = append(out, m)
	}
	return out, closeRows(rows)
}

// ListRuns returns runs matching f, newest first. See tripcast.RunStore.
func (db *DB) ListRuns(ctx context.Context, f tripcast.RunFilter) ([]*tripcast.Run, error) {
	q := `SELECT ` + runColumns + ` FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE 1 = 1`
	var args []any
	if f.Experiment != "" {
		q += ` AND e.name = ?`
		args = append(args, f.Experiment)
	}
	if f.ParentID != "" {
		q += ` AND r.parent_id = ?`
		args = append(args, f.ParentID)
	}
	if f.Status != "" {
		q += ` AND r.status = ?`
		args = append(args, string(f.Status))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q += ` ORDER BY r.start_time DESC, r.id DESC LIMIT ?`
	args = append(args, limit)
	rows, err := db.plain().query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	var out []*tripcast.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list runs: %w", err)
		}
		out = append(out, r)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	return out, nil
}

// MetricHistory returns every point of one metric. See tripcast.RunStore.
func (db *DB) MetricHistory(ctx context.Context, runID, key string) ([]tripcast.Metric, error) {
	if err := runExists(ctx, db.plain(), runID); err != nil {
		return nil, fmt.Errorf("metric history of run %s: %w", runID, err)
	}
	out, err := db.metrics(ctx, `SELECT key, value, step, ts FROM run_metrics WHERE run_id = ? AND key = ? ORDER BY step, ts`, runID, key)
	if err != nil {
		return nil, fmt.Errorf("metric history %q of run %s: %w", key, runID, err)
	}
	if out == nil {
		out = []tripcast.Metric{}
	}
	return out, nil
}
