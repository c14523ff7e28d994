package gbdt_test

import (
	"fmt"
	"math"
	"testing"

	"tripcast/gbdt"
)

// TestPredictBatchPaths checks PredictBatch against Predict, bit for bit,
// on every path of the batch kernel: blocks without missing values (the
// one-compare walk), blocks with some, row counts that leave a partial
// block and a tail of fewer than eight rows, and a model with more features
// than the narrow kernel takes.
func TestPredictBatchPaths(t *testing.T) {
	d := month(t, "2021-02")
	p := gbdt.DefaultParams()
	p.NumBoostRound = 15
	p.EarlyStoppingRounds = 0
	m := mustTrain(t, head(month(t, "2021-01"), 20000, false), nil, p)
	wide := wideDataset(head(month(t, "2021-01"), 5000, false), 20)
	mw := mustTrain(t, wide, nil, p)
	for _, tc := range []struct {
		name  string
		m     *gbdt.Model
		cols  [][]float32
		rows  int
		nanAt int // every nanAt-th row of the first rows gets a NaN; 0 = none
	}{
		{name: "OKNoMissing", m: m, cols: d.Cols, rows: 1000 + 5},
		{name: "OKMissingInSomeBlocks", m: m, cols: d.Cols, rows: 3*256 + 3, nanAt: 97},
		{name: "OKTailOnly", m: m, cols: d.Cols, rows: 7},
		{name: "OKWide", m: mw, cols: wide.Cols, rows: 600 + 1, nanAt: 13},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cols := make([][]float32, len(tc.cols))
			for f, c := range tc.cols {
				cols[f] = append([]float32(nil), c[:tc.rows]...)
				if tc.nanAt > 0 {
					// Only in the first 300 rows: later blocks have none.
					for i := f; i < min(300, tc.rows); i += tc.nanAt {
						cols[f][i] = float32(math.NaN())
					}
				}
			}
			out := make([]float32, tc.rows)
			tc.m.PredictBatch(cols, out)
			r := make([]float32, len(cols))
			for i := range out {
				for f := range cols {
					r[f] = cols[f][i]
				}
				if got := tc.m.Predict(r); got != out[i] {
					t.Fatalf("row %d: got PredictBatch %v, want Predict's %v", i, out[i], got)
				}
			}
		})
	}
}

// wideDataset returns d with its columns repeated up to n features.
func wideDataset(d *gbdt.Dataset, n int) *gbdt.Dataset {
	w := &gbdt.Dataset{Label: d.Label}
	for f := 0; f < n; f++ {
		w.Cols = append(w.Cols, d.Cols[f%len(d.Cols)])
		w.Names = append(w.Names, fmt.Sprintf("%s_%d", d.Names[f%len(d.Names)], f))
	}
	return w
}
