package model

import "math"

// Metrics are the regression metrics tripcast reports for a model on a data
// set: root mean squared error, mean absolute error and the coefficient of
// determination, in minutes.
type Metrics struct {
	RMSE float64 `json:"rmse"`
	MAE  float64 `json:"mae"`
	R2   float64 `json:"r2"`
	N    int     `json:"n"`
}

// Evaluate compares predictions with actual values. It panics when the
// slices differ in length (a programmer error).
func Evaluate(pred, actual []float64) Metrics {
	if len(pred) != len(actual) {
		panic("model.Evaluate: length mismatch")
	}
	n := len(actual)
	if n == 0 {
		return Metrics{}
	}
	var mean float64
	for _, y := range actual {
		mean += y
	}
	mean /= float64(n)
	var se, ae, tot float64
	for i, y := range actual {
		d := pred[i] - y
		se += d * d
		ae += math.Abs(d)
		tot += (y - mean) * (y - mean)
	}
	m := Metrics{RMSE: math.Sqrt(se / float64(n)), MAE: ae / float64(n), N: n}
	if tot > 0 {
		m.R2 = 1 - se/tot
	}
	return m
}
