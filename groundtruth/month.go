package groundtruth

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"time"

	"tripcast"
)

// Scored is a scored month (or any trips) as ground truth: each trip's
// actual duration joined to a model's prediction of it, for monitoring a
// month with `tripcast monitor --current MONTH`. It implements
// tripcast.GroundTruthReader without storing anything.
//
// Each trip reads as a prediction record of source tripcast.SourceBatch
// whose PredictedAt, ReceivedAt and PickupTime are the trip's pickup time
// (the New York wall clock, as Trips holds it): a window selects trips by
// pickup. Its RideID is its row number (Rows[i], else i).
type Scored struct {
	Trips *tripcast.Trips // with Duration, the actual minutes
	// Predictions holds one prediction per trip, in minutes; a trip whose
	// prediction is not a finite number (the model gave none) is left out.
	Predictions    []float64
	Model, Version string
	// Rows, when set, holds each trip's row number in its file.
	Rows []int
}

var _ tripcast.GroundTruthReader = (*Scored)(nil)

// Check returns an EINVALID error naming the field when s cannot be read.
func (s *Scored) Check() error {
	switch {
	case s.Trips == nil:
		return tripcast.FieldError("trips", "is missing")
	case len(s.Trips.Duration) != s.Trips.Len():
		return tripcast.FieldError("trips", "have %d durations for %d trips: ground truth needs them (clean the trips with tlc)", len(s.Trips.Duration), s.Trips.Len())
	case len(s.Predictions) != s.Trips.Len():
		return tripcast.FieldError("predictions", "has %d values for %d trips", len(s.Predictions), s.Trips.Len())
	case s.Rows != nil && len(s.Rows) != s.Trips.Len():
		return tripcast.FieldError("rows", "has %d row numbers for %d trips", len(s.Rows), s.Trips.Len())
	}
	return nil
}

// ReadJoined implements tripcast.GroundTruthReader over the trips, in their
// order.
func (s *Scored) ReadJoined(ctx context.Context, q tripcast.PredictionQuery, fn func(rec *tripcast.PredictionRecord, actualMinutes float64) error) error {
	if err := q.Check(); err != nil {
		return err
	}
	if err := s.Check(); err != nil {
		return err
	}
	if (q.Model != "" && q.Model != s.Model) || (q.Version != "" && q.Version != s.Version) {
		return nil
	}
	from, to := ceilMicros(q.From), ceilMicros(q.To) // pickups are whole µs
	t := s.Trips
	var rec tripcast.PredictionRecord
	for i := range t.Len() {
		if i%4096 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		pred := s.Predictions[i]
		if t.Pickup[i] < from || t.Pickup[i] >= to || math.IsNaN(pred) || math.IsInf(pred, 0) {
			continue
		}
		row := i
		if s.Rows != nil {
			row = s.Rows[i]
		}
		at := t.PickupTime(i)
		rec = tripcast.PredictionRecord{RideID: strconv.Itoa(row), RideIDNumeric: true, Model: s.Model, Version: s.Version,
			PULocationID: int(t.PULocationID[i]), DOLocationID: int(t.DOLocationID[i]), TripDistance: t.TripDistance[i],
			PickupTime: at, Prediction: pred, ReceivedAt: at, PredictedAt: at, Source: tripcast.SourceBatch}
		if err := fn(&rec, t.Duration[i]); err != nil {
			return fmt.Errorf("read scored trips: %w", err)
		}
	}
	return nil
}

// ceilMicros returns t in Unix microseconds, rounded up.
func ceilMicros(t time.Time) int64 {
	us := t.UnixMicro()
	if time.UnixMicro(us).Before(t) {
		us++
	}
	return us
}
