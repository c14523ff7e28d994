package groundtruth_test

import (
	"context"
	"math"
	"testing"
	"time"

	"tripcast"
	"tripcast/groundtruth"
	"tripcast/internal/testfiles"
	"tripcast/model"
	"tripcast/tlc"
	"tripcast/train"
)

// TestScored: a scored real month reads as joined rows: the model's
// prediction and the trip's real duration, windowed by pickup time.
func TestScored(t *testing.T) {
	ctx := context.Background()
	trips, _, err := tlc.LoadFile(testfiles.Green(t, "2021-02"), tlc.RuleCourse)
	if err != nil {
		t.Fatal(err)
	}
	m := mustTrain(t, train.Options{Kind: model.Linear}, "3")
	preds := make([]float64, trips.Len())
	if err := m.PredictTrips(trips, preds); err != nil {
		t.Fatal(err)
	}
	preds[7] = math.NaN() // no prediction: left out
	s := &groundtruth.Scored{Trips: trips, Predictions: preds, Model: m.Name(), Version: m.Version()}
	t.Run("OK", func(t *testing.T) {
		feb := tripcast.PredictionQuery{From: time.Date(2021, 2, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2021, 3, 1, 0, 0, 0, 0, time.UTC)}
		day := tripcast.PredictionQuery{From: time.Date(2021, 2, 3, 0, 0, 0, 0, time.UTC), To: time.Date(2021, 2, 4, 0, 0, 0, 0, time.UTC),
			Model: m.Name(), Version: "3"}
		wantMonth, wantDay := 0, 0
		for i := range trips.Len() {
			at := trips.PickupTime(i)
			if i == 7 || at.Before(feb.From) || !at.Before(feb.To) {
				continue
			}
			wantMonth++
			if !at.Before(day.From) && at.Before(day.To) {
				wantDay++
			}
		}
		for _, tc := range []struct {
			q    tripcast.PredictionQuery
			want int
		}{{feb, wantMonth}, {day, wantDay}, {tripcast.PredictionQuery{From: feb.From, To: feb.To, Version: "4"}, 0}} {
			got, sse := 0, 0.0
			err := s.ReadJoined(ctx, tc.q, func(rec *tripcast.PredictionRecord, actual float64) error {
				got++
				if rec.PredictedAt.Before(tc.q.From) || !rec.PredictedAt.Before(tc.q.To) || rec.Source != tripcast.SourceBatch {
					t.Errorf("ride %s: predicted at %v (%s), outside the window", rec.RideID, rec.PredictedAt, rec.Source)
				}
				sse += (rec.Prediction - actual) * (rec.Prediction - actual)
				return nil
			})
			if err != nil || got != tc.want {
				t.Fatalf("%+v: got %d rows, %v, want %d", tc.q, got, err, tc.want)
			}
			if got > 0 {
				// A linear model of trip durations is off by minutes, not
				// by nothing and not by hours.
				if rmse := math.Sqrt(sse / float64(got)); rmse < 3 || rmse > 20 {
					t.Errorf("rmse %v: the rows do not pair predictions with their trips", rmse)
				}
			}
		}
		if wantMonth < 60000 {
			t.Errorf("got %d rows in February, want the month's", wantMonth)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, bad := range []*groundtruth.Scored{{}, {Trips: trips, Predictions: preds[:10]}, {Trips: trips, Predictions: preds, Rows: []int{1}}} {
			err := bad.ReadJoined(ctx, tripcast.PredictionQuery{}, func(*tripcast.PredictionRecord, float64) error { return nil })
			if tripcast.ErrorCode(err) != tripcast.EINVALID {
				t.Errorf("got %v, want invalid", err)
			}
		}
	})
}
