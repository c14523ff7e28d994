package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"tripcast"
)

var _ tripcast.PipelineStore = (*DB)(nil)

// CreatePipelineRun stores r unless its ID exists. See
// tripcast.PipelineStore.
func (db *DB) CreatePipelineRun(ctx context.Context, r *tripcast.PipelineRun) (bool, error) {
	switch {
	case r.ID == "":
		return false, tripcast.FieldError("run", "id must not be empty")
	case r.Pipeline == "":
		return false, tripcast.FieldError("pipeline", "must not be empty")
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = db.now().UTC()
	}
	if r.Status == "" {
		r.Status = tripcast.PipelineQueued
	}
	params, err := jsonMap(r.Params)
	if err != nil {
		return false, err
	}
	res, err := db.plain().exec(ctx, `INSERT INTO pipeline_runs (id, pipeline, logical_date, trigger_kind, params, status, error, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		r.ID, r.Pipeline, micros(r.LogicalDate), r.Trigger, params, r.Status, r.Error, micros(r.CreatedAt))
	if err != nil {
		return false, fmt.Errorf("create pipeline run %s: %w", r.ID, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

const pipelineRunCols = `id, pipeline, logical_date, trigger_kind, params, status, error, created_at, started_at, ended_at`

func scanPipelineRun(sc interface{ Scan(...any) error }) (*tripcast.PipelineRun, error) {
	var (
		r                tripcast.PipelineRun
		logical, created int64
		params           string
		started, ended   sql.NullInt64
	)
	if err := sc.Scan(&r.ID, &r.Pipeline, &logical, &r.Trigger, &params, &r.Status, &r.Error, &created, &started, &ended); err != nil {
		return nil, err
	}
	r.LogicalDate, r.CreatedAt = fromMicros(logical), fromMicros(created)
	r.StartedAt, r.EndedAt = nullTime(started), nullTime(ended)
	if err := json.Unmarshal([]byte(params), &r.Params); err != nil {
		return nil, fmt.Errorf("pipeline run %s: params: %w", r.ID, err)
	}
	return &r, nil
}

// GetPipelineRun returns a run with its steps. See tripcast.PipelineStore.
func (db *DB) GetPipelineRun(ctx context.Context, id string) (*tripcast.PipelineRun, error) {
	c := db.plain()
	r, err := scanPipelineRun(c.queryRow(ctx, `SELECT `+pipelineRunCols+` FROM pipeline_runs WHERE id = ?`, id))
	if err != nil {
		return nil, notFound(err, "pipeline run %q not found", id)
	}
	rows, err := c.query(ctx, `SELECT name, seq, status, attempts, job_id, error, outputs, started_at, ended_at
		FROM pipeline_steps WHERE run_id = ? ORDER BY seq, name`, id)
	if err != nil {
		return nil, fmt.Errorf("pipeline run %s: steps: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		s := tripcast.PipelineStep{RunID: id}
		var outputs string
		var started, ended sql.NullInt64
		if err := rows.Scan(&s.Name, &s.Seq, &s.Status, &s.Attempts, &s.JobID, &s.Error, &outputs, &started, &ended); err != nil {
			return nil, fmt.Errorf("pipeline run %s: steps: %w", id, err)
		}
		if err := json.Unmarshal([]byte(outputs), &s.Outputs); err != nil {
			return nil, fmt.Errorf("pipeline run %s: step %s: outputs: %w", id, s.Name, err)
		}
		s.StartedAt, s.EndedAt = nullTime(started), nullTime(ended)
		r.Steps = append(r.Steps, s)
	}
	return r, rows.Err()
}

// ListPipelineRuns returns the newest runs first. See
// tripcast.PipelineStore.
func (db *DB) ListPipelineRuns(ctx context.Context, pipeline string, limit int) ([]*tripcast.PipelineRun, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.plain().query(ctx, `SELECT `+pipelineRunCols+` FROM pipeline_runs
		WHERE ? = '' OR pipeline = ? ORDER BY created_at DESC, id DESC LIMIT ?`, pipeline, pipeline, limit)
	if err != nil {
		return nil, fmt.Errorf("list pipeline runs: %w", err)
	}
	defer rows.Close()
	var out []*tripcast.PipelineRun
	for rows.Next() {
		r, err := scanPipelineRun(rows)
		if err != nil {
			return nil, fmt.Errorf("list pipeline runs: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// SetPipelineRunStatus moves a run that has not ended. See
// tripcast.PipelineStore.
func (db *DB) SetPipelineRunStatus(ctx context.Context, id, status, errMsg string, at time.Time) (bool, error) {
	var started, ended any
	if status == tripcast.PipelineRunning {
		started = micros(at)
	}
	if tripcast.PipelineDone(status) {
		ended = micros(at)
	}
	res, err := db.plain().exec(ctx, `UPDATE pipeline_runs SET status = ?, error = ?,
		started_at = COALESCE(started_at, ?), ended_at = COALESCE(ended_at, ?)
		WHERE id = ? AND status NOT IN (?, ?, ?, ?)`,
		status, errMsg, started, ended, id,
		tripcast.PipelineSucceeded, tripcast.PipelineFailed, tripcast.PipelineCancelled, tripcast.PipelineSkipped)
	if err != nil {
		return false, fmt.Errorf("pipeline run %s: set status %s: %w", id, status, err)
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return n > 0, err
	}
	var s string
	if err := db.plain().queryRow(ctx, `SELECT status FROM pipeline_runs WHERE id = ?`, id).Scan(&s); err != nil {
		return false, notFound(err, "pipeline run %q not found", id)
	}
	return false, nil
}

// SavePipelineStep creates or replaces a step. See tripcast.PipelineStore.
func (db *DB) SavePipelineStep(ctx context.Context, s *tripcast.PipelineStep) error {
	outputs, err := jsonMap(s.Outputs)
	if err != nil {
		return err
	}
	_, err = db.plain().exec(ctx, `INSERT INTO pipeline_steps (run_id, name, seq, status, attempts, job_id, error, outputs, started_at, ended_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (run_id, name) DO UPDATE SET seq = excluded.seq, status = excluded.status, attempts = excluded.attempts,
		job_id = excluded.job_id, error = excluded.error, outputs = excluded.outputs, started_at = excluded.started_at, ended_at = excluded.ended_at`,
		s.RunID, s.Name, s.Seq, s.Status, s.Attempts, s.JobID, s.Error, outputs, timeOrNil(s.StartedAt), timeOrNil(s.EndedAt))
	if err != nil {
		return fmt.Errorf("pipeline run %s: save step %s: %w", s.RunID, s.Name, err)
	}
	return nil
}

func jsonMap(m map[string]string) (string, error) {
	if m == nil {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	return string(b), err
}

func nullTime(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func timeOrNil(t *time.Time) any {
	if t == nil {
		return nil
	}
	return micros(*t)
}
