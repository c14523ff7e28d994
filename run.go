package tripcast

import (
	"context"
	"encoding/json"
	"math"
	"time"
)

// RunStatus is the state of a tracked run.
type RunStatus string

// Run statuses. A run starts RUNNING and ends once, in one of the others.
const (
	RunRunning  RunStatus = "RUNNING"
	RunFinished RunStatus = "FINISHED"
	RunFailed   RunStatus = "FAILED"
	RunKilled   RunStatus = "KILLED"
)

// Valid reports whether s is one of the four statuses.
func (s RunStatus) Valid() bool {
	switch s {
	case RunRunning, RunFinished, RunFailed, RunKilled:
		return true
	}
	return false
}

// Terminal reports whether s is a status a run can end with.
func (s RunStatus) Terminal() bool { return s.Valid() && s != RunRunning }

// Experiment groups runs under a name (e.g. "nyc-taxi-duration").
type Experiment struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Metric is one value of a metric at a step (an epoch, a boosting round, a
// tuning trial). A run keeps every point; Run.Metrics holds the latest one
// per key (highest step, then latest timestamp).
type Metric struct {
	Key       string    `json:"key"`
	Value     float64   `json:"value"`
	Step      int64     `json:"step"`
	Timestamp time.Time `json:"timestamp"`
}

// Artifact is a file a run produced, kept in the blob store.
type Artifact struct {
	Name   string `json:"name"`   // e.g. "model.json"
	URI    string `json:"uri"`    // full blob URI (file:///… or s3://…)
	Key    string `json:"key"`    // blob store key, e.g. "artifacts/<run>/model.json"
	SHA256 string `json:"sha256"` // hex
	Size   int64  `json:"size"`   // bytes
}

// DatasetInput is a dataset a run read: lineage.
type DatasetInput struct {
	URI    string `json:"uri"`
	SHA256 string `json:"sha256"`
	Rows   int64  `json:"rows,omitempty"` // 0 when unknown
}

// Run is one execution of training, tuning (a parent run with one child run
// per trial) or any other tracked job.
type Run struct {
	ID         string    `json:"id"` // 32 hex characters
	Experiment string    `json:"experiment"`
	Name       string    `json:"name"`
	Status     RunStatus `json:"status"`
	StartTime  time.Time `json:"start_time"`
	EndTime    time.Time `json:"end_time,omitzero"` // zero while RUNNING
	ParentID   string    `json:"parent_id,omitempty"`

	// Lineage recorded when the run starts.
	FeatureSpec     string `json:"feature_spec,omitempty"`     // feature-spec version
	TripcastVersion string `json:"tripcast_version,omitempty"` // tripcast.Version()
	VCSRevision     string `json:"vcs_revision,omitempty"`

	// Filled by RunStore.GetRun only (ListRuns leaves them empty).
	Params    map[string]string `json:"params,omitempty"`
	Metrics   []Metric          `json:"metrics,omitempty"` // latest point per key, sorted by key
	Tags      map[string]string `json:"tags,omitempty"`
	Artifacts []Artifact        `json:"artifacts,omitempty"` // sorted by name
	Datasets  []DatasetInput    `json:"datasets,omitempty"`  // in the order added
}

// RunFilter selects runs for RunStore.ListRuns. Zero fields match anything.
type RunFilter struct {
	Experiment string    // experiment name
	ParentID   string    // only children of this run
	Status     RunStatus // only runs in this status
	Limit      int       // at most this many runs (0: 100)
}

// RunStore keeps experiments and runs. Implementations store what they are
// given; the rules (ids, lineage, buffering) live in package tracking.
type RunStore interface {
	// CreateExperiment creates an experiment. ECONFLICT when the name is
	// taken, EINVALID when it is empty.
	CreateExperiment(ctx context.Context, name string) (*Experiment, error)
	// GetExperimentByName returns an experiment. ENOTFOUND when none has
	// that name.
	GetExperimentByName(ctx context.Context, name string) (*Experiment, error)

	// CreateRun inserts r (ID, Experiment, Name, Status, StartTime, ParentID
	// and lineage are read; the maps and slices are ignored). EINVALID when
	// r.ID is empty or the status unknown, ENOTFOUND when the experiment or
	// the parent run does not exist, ECONFLICT when the ID is taken.
	CreateRun(ctx context.Context, r *Run) error
	// LogParams records parameters. Params are write-once: logging the same
	// value again is a no-op, another value for a logged key is ECONFLICT.
	// ENOTFOUND when the run does not exist.
	LogParams(ctx context.Context, runID string, params map[string]string) error
	// LogMetrics records a batch of metric points in one transaction.
	// ENOTFOUND when the run does not exist.
	LogMetrics(ctx context.Context, runID string, metrics []Metric) error
	// SetTags sets tags, replacing the values of existing keys. ENOTFOUND
	// when the run does not exist.
	SetTags(ctx context.Context, runID string, tags map[string]string) error
	// LogArtifact records an artifact, replacing one of the same name.
	// ENOTFOUND when the run does not exist.
	LogArtifact(ctx context.Context, runID string, a Artifact) error
	// AddDatasetInput records a dataset the run read; adding the same
	// (URI, SHA256) twice is a no-op. ENOTFOUND when the run does not exist.
	AddDatasetInput(ctx context.Context, runID string, d DatasetInput) error
	// EndRun sets a RUNNING run's final status and end time. EINVALID when
	// status is not terminal, ENOTFOUND when the run does not exist,
	// ECONFLICT when it has already ended.
	EndRun(ctx context.Context, runID string, status RunStatus, end time.Time) error
	// GetRun returns a run with its params, latest metrics, tags, artifacts
	// and datasets. ENOTFOUND when it does not exist.
	GetRun(ctx context.Context, runID string) (*Run, error)
	// ListRuns returns runs matching f, newest first, without their params,
	// metrics, tags, artifacts or datasets.
	ListRuns(ctx context.Context, f RunFilter) ([]*Run, error)
	// MetricHistory returns every point of one metric of a run, ordered by
	// step then timestamp. ENOTFOUND when the run does not exist; an empty
	// slice when the metric was never logged.
	MetricHistory(ctx context.Context, runID, key string) ([]Metric, error)
}

// metricJSON is Metric's JSON form, with NaN and ±Inf values as null
// (JSON has no numbers for them).
type metricJSON struct {
	Key       string    `json:"key"`
	Value     *float64  `json:"value"`
	Step      int64     `json:"step"`
	Timestamp time.Time `json:"timestamp"`
}

// MarshalJSON encodes m, writing a NaN or infinite value as null.
func (m Metric) MarshalJSON() ([]byte, error) {
	j := metricJSON{Key: m.Key, Step: m.Step, Timestamp: m.Timestamp}
	if !math.IsNaN(m.Value) && !math.IsInf(m.Value, 0) {
		j.Value = &m.Value
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes m, reading a null value as NaN.
func (m *Metric) UnmarshalJSON(b []byte) error {
	var j metricJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*m = Metric{Key: j.Key, Value: math.NaN(), Step: j.Step, Timestamp: j.Timestamp}
	if j.Value != nil {
		m.Value = *j.Value
	}
	return nil
}
