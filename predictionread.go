package tripcast

import (
	"context"
	"time"
)

// PredictionQuery selects prediction log records for a PredictionReader.
type PredictionQuery struct {
	// From and To bound the window: records whose PredictedAt lies in
	// [From, To). PredictedAt, not ReceivedAt, because it is what every log
	// is ordered and partitioned by (the parquet log's hour partitions, the
	// SQL log's index), and what monitoring joins with ground truth.
	From, To time.Time
	// Model and Version, when not empty, keep only the records answered by
	// that registered model name and version.
	Model, Version string
}

// PredictionReader reads a prediction log back by time window: monitoring
// reads what was predicted, pipelines export it. The parquet log in the
// blob store (predlog) and the SQL log (sqlstore) implement it.
type PredictionReader interface {
	// ReadPredictions calls fn for every stored record q selects, in order
	// of PredictedAt (the order of records with equal PredictedAt is the
	// log's own), streaming: memory does not grow with the window. The
	// record passed to fn is valid only during the call (copy it to keep
	// it). Records a buffered log has not yet flushed are not seen.
	//
	// When fn returns an error, ReadPredictions stops and returns it
	// (wrapped: use errors.Is). EINVALID when To is before From; an empty
	// window (From == To) calls fn never and returns nil.
	ReadPredictions(ctx context.Context, q PredictionQuery, fn func(*PredictionRecord) error) error
}

// Check returns an EINVALID error when q is not a valid window.
func (q PredictionQuery) Check() error {
	if q.To.Before(q.From) {
		return FieldError("to", "%s is before from (%s)", q.To.Format(time.RFC3339Nano), q.From.Format(time.RFC3339Nano))
	}
	return nil
}

// Match reports whether r's model and version are the ones q asks for (its
// PredictedAt is not checked).
func (q PredictionQuery) Match(r *PredictionRecord) bool {
	return (q.Model == "" || r.Model == q.Model) && (q.Version == "" || r.Version == q.Version)
}
