package gbdt_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"tripcast/gbdt"
)

// syntheticModel builds ntrees full trees of the given depth (every path has
// that depth: the worst case for prediction) over the five raw features,
// with thresholds drawn from real values of d, in XGBoost's JSON form.
func syntheticModel(tb testing.TB, d *gbdt.Dataset, ntrees, depth int) *gbdt.Model {
	tb.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	nn := 1<<(depth+1) - 1
	var trees []any
	for ti := 0; ti < ntrees; ti++ {
		left, right, parent := make([]int, nn), make([]int, nn), make([]int, nn)
		feat, dl, zeros := make([]int, nn), make([]int, nn), make([]int, nn)
		cond := make([]float32, nn)
		for i := 0; i < nn; i++ {
			parent[i] = 2147483647
			if i > 0 {
				parent[i] = (i - 1) / 2
			}
			if 2*i+1 < nn {
				left[i], right[i] = 2*i+1, 2*i+2
				feat[i] = rng.IntN(len(d.Cols))
				cond[i] = d.Cols[feat[i]][rng.IntN(d.Rows())]
				dl[i] = rng.IntN(2)
			} else {
				left[i], right[i] = -1, -1
				cond[i] = rng.Float32() - 0.5
			}
		}
		trees = append(trees, map[string]any{
			"id": ti, "left_children": left, "right_children": right, "parents": parent,
			"split_indices": feat, "split_conditions": cond, "default_left": dl, "split_type": zeros,
			"base_weights": cond, "loss_changes": zeros, "sum_hessian": zeros,
			"categories": []int{}, "categories_nodes": []int{}, "categories_segments": []int{}, "categories_sizes": []int{},
			"tree_param": map[string]string{"num_nodes": strconv.Itoa(nn), "num_feature": "5", "num_deleted": "0", "size_leaf_vector": "0"},
		})
	}
	doc := map[string]any{
		"version": []int{1, 7, 4},
		"learner": map[string]any{
			"attributes":    map[string]string{},
			"feature_names": d.Names,
			"feature_types": []string{"float", "float", "float", "float", "float"},
			"gradient_booster": map[string]any{"name": "gbtree", "model": map[string]any{
				"gbtree_model_param": map[string]string{"num_trees": strconv.Itoa(ntrees), "num_parallel_tree": "1", "size_leaf_vector": "0"},
				"tree_info":          make([]int, ntrees),
				"trees":              trees,
			}},
			"learner_model_param": map[string]string{"base_score": "1.6E1", "num_feature": "5", "num_class": "0", "num_target": "1"},
			"objective":           map[string]any{"name": "reg:squarederror"},
		},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := gbdt.ReadJSON(bytes.NewReader(b))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// threadCPU returns the CPU time used by the calling OS thread.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// processCPU returns the CPU time used by the process (all threads).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var (
	benchModelOnce sync.Once
	benchModel     *gbdt.Model
)

func model500(b *testing.B) *gbdt.Model {
	benchModelOnce.Do(func() { benchModel = syntheticModel(b, month(b, "2021-01"), 500, 8) })
	return benchModel
}

// BenchmarkPredict: one row through 500 full trees of depth 8 (target: < 20 µs).
func BenchmarkPredict(b *testing.B) {
	m := model500(b)
	v := month(b, "2021-02")
	rows := make([][]float32, 1024)
	for i := range rows {
		rows[i] = row(v, i*37%v.Rows())
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	c0 := threadCPU()
	var sink float32
	for i := 0; i < b.N; i++ {
		sink += m.Predict(rows[i%len(rows)])
	}
	cpu := threadCPU() - c0
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/float64(b.N), "µs/prediction")
	// CPU time of this thread: what the prediction costs when the machine
	// is shared (wall time then includes waiting for a core).
	b.ReportMetric(cpu.Seconds()*1e6/float64(b.N), "cpu-µs/prediction")
	_ = sink
}

// BenchmarkPredictBatch: all green 2021-02 rows through 500 full trees of
// depth 8, on all cores.
func BenchmarkPredictBatch(b *testing.B) {
	m := model500(b)
	v := month(b, "2021-02")
	out := make([]float32, v.Rows())
	b.ReportAllocs()
	b.ResetTimer()
	c0 := processCPU()
	for i := 0; i < b.N; i++ {
		m.PredictBatch(v.Cols, out)
	}
	cpu := processCPU() - c0
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(v.Rows())/sec, "rows/s")
	b.ReportMetric(sec*1e6/float64(v.Rows()), "µs/prediction")
	b.ReportMetric(cpu.Seconds()*1e6/float64(b.N*v.Rows()), "cpu-µs/prediction")
}

// BenchmarkTrain: green 2021-01 (73,908 rows, five raw features), depth 8,
// eta 0.1, lambda 1, no sampling, 50 rounds, on all cores.
func BenchmarkTrain(b *testing.B) {
	for _, tc := range []struct {
		name string
		cat  bool
	}{{"numeric", false}, {"categorical", true}} {
		b.Run(tc.name, func(b *testing.B) {
			d := head(month(b, "2021-01"), 1<<30, tc.cat)
			// bench/train_vs_xgboost's settings: XGBoost's defaults but
			// depth 8 and eta 0.1.
			p := gbdt.DefaultParams()
			p.NumBoostRound = 50
			p.EarlyStoppingRounds = 0
			p.Eta, p.Lambda, p.Subsample, p.ColsampleByTree = 0.1, 1, 1, 1
			b.ReportAllocs()
			b.ResetTimer()
			c0 := processCPU()
			for i := 0; i < b.N; i++ {
				if _, err := gbdt.Train(context.Background(), d, nil, p, nil); err != nil {
					b.Fatal(err)
				}
			}
			per := b.Elapsed() / time.Duration(b.N*p.NumBoostRound)
			b.ReportMetric(float64(per.Microseconds())/1e3, "ms/round")
			b.ReportMetric(float64(d.Rows()*p.NumBoostRound)/(b.Elapsed().Seconds()/float64(b.N)), "row-rounds/s")
			b.ReportMetric((processCPU()-c0).Seconds()*1e3/float64(b.N*p.NumBoostRound), "cpu-ms/round")
		})
	}
}

// BenchmarkBuildBins: the binning every training starts with, on green
// 2021-01's five raw features (73,908 rows), two threads.
func BenchmarkBuildBins(b *testing.B) {
	d := month(b, "2021-01")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := gbdt.BuildBins(d, 256, 2); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/op")
}
