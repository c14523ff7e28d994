package sqlstore_test

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"tripcast"
	"tripcast/sqlstore"
)

func TestExperiments(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		db := MustOpenDB(t, e.Fresh(t))
		ctx := context.Background()
		t.Run("OK", func(t *testing.T) {
			created, err := db.CreateExperiment(ctx, "nyc-taxi")
			if err != nil {
				t.Fatal(err)
			}
			got, err := db.GetExperimentByName(ctx, "nyc-taxi")
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != created.ID || got.Name != "nyc-taxi" || !got.CreatedAt.Equal(created.CreatedAt) {
				t.Errorf("got %+v, want %+v", got, created)
			}
		})
		t.Run("ErrConflict", func(t *testing.T) {
			_, err := db.CreateExperiment(ctx, "nyc-taxi")
			mustCode(t, err, tripcast.ECONFLICT)
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			_, err := db.GetExperimentByName(ctx, "nope")
			mustCode(t, err, tripcast.ENOTFOUND)
		})
		t.Run("ErrInvalid", func(t *testing.T) {
			_, err := db.CreateExperiment(ctx, "")
			mustCode(t, err, tripcast.EINVALID)
		})
	})
}

func TestRuns(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		db := MustOpenDB(t, e.Fresh(t))
		ctx := context.Background()
		t0 := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)

		t.Run("OK", func(t *testing.T) {
			if _, err := db.CreateExperiment(ctx, "exp"); err != nil {
				t.Fatal(err)
			}
			r := &tripcast.Run{ID: "parent1", Experiment: "exp", Name: "tune", Status: tripcast.RunRunning, StartTime: t0,
				FeatureSpec: "v1", TripcastVersion: "v0.1.0", VCSRevision: "abc123"}
			if err := db.CreateRun(ctx, r); err != nil {
				t.Fatal(err)
			}
			if err := db.LogParams(ctx, "parent1", map[string]string{"max_depth": "6", "eta": "0.1"}); err != nil {
				t.Fatal(err)
			}
			// Same value again: no-op.
			if err := db.LogParams(ctx, "parent1", map[string]string{"eta": "0.1"}); err != nil {
				t.Fatal(err)
			}
			pts := []tripcast.Metric{
				{Key: "rmse", Value: 7.5, Step: 0, Timestamp: t0},
				{Key: "rmse", Value: 6.25, Step: 2, Timestamp: t0.Add(2 * time.Second)},
				{Key: "rmse", Value: 6.5, Step: 1, Timestamp: t0.Add(time.Second)},
				{Key: "nan", Value: math.NaN(), Step: 0, Timestamp: t0},
			}
			if err := db.LogMetrics(ctx, "parent1", pts); err != nil {
				t.Fatal(err)
			}
			// An older step logged later does not replace the latest point.
			if err := db.LogMetrics(ctx, "parent1", []tripcast.Metric{{Key: "rmse", Value: 9, Step: 1, Timestamp: t0.Add(time.Hour)}}); err != nil {
				t.Fatal(err)
			}
			if err := db.SetTags(ctx, "parent1", map[string]string{"kind": "tune", "note": "a"}); err != nil {
				t.Fatal(err)
			}
			if err := db.SetTags(ctx, "parent1", map[string]string{"note": "b"}); err != nil {
				t.Fatal(err)
			}
			art := tripcast.Artifact{Name: "model.json", URI: "file:///x/model.json", Key: "artifacts/parent1/model.json", SHA256: "aa", Size: 10}
			if err := db.LogArtifact(ctx, "parent1", art); err != nil {
				t.Fatal(err)
			}
			art.SHA256, art.Size = "bb", 11 // replaced
			if err := db.LogArtifact(ctx, "parent1", art); err != nil {
				t.Fatal(err)
			}
			ds := []tripcast.DatasetInput{{URI: "file:///d/green-2021-02.parquet", SHA256: "s2", Rows: 73908}, {URI: "file:///d/green-2021-01.parquet", SHA256: "s1"}}
			for _, d := range append(ds, ds[0]) {
				if err := db.AddDatasetInput(ctx, "parent1", d); err != nil {
					t.Fatal(err)
				}
			}
			end := t0.Add(time.Minute)
			if err := db.EndRun(ctx, "parent1", tripcast.RunFinished, end); err != nil {
				t.Fatal(err)
			}

			got, err := db.GetRun(ctx, "parent1")
			if err != nil {
				t.Fatal(err)
			}
			want := &tripcast.Run{ID: "parent1", Experiment: "exp", Name: "tune", Status: tripcast.RunFinished,
				StartTime: t0, EndTime: end, FeatureSpec: "v1", TripcastVersion: "v0.1.0", VCSRevision: "abc123",
				Params: map[string]string{"max_depth": "6", "eta": "0.1"},
				Tags:   map[string]string{"kind": "tune", "note": "b"},
				Metrics: []tripcast.Metric{
					{Key: "nan", Value: math.NaN(), Step: 0, Timestamp: t0},
					{Key: "rmse", Value: 6.25, Step: 2, Timestamp: t0.Add(2 * time.Second)},
				},
				Artifacts: []tripcast.Artifact{art},
				Datasets:  ds,
			}
			if !math.IsNaN(got.Metrics[0].Value) {
				t.Errorf("got nan metric %v, want NaN", got.Metrics[0].Value)
			}
			got.Metrics[0].Value, want.Metrics[0].Value = 0, 0
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got\n%+v\nwant\n%+v", got, want)
			}

			hist, err := db.MetricHistory(ctx, "parent1", "rmse")
			if err != nil {
				t.Fatal(err)
			}
			var vals []float64
			for _, m := range hist {
				vals = append(vals, m.Value)
			}
			if want := []float64{7.5, 6.5, 9, 6.25}; !reflect.DeepEqual(vals, want) {
				t.Errorf("got history %v, want %v", vals, want)
			}
			if hist, err := db.MetricHistory(ctx, "parent1", "never"); err != nil || len(hist) != 0 || hist == nil {
				t.Errorf("got %v, %v, want empty non-nil slice", hist, err)
			}
		})

		t.Run("List", func(t *testing.T) {
			for i := range 3 {
				r := &tripcast.Run{ID: fmt.Sprintf("child%d", i), Experiment: "exp", Name: "trial", Status: tripcast.RunRunning,
					StartTime: t0.Add(time.Duration(i+1) * time.Second), ParentID: "parent1"}
				if err := db.CreateRun(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.EndRun(ctx, "child1", tripcast.RunFailed, t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			mustRun(t, db, "other", "o1", "")
			ids := func(f tripcast.RunFilter) []string {
				t.Helper()
				runs, err := db.ListRuns(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, r := range runs {
					out = append(out, r.ID)
				}
				return out
			}
			for _, tc := range []struct {
				f    tripcast.RunFilter
				want []string
			}{
				{tripcast.RunFilter{Experiment: "exp"}, []string{"child2", "child1", "child0", "parent1"}},
				{tripcast.RunFilter{ParentID: "parent1"}, []string{"child2", "child1", "child0"}},
				{tripcast.RunFilter{Experiment: "exp", Status: tripcast.RunFailed}, []string{"child1"}},
				{tripcast.RunFilter{Experiment: "exp", Limit: 2}, []string{"child2", "child1"}},
				{tripcast.RunFilter{Experiment: "none"}, nil},
			} {
				if got := ids(tc.f); !reflect.DeepEqual(got, tc.want) {
					t.Errorf("%+v: got %v, want %v", tc.f, got, tc.want)
				}
			}
			runs, _ := db.ListRuns(ctx, tripcast.RunFilter{ParentID: "parent1", Status: tripcast.RunFailed})
			if len(runs) != 1 || runs[0].ParentID != "parent1" || runs[0].EndTime.IsZero() || runs[0].Experiment != "exp" {
				t.Errorf("got %+v, want child1 of parent1 in exp, ended", runs)
			}
		})

		t.Run("ErrNotFound", func(t *testing.T) {
			_, err := db.GetRun(ctx, "missing")
			mustCode(t, err, tripcast.ENOTFOUND)
			_, err = db.MetricHistory(ctx, "missing", "rmse")
			mustCode(t, err, tripcast.ENOTFOUND)
			mustCode(t, db.CreateRun(ctx, &tripcast.Run{ID: "x", Experiment: "nope", Status: tripcast.RunRunning}), tripcast.ENOTFOUND)
			mustCode(t, db.CreateRun(ctx, &tripcast.Run{ID: "x", Experiment: "exp", Status: tripcast.RunRunning, ParentID: "nope"}), tripcast.ENOTFOUND)
			mustCode(t, db.LogParams(ctx, "missing", map[string]string{"a": "b"}), tripcast.ENOTFOUND)
			mustCode(t, db.LogMetrics(ctx, "missing", []tripcast.Metric{{Key: "a"}}), tripcast.ENOTFOUND)
			mustCode(t, db.SetTags(ctx, "missing", map[string]string{"a": "b"}), tripcast.ENOTFOUND)
			mustCode(t, db.LogArtifact(ctx, "missing", tripcast.Artifact{Name: "a"}), tripcast.ENOTFOUND)
			mustCode(t, db.AddDatasetInput(ctx, "missing", tripcast.DatasetInput{URI: "a"}), tripcast.ENOTFOUND)
			mustCode(t, db.EndRun(ctx, "missing", tripcast.RunKilled, t0), tripcast.ENOTFOUND)
		})
		t.Run("ErrConflict", func(t *testing.T) {
			mustCode(t, db.CreateRun(ctx, &tripcast.Run{ID: "parent1", Experiment: "exp", Status: tripcast.RunRunning}), tripcast.ECONFLICT)
			mustCode(t, db.LogParams(ctx, "parent1", map[string]string{"eta": "0.3"}), tripcast.ECONFLICT)
			mustCode(t, db.EndRun(ctx, "parent1", tripcast.RunFailed, t0), tripcast.ECONFLICT)
		})
		t.Run("ErrInvalid", func(t *testing.T) {
			mustCode(t, db.CreateRun(ctx, &tripcast.Run{Experiment: "exp", Status: tripcast.RunRunning}), tripcast.EINVALID)
			mustCode(t, db.CreateRun(ctx, &tripcast.Run{ID: "y", Experiment: "exp", Status: "DONE"}), tripcast.EINVALID)
			mustCode(t, db.EndRun(ctx, "child0", tripcast.RunRunning, t0), tripcast.EINVALID)
			mustCode(t, db.LogMetrics(ctx, "child0", []tripcast.Metric{{Key: ""}}), tripcast.EINVALID)
		})
	})
}

// TestLogMetricsBulk logs 10,000 points in one call and reads them back.
func TestLogMetricsBulk(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		db := MustOpenDB(t, e.Fresh(t))
		mustRun(t, db, "bulk", "r", "")
		pts := metricPoints(10_000)
		if err := db.LogMetrics(context.Background(), "r", pts); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"train_rmse", "valid_rmse"} {
			hist, err := db.MetricHistory(context.Background(), "r", key)
			if err != nil {
				t.Fatal(err)
			}
			if len(hist) != 5000 {
				t.Fatalf("%s: got %d points, want 5000", key, len(hist))
			}
			for i, m := range hist {
				if m.Step != int64(i) {
					t.Fatalf("%s: point %d: got step %d, want %d", key, i, m.Step, i)
				}
			}
		}
		run, _ := db.GetRun(context.Background(), "r")
		if len(run.Metrics) != 2 || run.Metrics[0].Step != 4999 {
			t.Errorf("got latest %+v, want 2 keys at step 4999", run.Metrics)
		}
	})
}

// metricPoints returns n points over two keys, as a boosting loop logs
// them: train and validation RMSE per round.
func metricPoints(n int) []tripcast.Metric {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pts := make([]tripcast.Metric, n)
	for i := range pts {
		key := "train_rmse"
		if i%2 == 1 {
			key = "valid_rmse"
		}
		pts[i] = tripcast.Metric{Key: key, Value: 10 / float64(i+1), Step: int64(i / 2), Timestamp: t0.Add(time.Duration(i) * time.Millisecond)}
	}
	return pts
}

// BenchmarkLogMetrics10k measures one LogMetrics call of 10,000 points for
// one run (the bulk-logging requirement: under 1 s on both engines).
//
//	go test ./sqlstore/ -run '^$' -bench LogMetrics10k -benchtime 10x
func BenchmarkLogMetrics10k(b *testing.B) {
	for _, e := range engines {
		b.Run(e.Name, func(b *testing.B) {
			db := MustOpenDB(b, e.Fresh(b))
			pts := metricPoints(10_000)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				id := fmt.Sprintf("bench%d", i)
				mustRun(b, db, "bench", id, "")
				b.StartTimer()
				if err := db.LogMetrics(context.Background(), id, pts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "ms/10k-points")
			b.ReportMetric(float64(10_000*b.N)/b.Elapsed().Seconds(), "points/s")
		})
	}
}

var _ tripcast.RunStore = (*sqlstore.DB)(nil)
