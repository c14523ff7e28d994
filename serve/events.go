package serve

import (
	"context"
	"fmt"
	"time"

	"tripcast"
)

// Outcome is what became of one ride event: a prediction, or the reason it
// got none.
type Outcome struct {
	Ride       tripcast.Ride             // the decoded ride (zero when decoding failed)
	Prediction tripcast.Prediction       // valid when Err is nil
	Record     tripcast.PredictionRecord // the log record, valid when Err is nil
	// Err is nil, or why the event got no prediction. EINVALID: the event
	// itself is bad and never will succeed (answer 400, dead-letter it);
	// EINTERNAL: the model failed on it (a bug; see the stream's policy).
	Err error
}

// PredictEvents is the accounting core every adapter shares (HTTP batch,
// stream consumers, Lambda): it decodes and validates each raw event,
// predicts every valid ride with one model snapshot, and fills out[i] with
// event i's outcome, with the log record stamped with received (when the
// events arrived), the prediction time and source. It counts received,
// predicted and failed events in the predictor's Metrics under source.
//
// It returns the snapshot used, or EUNAVAILABLE (and no outcomes) when no
// model is loaded: the batch should be retried later, not dead-lettered.
// It panics when len(out) != len(events).
func (p *Predictor) PredictEvents(ctx context.Context, events [][]byte, received time.Time, source string, out []Outcome) (*Snapshot, error) {
	return p.predictEvents(ctx, events, nil, received, source, out)
}

// predictEvents is PredictEvents; when rideID is not nil, an event without
// a ride_id gets rideID(i) as its ride_id (a string).
func (p *Predictor) predictEvents(ctx context.Context, events [][]byte, rideID func(i int) string, received time.Time, source string, out []Outcome) (*Snapshot, error) {
	if len(out) != len(events) {
		panic(fmt.Sprintf("serve: PredictEvents lengths %d and %d differ", len(events), len(out)))
	}
	s := p.cur.Load()
	if s == nil {
		return nil, errNoModel
	}
	p.metrics.count(source, len(events), 0, nil)
	for i, ev := range events {
		out[i] = Outcome{}
		out[i].Ride, out[i].Err = DecodeEvent(ev)
		if out[i].Err == nil && out[i].Ride.ID == "" && rideID != nil {
			out[i].Ride.ID = rideID(i)
		}
		if out[i].Err == nil {
			out[i].Prediction, out[i].Err = s.Predict(out[i].Ride)
		}
	}
	predicted := p.now()
	ok := 0
	for i := range out {
		if out[i].Err != nil {
			p.metrics.count(source, 0, 0, out[i].Err)
			continue
		}
		ok++
		out[i].Record = tripcast.NewPredictionRecord(out[i].Ride, out[i].Prediction, received, predicted, source)
	}
	p.metrics.count(source, 0, ok, nil)
	return s, nil
}
