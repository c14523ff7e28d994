package tripcast

import (
	"context"
	"time"
)

// Pipeline run and step statuses. A run is queued, then running, then ends
// succeeded, failed or cancelled; a step is queued, running, retrying (it
// failed and will be tried again), then succeeded, failed, skipped or
// cancelled.
const (
	PipelineQueued    = "queued"
	PipelineRunning   = "running"
	PipelineRetrying  = "retrying"
	PipelineSucceeded = "succeeded"
	PipelineFailed    = "failed"
	PipelineCancelled = "cancelled"
	PipelineSkipped   = "skipped"
)

// PipelineDone reports whether status is final: succeeded, failed,
// cancelled or skipped.
func PipelineDone(status string) bool {
	switch status {
	case PipelineSucceeded, PipelineFailed, PipelineCancelled, PipelineSkipped:
		return true
	}
	return false
}

// PipelineRun is one run of a pipeline (train, monitor, batch) for a
// logical date, with its steps.
type PipelineRun struct {
	ID          string            `json:"id"`
	Pipeline    string            `json:"pipeline"`
	LogicalDate time.Time         `json:"logical_date"`
	Trigger     string            `json:"trigger"` // manual, schedule, backfill
	Params      map[string]string `json:"params,omitempty"`
	Status      string            `json:"status"`
	Error       string            `json:"error,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	StartedAt   *time.Time        `json:"started_at,omitempty"`
	EndedAt     *time.Time        `json:"ended_at,omitempty"`
	Steps       []PipelineStep    `json:"steps,omitempty"`
}

// PipelineStep is one step of a pipeline run: its status, how many times
// it was attempted, its last error and what it produced (run id, version,
// output key...).
type PipelineStep struct {
	RunID     string            `json:"-"`
	Name      string            `json:"name"`
	Seq       int               `json:"seq"` // order in the pipeline
	Status    string            `json:"status"`
	Attempts  int               `json:"attempts"`
	JobID     int64             `json:"job_id,omitempty"` // the queue's job
	Error     string            `json:"error,omitempty"`
	Outputs   map[string]string `json:"outputs,omitempty"`
	StartedAt *time.Time        `json:"started_at,omitempty"`
	EndedAt   *time.Time        `json:"ended_at,omitempty"`
}

// PipelineStore keeps the history of pipeline runs and their steps.
type PipelineStore interface {
	// CreatePipelineRun stores r unless a run with its ID exists; it
	// reports whether it created it. EINVALID when ID or Pipeline is empty.
	CreatePipelineRun(ctx context.Context, r *PipelineRun) (created bool, err error)
	// GetPipelineRun returns a run with its steps in order. ENOTFOUND when
	// it does not exist.
	GetPipelineRun(ctx context.Context, id string) (*PipelineRun, error)
	// ListPipelineRuns returns the newest runs first (of pipeline, or of
	// every pipeline when it is ""), at most limit, without their steps.
	ListPipelineRuns(ctx context.Context, pipeline string, limit int) ([]*PipelineRun, error)
	// SetPipelineRunStatus sets a run's status, error, and its start (when
	// running) or end (when status is final) time, only when its status is
	// not final yet: it reports whether it changed it. ENOTFOUND when the
	// run does not exist.
	SetPipelineRunStatus(ctx context.Context, id, status, errMsg string, at time.Time) (bool, error)
	// SavePipelineStep creates or replaces step s.Name of run s.RunID.
	SavePipelineStep(ctx context.Context, s *PipelineStep) error
}

// Step returns the step called name, nil when the run has none.
func (r *PipelineRun) Step(name string) *PipelineStep {
	for i := range r.Steps {
		if r.Steps[i].Name == name {
			return &r.Steps[i]
		}
	}
	return nil
}
