// Package rawfeatures builds the five raw features of the XGBoost reference
// models (the fixture in ../shared/fixtures/xgboost-1.7-depth6 and
// bench/train_vs_xgboost): PULocationID, DOLocationID, trip_distance, pickup
// hour and weekday (Monday=0), with the duration as label.
package rawfeatures

import (
	"tripcast"
	"tripcast/gbdt"
)

// Names are the feature names, in column order.
var Names = []string{"PULocationID", "DOLocationID", "trip_distance", "hour", "weekday"}

// Dataset returns the five features of t, and its durations as label.
func Dataset(t *tripcast.Trips) *gbdt.Dataset {
	n := t.Len()
	d := &gbdt.Dataset{
		Names: append([]string(nil), Names...),
		Cols:  make([][]float32, len(Names)),
		Label: make([]float32, n),
	}
	for f := range d.Cols {
		d.Cols[f] = make([]float32, n)
	}
	for i := 0; i < n; i++ {
		tm := t.PickupTime(i)
		d.Cols[0][i] = float32(t.PULocationID[i])
		d.Cols[1][i] = float32(t.DOLocationID[i])
		d.Cols[2][i] = float32(t.TripDistance[i])
		d.Cols[3][i] = float32(tm.Hour())
		d.Cols[4][i] = float32((int(tm.Weekday()) + 6) % 7)
		d.Label[i] = float32(t.Duration[i])
	}
	return d
}
