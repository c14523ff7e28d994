// Package pipeline runs tripcast's pipelines (train, batch, monitor) on
// River, a job queue in the metadata database: SQLite with in-process
// workers by default, PostgreSQL with any number of worker processes.
//
// A pipeline run is a sequence of steps; each step is one typed River job
// (a JobArgs carrying the run it belongs to) and, when it succeeds, inserts
// the next step's job. A step's status, attempts, error and outputs are
// recorded in the metadata database (tripcast.PipelineStore) as it goes,
// so that a retried step finds what the earlier steps produced, and a step
// that already succeeded is never done twice. Jobs are unique by their
// arguments: a step of a run is enqueued once however often the previous
// step is retried.
package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"tripcast"
	"tripcast/tracking"
)

// The pipelines.
const (
	Train   = "train"
	Batch   = "batch"
	Monitor = "monitor"
)

// Names lists the pipelines.
var Names = []string{Train, Batch, Monitor}

// DefaultSchedules are the cron schedules (UTC) of the pipelines: train
// weekly (Monday 04:00), monitor daily (05:00), batch monthly on day 2 at
// 03:00 as the course does.
var DefaultSchedules = map[string]string{
	Train:   "0 4 * * 1",
	Monitor: "0 5 * * *",
	Batch:   "0 3 2 * *",
}

// TrainConfig tunes the train pipeline.
type TrainConfig struct {
	// TrainOffset and ValidOffset are how many months before the logical
	// date's month the training and validation months are (4 and 3 when
	// zero, as the Airflow DAG did).
	TrainOffset, ValidOffset int
	// MaxRMSE is the absolute gate: a candidate whose validation RMSE is
	// above it is never champion (10 minutes when zero).
	MaxRMSE float64
	// Margin is how much better than the champion a candidate must be, as
	// a fraction of the champion's RMSE on the same validation data (0:
	// strictly lower is enough).
	Margin float64
	// Params are gbdt parameters (XGBoost names).
	Params map[string]string
}

// MonitorFunc makes the monitoring report of the window ending at the
// logical date and returns what it produced (report key, alerts...). It
// is the hook the monitor package plugs into.
type MonitorFunc func(ctx context.Context, run *tripcast.PipelineRun) (map[string]string, error)

// Config is what the engine works with.
type Config struct {
	Store     tripcast.PipelineStore
	Blob      tripcast.BlobStore
	Tracker   *tracking.Tracker // registry and runs (with the blob store)
	ModelName string            // tripcast.DefaultModelName when ""
	Color     string            // taxi color of the months; "green" when ""
	BaseURL   string            // TLC trip-data site for months not stored; tlc.DefaultBaseURL when ""
	TempDir   string            // downloads go here; os.TempDir() when ""
	Train     TrainConfig

	// Monitor makes the monitor pipeline's report; nil: the step is
	// recorded as skipped (monitoring not configured).
	Monitor MonitorFunc
	// OnFailure is told about each run that failed (after its retries);
	// alerts plug in here.
	OnFailure func(ctx context.Context, run *tripcast.PipelineRun)

	// Workers is how many steps this process runs at once; 0 makes a
	// client that only enqueues (a CLI command), with no schedules.
	Workers int
	// Schedules are cron expressions (5 fields, UTC) by pipeline; a
	// pipeline absent or "off" is not scheduled. Only processes with
	// workers schedule, and of those only the elected leader.
	Schedules map[string]string
	// Retries is how many times a failed step is tried again (1 when
	// zero, -1 for none), RetryDelay after each failure (5 minutes when
	// zero).
	Retries    int
	RetryDelay time.Duration
	// StepTimeout bounds a step (2 hours when zero); RescueAfter is when a
	// step whose worker vanished (killed) is run again by another (3 hours
	// when zero; it must exceed StepTimeout).
	StepTimeout, RescueAfter time.Duration
	// PollInterval is how often workers look for jobs on SQLite, which
	// has no notifications (1 s when zero).
	PollInterval time.Duration

	Logger *slog.Logger
	Now    func() time.Time
}

func (c *Config) defaults() {
	if c.ModelName == "" {
		c.ModelName = tripcast.DefaultModelName
	}
	if c.Color == "" {
		c.Color = "green"
	}
	if c.Train.TrainOffset == 0 {
		c.Train.TrainOffset = 4
	}
	if c.Train.ValidOffset == 0 {
		c.Train.ValidOffset = 3
	}
	if c.Train.MaxRMSE == 0 {
		c.Train.MaxRMSE = 10
	}
	if c.Retries == 0 {
		c.Retries = 1
	} else if c.Retries < 0 {
		c.Retries = 0
	}
	if c.RetryDelay == 0 {
		c.RetryDelay = 5 * time.Minute
	}
	if c.StepTimeout == 0 {
		c.StepTimeout = 2 * time.Hour
	}
	if c.RescueAfter == 0 {
		c.RescueAfter = max(3*time.Hour, c.StepTimeout+time.Hour)
	}
	if c.PollInterval == 0 {
		c.PollInterval = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// queue is what the engine needs of a River client, whatever its driver.
type queue interface {
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	JobCancel(ctx context.Context, jobID int64) (*rivertype.JobRow, error)
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// Engine submits pipeline runs and, with workers, runs their steps.
type Engine struct {
	cfg    Config
	log    *slog.Logger
	q      queue
	closer func() error
}

// Request asks for a pipeline run.
type Request struct {
	Pipeline    string
	LogicalDate time.Time         // zero: now
	Trigger     string            // manual (default), schedule, backfill
	Params      map[string]string // train, valid: explicit months (YYYY-MM)
}

// RunRef is what every step's arguments carry: the run it belongs to.
type RunRef struct {
	RunID       string            `json:"run_id"`
	Pipeline    string            `json:"pipeline"`
	LogicalDate time.Time         `json:"logical_date"`
	Trigger     string            `json:"trigger"`
	Params      map[string]string `json:"params,omitempty"`
}

// Submit records a new run and enqueues its first step.
func (e *Engine) Submit(ctx context.Context, req Request) (*tripcast.PipelineRun, error) {
	if !slices.Contains(Names, req.Pipeline) {
		return nil, tripcast.FieldError("pipeline", "unknown pipeline %q (known: %s)", req.Pipeline, strings.Join(Names, ", "))
	}
	if err := checkParams(req.Params); err != nil {
		return nil, err
	}
	if req.LogicalDate.IsZero() {
		req.LogicalDate = e.cfg.Now()
	}
	if req.Trigger == "" {
		req.Trigger = "manual"
	}
	ref := RunRef{RunID: newRunID(req.Pipeline, req.LogicalDate), Pipeline: req.Pipeline,
		LogicalDate: req.LogicalDate.UTC(), Trigger: req.Trigger, Params: req.Params}
	if _, err := e.ensureRun(ctx, ref); err != nil {
		return nil, err
	}
	if err := e.enqueue(ctx, ref, 0); err != nil {
		return nil, err
	}
	return e.cfg.Store.GetPipelineRun(ctx, ref.RunID)
}

// SubmitUnlessActive submits req unless a run of the same pipeline is
// queued or running: then it returns that run and created false. It is
// how an alert asks for a retraining (at most one at a time) without
// piling runs up while one is training.
func (e *Engine) SubmitUnlessActive(ctx context.Context, req Request) (run *tripcast.PipelineRun, created bool, err error) {
	runs, err := e.cfg.Store.ListPipelineRuns(ctx, req.Pipeline, 20)
	if err != nil {
		return nil, false, err
	}
	for _, r := range runs {
		if !tripcast.PipelineDone(r.Status) {
			return r, false, nil
		}
	}
	run, err = e.Submit(ctx, req)
	return run, err == nil, err
}

// checkParams refuses parameters a pipeline does not know or months that
// are not YYYY-MM.
func checkParams(p map[string]string) error {
	for k, v := range p {
		switch k {
		case "train", "valid":
			if _, err := time.Parse("2006-01", v); err != nil || len(v) != 7 {
				return tripcast.FieldError(k, "%q is not a month: want YYYY-MM", v)
			}
		default:
			return tripcast.FieldError(k, "unknown pipeline parameter (known: train, valid)")
		}
	}
	if (p["train"] == "") != (p["valid"] == "") {
		return tripcast.FieldError("valid", "give both --train and --valid, or neither")
	}
	return nil
}

// newRunID names a manual run: pipeline, logical day, random suffix.
func newRunID(pipeline string, at time.Time) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return pipeline + "-" + at.UTC().Format("20060102") + "-" + hex.EncodeToString(b)
}

// scheduledRunID names a scheduled run after its pipeline and minute, so
// that the same schedule tick never makes two runs.
func scheduledRunID(pipeline string, at time.Time) string {
	return pipeline + "-" + at.UTC().Format("20060102T1504Z")
}

// ensureRun records the run ref names when it is not recorded yet (a
// scheduled run is first seen by its first step) and returns it.
func (e *Engine) ensureRun(ctx context.Context, ref RunRef) (*tripcast.PipelineRun, error) {
	_, err := e.cfg.Store.CreatePipelineRun(ctx, &tripcast.PipelineRun{
		ID: ref.RunID, Pipeline: ref.Pipeline, LogicalDate: ref.LogicalDate, Trigger: ref.Trigger,
		Params: ref.Params, Status: tripcast.PipelineQueued, CreatedAt: e.cfg.Now().UTC(),
	})
	if err != nil {
		return nil, err
	}
	return e.cfg.Store.GetPipelineRun(ctx, ref.RunID)
}

// Get returns a run with its steps. ENOTFOUND when there is none.
func (e *Engine) Get(ctx context.Context, id string) (*tripcast.PipelineRun, error) {
	return e.cfg.Store.GetPipelineRun(ctx, id)
}

// List returns the newest runs (of pipeline, or all when "").
func (e *Engine) List(ctx context.Context, pipeline string, limit int) ([]*tripcast.PipelineRun, error) {
	return e.cfg.Store.ListPipelineRuns(ctx, pipeline, limit)
}

// Wait polls run id until it ends or ctx does.
func (e *Engine) Wait(ctx context.Context, id string, every time.Duration) (*tripcast.PipelineRun, error) {
	if every <= 0 {
		every = 200 * time.Millisecond
	}
	for {
		r, err := e.cfg.Store.GetPipelineRun(ctx, id)
		if err != nil {
			return nil, err
		}
		if tripcast.PipelineDone(r.Status) {
			return r, nil
		}
		select {
		case <-ctx.Done():
			return r, fmt.Errorf("wait for pipeline run %s: %w", id, ctx.Err())
		case <-time.After(every):
		}
	}
}

// Cancel ends a run that has not ended: its status becomes cancelled, a
// running step's job is cancelled (its context ends), and steps not
// started yet will not run. ECONFLICT when the run has already ended.
func (e *Engine) Cancel(ctx context.Context, id string) (*tripcast.PipelineRun, error) {
	changed, err := e.cfg.Store.SetPipelineRunStatus(ctx, id, tripcast.PipelineCancelled, "cancelled", e.cfg.Now().UTC())
	if err != nil {
		return nil, err
	}
	r, err := e.cfg.Store.GetPipelineRun(ctx, id)
	if err != nil {
		return nil, err
	}
	if !changed {
		return r, tripcast.Errorf(tripcast.ECONFLICT, "pipeline run %s has already ended: %s", id, r.Status)
	}
	var errs []error
	for i := range r.Steps {
		s := &r.Steps[i]
		if tripcast.PipelineDone(s.Status) {
			continue
		}
		if s.JobID > 0 {
			if _, err := e.q.JobCancel(ctx, s.JobID); err != nil && !errors.Is(err, river.ErrNotFound) {
				errs = append(errs, fmt.Errorf("cancel job %d of step %s: %w", s.JobID, s.Name, err))
			}
		}
		now := e.cfg.Now().UTC()
		s.Status, s.EndedAt = tripcast.PipelineCancelled, &now
		if err := e.cfg.Store.SavePipelineStep(ctx, s); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return e.cfg.Store.GetPipelineRun(ctx, id)
}

// Close stops the workers (waiting for running steps up to ctx) and
// closes the queue's connections.
func (e *Engine) Close(ctx context.Context) error {
	var err error
	if e.cfg.Workers > 0 {
		err = e.q.Stop(ctx)
	}
	if e.closer != nil {
		err = errors.Join(err, e.closer())
	}
	return err
}

// monthOf returns the month n months before t's, as YYYY-MM.
func monthOf(t time.Time, n int) string {
	first := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	return first.AddDate(0, -n, 0).Format("2006-01")
}
