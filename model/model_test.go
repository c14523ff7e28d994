package model_test

import (
	"bufio"
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tripcast"
	"tripcast/features"
	"tripcast/gbdt"
	"tripcast/internal/testfiles"
	"tripcast/linear"
	"tripcast/model"
	"tripcast/tlc"
)

func readFloats(t *testing.T, path string) []float64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	var out []float64
	for sc.Scan() {
		v, err := strconv.ParseFloat(sc.Text(), 64)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, v)
	}
	return out
}

// TestPredictCSVXGBoostFixture loads a model saved by XGBoost 1.7 and checks
// tripcast predicts its 2,000 rows like XGBoost (tolerance 1e-4, float32
// printing of the reference being 7 significant digits).
func TestPredictCSVXGBoostFixture(t *testing.T) {
	dir := testfiles.Fixture(t, "xgboost-1.7-depth6")
	a, err := model.LoadFile(filepath.Join(dir, "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	if a.Spec != nil {
		t.Fatalf("a foreign XGBoost model has no tripcast feature spec, got %v", a.Spec)
	}
	in, err := os.Open(filepath.Join(dir, "inputs.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var out bytes.Buffer
	n, err := a.PredictCSV(in, &out)
	if err != nil {
		t.Fatal(err)
	}
	outFile := filepath.Join(t.TempDir(), "out.csv")
	os.WriteFile(outFile, out.Bytes(), 0o644)
	got, want := readFloats(t, outFile), readFloats(t, filepath.Join(dir, "expected.csv"))
	if n != len(want) || len(got) != len(want) {
		t.Fatalf("got %d (%d) predictions, want %d", len(got), n, len(want))
	}
	var maxDiff float64
	for i := range want {
		maxDiff = math.Max(maxDiff, math.Abs(got[i]-want[i]))
	}
	if maxDiff > 1e-4 {
		t.Fatalf("max abs diff %g, want <= 1e-4", maxDiff)
	}
}

func TestPredictCSVErrors(t *testing.T) {
	a, err := model.LoadFile(testfiles.Fixture(t, "xgboost-1.7-depth6/model.json"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ErrMissingColumn", func(t *testing.T) {
		_, err := a.PredictCSV(strings.NewReader("PULocationID,DOLocationID,trip_distance,hour\n1,2,3,4\n"), &bytes.Buffer{})
		if tripcast.ErrorField(err) != "weekday" {
			t.Fatalf("got %v, want an error naming weekday", err)
		}
	})
	t.Run("ErrNotANumber", func(t *testing.T) {
		_, err := a.PredictCSV(strings.NewReader("PULocationID,DOLocationID,trip_distance,hour,weekday\n1,2,x,4,5\n"), &bytes.Buffer{})
		if tripcast.ErrorField(err) != "trip_distance" || !strings.Contains(err.Error(), "line 2") {
			t.Fatalf("got %v, want an error naming trip_distance on line 2", err)
		}
	})
	t.Run("OKColumnsInAnyOrder", func(t *testing.T) {
		var o1, o2 bytes.Buffer
		if _, err := a.PredictCSV(strings.NewReader("PULocationID,DOLocationID,trip_distance,hour,weekday\n74,75,2.5,8,1\n"), &o1); err != nil {
			t.Fatal(err)
		}
		if _, err := a.PredictCSV(strings.NewReader("weekday,extra,hour,trip_distance,DOLocationID,PULocationID\n1,zz,8,2.5,75,74\n"), &o2); err != nil {
			t.Fatal(err)
		}
		if o1.String() != o2.String() {
			t.Fatalf("got %q, want %q", o2.String(), o1.String())
		}
	})
}

func TestRead(t *testing.T) {
	for name, in := range map[string]string{
		"ErrNotJSON":     "PAR1 not a model",
		"ErrUnknownKind": `{"tripcast_kind": "forest"}`,
		"ErrBadLinear":   `{"tripcast_kind": "linear", "model": {"weights": "x"}}`,
		"ErrBadTrees":    `{"learner": {"gradient_booster": {"name": "gbtree", "model": {"trees": [{"left_children": [1]}]}}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := model.Read(strings.NewReader(in)); err == nil {
				t.Fatal("got nil error, want one")
			}
		})
	}
}

// loadMonth reads a real month with the course rule.
func loadMonth(t testing.TB, month string) *tripcast.Trips {
	t.Helper()
	trips, _, err := tlc.LoadFile(testfiles.Green(t, month), tlc.RuleCourse)
	if err != nil {
		t.Fatal(err)
	}
	return trips
}

// TestArtifactRoundTrip trains small real models, writes and reads them
// back, and checks the predictions, spec and metrics survive.
func TestArtifactRoundTrip(t *testing.T) {
	trips := loadMonth(t, "2021-01")
	spec := features.Default()
	if err := spec.Fit(trips); err != nil {
		t.Fatal(err)
	}
	m := spec.Matrix(trips, true)
	p := gbdt.DefaultParams()
	p.NumBoostRound, p.MaxDepth = 20, 5
	gm, err := gbdt.Train(context.Background(), &gbdt.Dataset{Cols: m.Cols, Label: m.Label, Names: m.Names, Categorical: m.Categorical}, nil, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	lm, err := linear.Train(trips, 1e-6)
	if err != nil {
		t.Fatal(err)
	}
	rides := []tripcast.Ride{
		{ID: "1", PULocationID: 130, DOLocationID: 205, TripDistance: 3.66},
		{ID: "2", PULocationID: 74, DOLocationID: 75, TripDistance: 1.2, PickupTime: time.Date(2021, 2, 1, 8, 15, 0, 0, time.UTC)},
		{ID: "3", PULocationID: 265, DOLocationID: 1, TripDistance: 0},
	}
	for _, a := range []*model.Artifact{
		{Kind: model.GBDT, GBDT: gm, Spec: spec, Metrics: map[string]float64{"valid_rmse": 5.5}, Params: p.Map()},
		{Kind: model.Linear, Linear: lm, Metrics: map[string]float64{"valid_rmse": 7.7}, Params: map[string]string{"alpha": "1e-06"}},
	} {
		t.Run(string(a.Kind), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "model.json")
			if err := a.SaveFile(path); err != nil {
				t.Fatal(err)
			}
			b, err := model.LoadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if b.Kind != a.Kind || b.Metrics["valid_rmse"] != a.Metrics["valid_rmse"] || b.Params["alpha"] != a.Params["alpha"] {
				t.Fatalf("got kind %s metrics %v params %v, want %s %v %v", b.Kind, b.Metrics, b.Params, a.Kind, a.Metrics, a.Params)
			}
			if a.Spec != nil && b.Spec.Version != a.Spec.Version {
				t.Fatalf("spec version: got %s, want %s", b.Spec.Version, a.Spec.Version)
			}
			for _, r := range rides {
				want, err := a.Predict(r)
				if err != nil {
					t.Fatal(err)
				}
				got, err := b.Predict(r)
				if err != nil {
					t.Fatal(err)
				}
				if got != want || math.IsNaN(got) || got <= 0 {
					t.Fatalf("ride %s: got %v, want %v (> 0)", r.ID, got, want)
				}
			}
			// CSV of ride columns agrees with Predict.
			var csvOut bytes.Buffer
			in := "trip_distance,DOLocationID,PULocationID,pickup_datetime\n3.66,205,130,\n1.2,75,74,2021-02-01T08:15:00Z\n0,1,265,\n"
			if n, err := b.PredictCSV(strings.NewReader(in), &csvOut); err != nil || n != 3 {
				t.Fatalf("PredictCSV: %d rows, %v", n, err)
			}
			lines := strings.Split(strings.TrimSpace(csvOut.String()), "\n")
			for i, r := range rides {
				want, _ := b.Predict(r)
				got, err := strconv.ParseFloat(lines[i+1], 64)
				if err != nil || math.Abs(got-want) > 1e-4 {
					t.Fatalf("CSV row %d: got %q, want %v", i, lines[i+1], want)
				}
			}
			// Batch scoring agrees with single predictions.
			sub := &tripcast.Trips{Pickup: trips.Pickup[:50], Dropoff: trips.Dropoff[:50], PULocationID: trips.PULocationID[:50],
				DOLocationID: trips.DOLocationID[:50], TripDistance: trips.TripDistance[:50], Duration: trips.Duration[:50]}
			out := make([]float64, 50)
			if err := b.PredictTrips(sub, out); err != nil {
				t.Fatal(err)
			}
			for i := range out {
				r := tripcast.Ride{PULocationID: int(sub.PULocationID[i]), DOLocationID: int(sub.DOLocationID[i]), TripDistance: sub.TripDistance[i], PickupTime: sub.PickupTime(i)}
				y, _ := b.Predict(r)
				if math.Abs(y-out[i]) > 1e-4 {
					t.Fatalf("row %d: batch %v, single %v", i, out[i], y)
				}
			}
		})
	}
}

func TestEvaluate(t *testing.T) {
	m := model.Evaluate([]float64{1, 2, 3, 5}, []float64{1, 2, 3, 4})
	if m.RMSE != 0.5 || m.MAE != 0.25 || m.N != 4 {
		t.Fatalf("got %+v, want RMSE 0.5 MAE 0.25", m)
	}
	// R² = 1 - SSE/SST = 1 - 1/5.
	if math.Abs(m.R2-0.8) > 1e-12 {
		t.Fatalf("R2: got %v, want 0.8", m.R2)
	}
}
