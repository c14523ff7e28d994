package monitor_test

import (
	"encoding/json"
	"fmt"
	"math"

	"tripcast/monitor"
)

// A reference profile built once, stored as JSON, and compared with a
// window accumulated row by row, with ground truth for model quality.
func ExampleNewReport() {
	specs := []monitor.ColumnSpec{
		{Name: "PULocationID", Kind: monitor.Categorical},
		{Name: "trip_distance", Kind: monitor.Numerical, Zeros: true},
		{Name: "prediction", Kind: monitor.Numerical, Quantum: 0.001},
	}
	ref, _ := monitor.NewProfile(specs, map[string][]float64{
		"PULocationID":  {74, 74, 75, 41, 42, 74, 75, 166},
		"trip_distance": {1.2, 0.8, 3.1, 2.2, 5.0, 1.1, 0.9, 2.4},
		"prediction":    {7.5, 6.1, 14.2, 10.3, 19.9, 7.0, 6.6, 11.8},
	})
	stored, _ := json.Marshal(ref) // kept with the model version
	ref, _ = monitor.DecodeProfile(stored)

	b, _ := monitor.NewBuilder(specs)
	quality := monitor.NewModelAccumulator([]string{"hour"}, 0)
	for _, r := range [][5]float64{ // zone, distance, prediction, actual, hour
		{74, 1.0, 6.9, 8.0, 8}, {130, 0, 3.0, 2.5, 8}, {74, 2.9, 13.5, 12.0, 9},
		{42, math.NaN(), 9.0, 9.5, 9}, {75, 1.4, 8.2, 8.0, 9},
	} {
		b.AddRow(r[:3])
		quality.Add(r[2], r[3], fmt.Sprint(r[4]))
	}
	report, _ := monitor.NewReport(ref, b.Profile(), monitor.Options{})
	report.SetModelQuality(quality.Result())

	fmt.Printf("dataset drift %v, %d of %d columns drifted\n", report.DatasetDrift, report.NumDriftedColumns, report.NumColumns)
	for _, name := range []string{"PULocationID", "trip_distance", "prediction"} {
		c := report.Columns[name]
		fmt.Printf("%s: %s %.4f drift %v\n", name, c.Method, *c.Score, c.Drift)
	}
	q := report.DataQuality.Columns["PULocationID"]
	fmt.Printf("unseen zones %d, share missing %.3f, rmse %.3f\n", *q.Unseen, *report.ShareMissingValues, *report.RMSE)
	// The KS p-values are scipy's ks_2samp on the same values; zone 130 is
	// unseen (chi-square p = 0); the errors -1.1, 0.5, 1.5, -0.5, 0.2 give
	// RMSE √0.8.
	// Output:
	// dataset drift false, 1 of 3 columns drifted
	// PULocationID: chisquare 0.0000 drift true
	// trip_distance: ks 0.9980 drift false
	// prediction: ks 0.8508 drift false
	// unseen zones 1, share missing 0.067, rmse 0.894
}
