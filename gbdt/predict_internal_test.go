package gbdt

import (
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"tripcast/internal/testfiles"
)

// refPredict is the plain definition of a prediction, on the node arrays
// the JSON holds: from each root, follow left or right (missing values the
// default way) to a leaf; add the leaf values to BaseScore in tree order.
func refPredict(m *Model, row []float32) float32 {
	sum := m.BaseScore
	for ti := range m.trees {
		t := &m.trees[ti]
		i := int32(0)
		for t.left[i] >= 0 {
			x := row[t.feature[i]]
			right := x >= t.cond[i]
			if x != x {
				right = !t.defaultLeft[i]
			}
			if right {
				i = t.right[i]
			} else {
				i = t.left[i]
			}
		}
		sum += t.cond[i]
	}
	return sum
}

// TestPredictKernels checks Predict and PredictBatch, bit for bit, against
// refPredict on XGBoost's fixture model (100 trees: eight-tree groups and a
// tail) and its input rows, as they are and with missing values, so that
// every kernel (with and without missing values, single row and batch) is
// checked against the definition rather than against another kernel.
func TestPredictKernels(t *testing.T) {
	dir := testfiles.Fixture(t, "xgboost-1.7-depth6")
	m, err := LoadFile(filepath.Join(dir, "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	if m.hasCat {
		t.Fatal("fixture model has categorical splits; refPredict does not handle them")
	}
	f, err := os.Open(filepath.Join(dir, "inputs.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	nf := len(m.names)
	var clean [][]float32
	for _, rec := range recs[1:] {
		r := make([]float32, nf)
		for j := range r {
			r[j] = float32(math.NaN())
			if rec[j] != "" {
				v, err := strconv.ParseFloat(rec[j], 32)
				if err != nil {
					t.Fatal(err)
				}
				r[j] = float32(v)
			}
		}
		if r[0] == r[0] && r[1] == r[1] && r[2] == r[2] && r[3] == r[3] && r[4] == r[4] {
			clean = append(clean, r)
		}
	}
	withNaN := make([][]float32, len(clean))
	for i, r := range clean {
		withNaN[i] = append([]float32(nil), r...)
		withNaN[i][i%nf] = float32(math.NaN())
	}
	for _, tc := range []struct {
		name string
		rows [][]float32
	}{{"OKNoMissing", clean}, {"OKMissing", withNaN}} {
		t.Run(tc.name, func(t *testing.T) {
			cols := make([][]float32, nf)
			for j := range cols {
				for _, r := range tc.rows {
					cols[j] = append(cols[j], r[j])
				}
			}
			out := make([]float32, len(tc.rows))
			m.PredictBatch(cols, out)
			for i, r := range tc.rows {
				want := refPredict(m, r)
				if got := m.Predict(r); got != want {
					t.Fatalf("row %d: got Predict %v, want %v", i, got, want)
				}
				if out[i] != want {
					t.Fatalf("row %d: got PredictBatch %v, want %v", i, out[i], want)
				}
			}
		})
	}
}
