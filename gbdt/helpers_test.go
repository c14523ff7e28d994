package gbdt_test

import (
	"context"
	"sync"
	"testing"

	"tripcast/gbdt"
	"tripcast/internal/rawfeatures"
	"tripcast/internal/testfiles/tlcdata"
)

var (
	monthsMu sync.Mutex
	months   = map[string]*gbdt.Dataset{}
)

// month loads a green taxi month (course filter) as the five raw features
// PULocationID, DOLocationID, trip_distance, hour, weekday; cached per test
// binary. Callers must not modify the result.
func month(tb testing.TB, ym string) *gbdt.Dataset {
	tb.Helper()
	monthsMu.Lock()
	defer monthsMu.Unlock()
	if d, ok := months[ym]; ok {
		return d
	}
	d := rawfeatures.Dataset(tlcdata.Course(tb, ym))
	months[ym] = d
	return d
}

// head returns the first n rows of d (sharing memory), with zone columns
// marked categorical when cat is true.
func head(d *gbdt.Dataset, n int, cat bool) *gbdt.Dataset {
	n = min(n, d.Rows())
	h := &gbdt.Dataset{Names: d.Names, Label: d.Label[:n:n]}
	for _, c := range d.Cols {
		h.Cols = append(h.Cols, c[:n:n])
	}
	if cat {
		h.Categorical = []bool{true, true, false, false, false}
	}
	return h
}

func mustTrain(tb testing.TB, train, valid *gbdt.Dataset, p gbdt.Params) *gbdt.Model {
	tb.Helper()
	m, err := gbdt.Train(context.Background(), train, valid, p, nil)
	if err != nil {
		tb.Fatalf("Train: %v", err)
	}
	return m
}

// row returns row i of a column-major dataset.
func row(d *gbdt.Dataset, i int) []float32 {
	r := make([]float32, len(d.Cols))
	for f, c := range d.Cols {
		r[f] = c[i]
	}
	return r
}
