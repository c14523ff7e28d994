package monitor_test

import (
	"slices"
	"testing"

	"tripcast/monitor"
)

// BenchmarkDrift_Green2021vs2023 times a whole-month report: the stored green
// 2021-01 reference profile against every row of green 2023-03 (69,392 rows,
// the six fixture columns plus a prediction column), counting the current
// month from its raw columns included, rendering excluded. The prediction is
// a stand-in linear function of the distance.
func BenchmarkDrift_Green2021vs2023(b *testing.B) {
	specs := append(slices.Clone(fixtureColumns), monitor.ColumnSpec{Name: monitor.ColPrediction, Kind: monitor.Numerical, Quantum: 0.001})
	refCols, curCols := withPrediction(mustMonthColumns(b, "2021-01")), withPrediction(mustMonthColumns(b, "2023-03"))
	ref := mustProfile(b, specs, refCols)
	rows := len(curCols[monitor.ColDuration])
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		cur := mustProfile(b, specs, curCols)
		r, err := monitor.NewReport(ref, cur, monitor.Options{})
		if err != nil {
			b.Fatal(err)
		}
		if !r.DatasetDrift || r.PredictionDrift == nil {
			b.Fatalf("got dataset drift %v prediction drift %v, want drift and a score", r.DatasetDrift, r.PredictionDrift)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkDrift_ProfileOnly times the tests alone, both sides already in
// count form (a current window accumulated as the log was written).
func BenchmarkDrift_ProfileOnly(b *testing.B) {
	specs := append(slices.Clone(fixtureColumns), monitor.ColumnSpec{Name: monitor.ColPrediction, Kind: monitor.Numerical, Quantum: 0.001})
	ref := mustProfile(b, specs, withPrediction(mustMonthColumns(b, "2021-01")))
	cur := mustProfile(b, specs, withPrediction(mustMonthColumns(b, "2023-03")))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := monitor.NewReport(ref, cur, monitor.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// withPrediction adds a stand-in prediction column: 3 min + 3.5 min/mile.
func withPrediction(cols map[string][]float64) map[string][]float64 {
	out := make(map[string][]float64, len(cols)+1)
	for k, v := range cols {
		out[k] = v
	}
	d := cols[monitor.ColDistance]
	p := make([]float64, len(d))
	for i, x := range d {
		p[i] = 3 + 3.5*x
	}
	out[monitor.ColPrediction] = p
	return out
}
