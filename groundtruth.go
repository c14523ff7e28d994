package tripcast

import (
	"context"
	"time"
)

// Completion is a RideCompleted as the ground-truth consumer stores it: the
// event, when it reached tripcast, and where it was read.
type Completion struct {
	RideCompleted
	ReceivedAt time.Time // when tripcast read it (real time, UTC)
	Stream     string    // the stream it was read from
	StreamID   string    // its position there (Message.ID)
}

// CompletionStore keeps completions, one per ride_id, and tells which rides
// the prediction log knows. The SQL metadata store implements it.
type CompletionStore interface {
	// AddCompletions stores recs, idempotently: a completion whose ride_id
	// is stored already (by an earlier call or earlier in recs) is not
	// stored again, whatever it says: the first completion of a ride wins.
	// added[i] (len(added) == len(recs)) tells whether recs[i] was stored.
	// EINVALID when a record cannot be stored (empty ride_id).
	AddCompletions(ctx context.Context, recs []Completion, added []bool) error
	// PredictedRides sets found[i] (len(found) == len(ids)) when the
	// prediction log holds a prediction of ride ids[i], by any model.
	PredictedRides(ctx context.Context, ids []string, found []bool) error
}

// GroundTruthReader reads predictions joined with their ground truth.
// Monitoring computes live model quality from it.
type GroundTruthReader interface {
	// ReadJoined calls fn for every prediction q selects (by PredictedAt,
	// model, version; see PredictionQuery) whose ride has a known actual
	// duration, with that duration in minutes. A ride predicted by several
	// model versions gives one call per version's prediction. Streaming:
	// memory does not grow with the window; rec is valid only during the
	// call. The order is the implementation's (the SQL store: PredictedAt).
	// When fn returns an error ReadJoined stops and returns it (wrapped:
	// use errors.Is). EINVALID when q.To is before q.From.
	ReadJoined(ctx context.Context, q PredictionQuery, fn func(rec *PredictionRecord, actualMinutes float64) error) error
}
