package gbdt_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"tripcast"
	"tripcast/gbdt"
	"tripcast/tlc"
)

// sharedDir returns ../shared relative to the repository root (the
// directory holding go.mod).
func sharedDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

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
	path := filepath.Join(sharedDir(tb), "data", "tlc", "green_tripdata_"+ym+".parquet")
	trips, _, err := tlc.LoadFile(path, tlc.RuleCourse)
	if err != nil {
		tb.Fatalf("load %s: %v", path, err)
	}
	d := features(trips)
	months[ym] = d
	return d
}

func features(t *tripcast.Trips) *gbdt.Dataset {
	n := t.Len()
	d := &gbdt.Dataset{
		Names: []string{"PULocationID", "DOLocationID", "trip_distance", "hour", "weekday"},
		Cols:  make([][]float32, 5),
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
