package gbdt_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"tripcast"
	"tripcast/gbdt"
)

// jtree is the part of XGBoost's JSON tree the tests look at.
type jtree struct {
	Left       []int     `json:"left_children"`
	Right      []int     `json:"right_children"`
	Feature    []int     `json:"split_indices"`
	Cond       []float64 `json:"split_conditions"`
	DefLeft    []int     `json:"default_left"`
	LossChange []float64 `json:"loss_changes"`
	SumHess    []float64 `json:"sum_hessian"`
	SplitType  []int     `json:"split_type"`
	Categories []int     `json:"categories"`
	CatNodes   []int     `json:"categories_nodes"`
}

func trees(t *testing.T, m *gbdt.Model) ([]jtree, float64) {
	t.Helper()
	var buf bytes.Buffer
	if err := m.WriteJSON(&buf); err != nil {
		t.Fatalf("WriteJSON: %v", err)
	}
	var doc struct {
		Learner struct {
			GB struct {
				Model struct {
					Trees []jtree `json:"trees"`
				} `json:"model"`
			} `json:"gradient_booster"`
			LMP struct {
				BaseScore string `json:"base_score"`
			} `json:"learner_model_param"`
		} `json:"learner"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatalf("decode our JSON: %v", err)
	}
	bs, err := strconv.ParseFloat(doc.Learner.LMP.BaseScore, 64)
	if err != nil {
		t.Fatalf("base_score %q: %v", doc.Learner.LMP.BaseScore, err)
	}
	return doc.Learner.GB.Model.Trees, bs
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// exact returns parameters for hand-checked trees: one round, no shrinkage
// or sampling.
func exact() gbdt.Params {
	p := gbdt.DefaultParams()
	p.Eta = 1
	p.MaxDepth = 1
	p.NumBoostRound = 1
	p.EarlyStoppingRounds = 0
	p.Subsample = 1
	p.ColsampleByTree = 1
	p.MinChildWeight = 0
	p.Lambda = 1
	p.Alpha = 0
	return p
}

func TestTrainExactSplit(t *testing.T) {
	// x = 1,2,3,4; y = 1,1,5,5. base = 3, g = pred - y = 2,2,-2,-2, h = 1.
	// Best split x < 3: GL = 4, HL = 2, GR = -4, HR = 2, parent G = 0.
	d := &gbdt.Dataset{
		Cols:  [][]float32{{1, 2, 3, 4}},
		Label: []float32{1, 1, 5, 5},
		Names: []string{"x"},
	}
	for _, tc := range []struct {
		name       string
		lambda     float64
		alpha      float64
		wantGain   float64 // T(GL)²/(HL+λ) + T(GR)²/(HR+λ) - T(G)²/(H+λ)
		wantLeaves [2]float64
	}{
		{"OK", 1, 0, 16.0/3 + 16.0/3, [2]float64{-4.0 / 3, 4.0 / 3}},
		{"OKLambda0", 0, 0, 8 + 8, [2]float64{-2, 2}},
		{"OKAlpha", 1, 1, 9.0/3 + 9.0/3, [2]float64{-1, 1}}, // T(4) = 3
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := exact()
			p.Lambda, p.Alpha = tc.lambda, tc.alpha
			m := mustTrain(t, d, nil, p)
			ts, bs := trees(t, m)
			if bs != 3 {
				t.Errorf("base_score: got %v, want 3", bs)
			}
			tr := ts[0]
			if len(tr.Left) != 3 {
				t.Fatalf("nodes: got %d, want 3", len(tr.Left))
			}
			if tr.Feature[0] != 0 || tr.Cond[0] != 3 || tr.Left[0] != 1 || tr.Right[0] != 2 {
				t.Errorf("root split: got feature %d cond %v children %d,%d, want x < 3 -> 1,2", tr.Feature[0], tr.Cond[0], tr.Left[0], tr.Right[0])
			}
			if !near(tr.LossChange[0], tc.wantGain, 1e-5) {
				t.Errorf("loss change: got %v, want %v", tr.LossChange[0], tc.wantGain)
			}
			for k, want := range tc.wantLeaves {
				if got := tr.Cond[1+k]; !near(got, want, 1e-6) {
					t.Errorf("leaf %d: got %v, want %v", 1+k, got, want)
				}
			}
			if tr.SumHess[0] != 4 || tr.SumHess[1] != 2 || tr.SumHess[2] != 2 {
				t.Errorf("sum_hessian: got %v, want [4 2 2]", tr.SumHess)
			}
			for i, x := range []float32{1, 2.9, 3, 4} {
				want := float32(3 + tc.wantLeaves[0])
				if x >= 3 {
					want = float32(3 + tc.wantLeaves[1])
				}
				if got := m.Predict([]float32{x}); !near(float64(got), float64(want), 1e-6) {
					t.Errorf("Predict(%v) #%d: got %v, want %v", x, i, got, want)
				}
			}
		})
	}
	t.Run("OKEta", func(t *testing.T) {
		p := exact()
		p.Eta = 0.3
		m := mustTrain(t, d, nil, p)
		ts, _ := trees(t, m)
		if got, want := ts[0].Cond[1], 0.3*-4.0/3; !near(got, want, 1e-6) {
			t.Errorf("leaf: got %v, want %v", got, want)
		}
	})
	t.Run("OKMinChildWeight", func(t *testing.T) {
		// Each side of any split has at most 3 of the 4 rows; with
		// min_child_weight 3 no split qualifies: one leaf of weight 0.
		p := exact()
		p.MinChildWeight = 3
		m := mustTrain(t, d, nil, p)
		ts, _ := trees(t, m)
		if len(ts[0].Left) != 1 || ts[0].Cond[0] != 0 {
			t.Errorf("tree: got %d nodes, leaf %v, want a single leaf 0", len(ts[0].Left), ts[0].Cond)
		}
	})
	t.Run("OKGamma", func(t *testing.T) {
		p := exact()
		p.Gamma = 10.7 // > 32/3
		m := mustTrain(t, d, nil, p)
		if ts, _ := trees(t, m); len(ts[0].Left) != 1 {
			t.Errorf("nodes: got %d, want 1 (gamma prunes the split)", len(ts[0].Left))
		}
		p.Gamma = 10.6
		m = mustTrain(t, d, nil, p)
		if ts, _ := trees(t, m); len(ts[0].Left) != 3 {
			t.Errorf("nodes: got %d, want 3 (gain 10.67 > gamma 10.6)", len(ts[0].Left))
		}
	})
	t.Run("OKTwoLevels", func(t *testing.T) {
		// Depth 2 on x = 1..4, y = 1,2,5,9 with λ = 0, η = 1 fits exactly.
		p := exact()
		p.Lambda = 0
		p.MaxDepth = 2
		e := &gbdt.Dataset{Cols: [][]float32{{1, 2, 3, 4}}, Label: []float32{1, 2, 5, 9}, Names: []string{"x"}}
		m := mustTrain(t, e, nil, p)
		for i, y := range e.Label {
			if got := m.Predict([]float32{e.Cols[0][i]}); !near(float64(got), float64(y), 1e-5) {
				t.Errorf("Predict(%v): got %v, want %v", e.Cols[0][i], got, y)
			}
		}
	})
}

func TestTrainMissing(t *testing.T) {
	nan := float32(math.NaN())
	for _, tc := range []struct {
		name     string
		missingY float32
		wantLeft bool
	}{
		{"OKLeft", 1, true},   // missing rows look like the small-x rows
		{"OKRight", 5, false}, // missing rows look like the large-x rows
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &gbdt.Dataset{
				Cols:  [][]float32{{1, 2, nan, 3, 4, nan}},
				Label: []float32{1, 1, tc.missingY, 5, 5, tc.missingY},
				Names: []string{"x"},
			}
			p := exact()
			p.Lambda = 0
			m := mustTrain(t, d, nil, p)
			ts, _ := trees(t, m)
			tr := ts[0]
			if tr.Cond[0] != 3 {
				t.Errorf("split: got x < %v, want x < 3", tr.Cond[0])
			}
			if got := tr.DefLeft[0] == 1; got != tc.wantLeft {
				t.Errorf("default_left: got %v, want %v", got, tc.wantLeft)
			}
			// With λ = 0 and η = 1 the leaves fit the group means exactly.
			if got := m.Predict([]float32{nan}); !near(float64(got), float64(tc.missingY), 1e-5) {
				t.Errorf("Predict(NaN): got %v, want %v", got, tc.missingY)
			}
		})
	}
}

func TestTrainCategorical(t *testing.T) {
	// Zones 0..5; duration 10 for zones {1, 4, 5} and 0 for {0, 2, 3}: no
	// single threshold separates them, one categorical split does.
	var codes, ys []float32
	for i := 0; i < 60; i++ {
		c := i % 6
		if i%12 >= 6 && (c == 1 || c == 4 || c == 5) {
			c = []int{0, 2, 3}[i%3] // make {0,2,3} the larger group
		}
		codes = append(codes, float32(c))
		y := float32(0)
		if c == 1 || c == 4 || c == 5 {
			y = 10
		}
		ys = append(ys, y)
	}
	d := &gbdt.Dataset{Cols: [][]float32{codes}, Label: ys, Names: []string{"zone"}, Categorical: []bool{true}}
	p := exact()
	p.Lambda = 0
	t.Run("OK", func(t *testing.T) {
		m := mustTrain(t, d, nil, p)
		ts, _ := trees(t, m)
		tr := ts[0]
		if len(tr.SplitType) == 0 || tr.SplitType[0] != 1 {
			t.Fatalf("split_type: got %v, want root categorical (1)", tr.SplitType)
		}
		if got := tr.Categories; len(got) != 3 || got[0] != 1 || got[1] != 4 || got[2] != 5 {
			t.Errorf("categories (going right): got %v, want [1 4 5] (the smaller group)", got)
		}
		for c := 0; c < 6; c++ {
			want := float32(0)
			if c == 1 || c == 4 || c == 5 {
				want = 10
			}
			if got := m.Predict([]float32{float32(c)}); !near(float64(got), float64(want), 1e-5) {
				t.Errorf("Predict(zone %d): got %v, want %v", c, got, want)
			}
		}
		// An unseen zone goes left, with the larger group (like XGBoost).
		if got := m.Predict([]float32{99}); !near(float64(got), 0, 1e-5) {
			t.Errorf("Predict(unseen zone): got %v, want 0", got)
		}
		if got := m.Categorical(); !got[0] {
			t.Errorf("Categorical: got %v, want [true]", got)
		}
	})
	t.Run("OKNumericCannot", func(t *testing.T) {
		// Treated as a number, one split cannot fit the groups.
		e := *d
		e.Categorical = nil
		m := mustTrain(t, &e, nil, p)
		var worst float64
		for i, c := range codes {
			worst = max(worst, math.Abs(float64(m.Predict([]float32{c})-ys[i])))
		}
		if worst < 1 {
			t.Errorf("numeric depth-1 fit: worst error %v, want >= 1", worst)
		}
	})
	t.Run("ErrNotACode", func(t *testing.T) {
		e := *d
		e.Cols = [][]float32{append([]float32{-1}, codes[1:]...)}
		_, err := gbdt.Train(context.Background(), &e, nil, p, nil)
		if tripcast.ErrorCode(err) != tripcast.EINVALID || !strings.Contains(err.Error(), "category code") {
			t.Errorf("got %v, want an EINVALID error about the category code", err)
		}
	})
}

func TestTrainDeterministic(t *testing.T) {
	d := head(month(t, "2021-01"), 20000, true)
	p := gbdt.DefaultParams()
	p.NumBoostRound = 15
	p.EarlyStoppingRounds = 0
	p.Subsample = 0.8
	p.ColsampleByTree = 0.8
	p.Seed = 7
	jsonOf := func(p gbdt.Params) string {
		var buf bytes.Buffer
		if err := mustTrain(t, d, nil, p).WriteJSON(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	p.NThread = 1
	one := jsonOf(p)
	t.Run("OKSameSeed", func(t *testing.T) {
		if jsonOf(p) != one {
			t.Error("two runs with the same seed differ")
		}
	})
	t.Run("OKNThread", func(t *testing.T) {
		q := p
		q.NThread = 3
		if jsonOf(q) != one {
			t.Error("nthread 3 and nthread 1 give different models")
		}
	})
	t.Run("OKNThreadAllRows", func(t *testing.T) {
		// No sampling: the root histogram from the presorted rows, and
		// nodes large enough to be partitioned in blocks.
		all := head(month(t, "2021-01"), 1<<30, false)
		q := gbdt.DefaultParams()
		q.NumBoostRound, q.EarlyStoppingRounds, q.Subsample, q.ColsampleByTree = 8, 0, 1, 1
		var want string
		for _, nt := range []int{1, 2, 3} {
			q.NThread = nt
			var buf bytes.Buffer
			if err := mustTrain(t, all, nil, q).WriteJSON(&buf); err != nil {
				t.Fatal(err)
			}
			if nt == 1 {
				want = buf.String()
			} else if buf.String() != want {
				t.Errorf("nthread %d and nthread 1 give different models", nt)
			}
		}
	})
	t.Run("OKOtherSeed", func(t *testing.T) {
		q := p
		q.Seed = 8
		if jsonOf(q) == one {
			t.Error("seeds 7 and 8 give the same model, want different row samples")
		}
	})
}

func TestTrainEarlyStopping(t *testing.T) {
	train := head(month(t, "2021-01"), 20000, false)
	valid := head(month(t, "2021-02"), 10000, false)
	p := gbdt.DefaultParams()
	p.Eta = 0.5 // overfits fast
	p.NumBoostRound = 300
	p.EarlyStoppingRounds = 5
	var log []gbdt.Progress
	m, err := gbdt.Train(context.Background(), train, valid, p, func(pr gbdt.Progress) { log = append(log, pr) })
	if err != nil {
		t.Fatal(err)
	}
	last := log[len(log)-1]
	if len(log) >= p.NumBoostRound {
		t.Fatalf("rounds: got %d, want early stop before %d", len(log), p.NumBoostRound)
	}
	if last.Round != last.Best+p.EarlyStoppingRounds {
		t.Errorf("stopped at round %d, best %d: want best + %d", last.Round, last.Best, p.EarlyStoppingRounds)
	}
	if m.NumTrees() != last.Best+1 {
		t.Errorf("trees: got %d, want best+1 = %d", m.NumTrees(), last.Best+1)
	}
	for _, pr := range log {
		if pr.ValidRMSE < last.BestRMSE {
			t.Errorf("round %d valid RMSE %v < best %v", pr.Round, pr.ValidRMSE, last.BestRMSE)
		}
	}
	out := make([]float32, valid.Rows())
	m.PredictBatch(valid.Cols, out)
	var s float64
	for i, y := range valid.Label {
		s += (float64(out[i]) - float64(y)) * (float64(out[i]) - float64(y))
	}
	if got := math.Sqrt(s / float64(len(out))); !near(got, last.BestRMSE, 1e-9) {
		t.Errorf("kept model's valid RMSE: got %v, want the best %v", got, last.BestRMSE)
	}
}

func TestTrainCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := gbdt.Train(ctx, head(month(t, "2021-01"), 1000, false), nil, gbdt.DefaultParams(), nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestTrainErrInput(t *testing.T) {
	good := &gbdt.Dataset{Cols: [][]float32{{1, 2}}, Label: []float32{1, 2}, Names: []string{"x"}}
	for _, tc := range []struct {
		name  string
		d     *gbdt.Dataset
		field string
	}{
		{"ErrLabels", &gbdt.Dataset{Cols: [][]float32{{1, 2}}, Label: []float32{1}, Names: []string{"x"}}, "train"},
		{"ErrNames", &gbdt.Dataset{Cols: [][]float32{{1, 2}}, Label: []float32{1, 2}}, "train"},
		{"ErrRagged", &gbdt.Dataset{Cols: [][]float32{{1, 2}, {1}}, Label: []float32{1, 2}, Names: []string{"x", "y"}}, "train"},
		{"ErrNaNLabel", &gbdt.Dataset{Cols: [][]float32{{1, 2}}, Label: []float32{1, float32(math.NaN())}, Names: []string{"x"}}, "train"},
		{"ErrEmpty", &gbdt.Dataset{}, "train"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := gbdt.Train(context.Background(), tc.d, nil, gbdt.DefaultParams(), nil)
			if tripcast.ErrorField(err) != tc.field {
				t.Errorf("got %v (field %q), want an error on field %q", err, tripcast.ErrorField(err), tc.field)
			}
		})
	}
	t.Run("ErrParam", func(t *testing.T) {
		p := gbdt.DefaultParams()
		p.Eta = 0
		_, err := gbdt.Train(context.Background(), good, nil, p, nil)
		if tripcast.ErrorField(err) != "eta" {
			t.Errorf("got %v, want an error on field eta", err)
		}
	})
}

func TestParams(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		p := gbdt.DefaultParams()
		for k, v := range map[string]string{"eta": "0.05", "max_depth": "6", "subsample": "0.7", "reg_lambda": "2", "nthread": "1", "seed": "42", "colsample_bytree": "0.5"} {
			if err := p.Set(k, v); err != nil {
				t.Fatalf("Set(%s, %s): %v", k, v, err)
			}
		}
		if p.Eta != 0.05 || p.MaxDepth != 6 || p.Subsample != 0.7 || p.Lambda != 2 || p.Seed != 42 || p.ColsampleByTree != 0.5 {
			t.Errorf("got %+v", p)
		}
		var q gbdt.Params
		for k, v := range p.Map() {
			if err := q.Set(k, v); err != nil {
				t.Fatalf("Set(%s, %s) from Map: %v", k, v, err)
			}
		}
		if q != p {
			t.Errorf("Map/Set round trip: got %+v, want %+v", q, p)
		}
	})
	for _, tc := range []struct{ name, key, value, want string }{
		{"ErrUnknown", "etta", "0.1", "unknown parameter"},
		{"ErrNotNumber", "eta", "fast", "not a number"},
		{"ErrRange", "subsample", "0", "out of range"},
		{"ErrDepth", "max_depth", "0", "out of range"},
		{"ErrInt", "max_bin", "2.5", "not an integer"},
		{"ErrTreeMethod", "tree_method", "exact", "not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := gbdt.DefaultParams()
			err := p.Set(tc.key, tc.value)
			if err == nil || tripcast.ErrorField(err) != tc.key || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Set(%s, %s): got %v, want an error on %s containing %q", tc.key, tc.value, err, tc.key, tc.want)
			}
		})
	}
}

func TestPredictBatch(t *testing.T) {
	d := head(month(t, "2021-02"), 5000, true)
	p := gbdt.DefaultParams()
	p.NumBoostRound = 25
	p.EarlyStoppingRounds = 0
	for _, cat := range []bool{false, true} {
		t.Run(fmt.Sprintf("OKCategorical=%v", cat), func(t *testing.T) {
			tr := head(month(t, "2021-01"), 20000, cat)
			m := mustTrain(t, tr, nil, p)
			// Missing values in every column, an unseen zone, a negative one.
			cols := make([][]float32, len(d.Cols))
			for f, c := range d.Cols {
				cols[f] = append([]float32(nil), c...)
				for i := f; i < len(c); i += 11 {
					cols[f][i] = float32(math.NaN())
				}
			}
			cols[0][3], cols[1][4] = 999, -5
			out := make([]float32, len(cols[0]))
			m.PredictBatch(cols, out)
			r := make([]float32, len(cols))
			for i := range out {
				for f := range cols {
					r[f] = cols[f][i]
				}
				if got := m.Predict(r); got != out[i] {
					t.Fatalf("row %d: Predict %v, PredictBatch %v: want identical", i, got, out[i])
				}
			}
			if a := testing.AllocsPerRun(100, func() { m.Predict(r) }); a != 0 {
				t.Errorf("Predict allocates %v times, want 0", a)
			}
		})
	}
}

// TestTrainProgressRMSE checks the training predictions the trainer keeps
// (leaf ranges, last-level shortcut, rows left out by subsampling) against
// the model's own predictions.
func TestTrainProgressRMSE(t *testing.T) {
	for _, cat := range []bool{false, true} {
		t.Run(fmt.Sprintf("OKCategorical=%v", cat), func(t *testing.T) {
			d := head(month(t, "2021-01"), 20000, cat)
			p := gbdt.DefaultParams()
			p.NumBoostRound = 20
			p.EarlyStoppingRounds = 0
			var last gbdt.Progress
			m, err := gbdt.Train(context.Background(), d, nil, p, func(pr gbdt.Progress) { last = pr })
			if err != nil {
				t.Fatal(err)
			}
			out := make([]float32, d.Rows())
			m.PredictBatch(d.Cols, out)
			var s float64
			for i, y := range d.Label {
				e := float64(out[i]) - float64(y)
				s += e * e
			}
			if got := math.Sqrt(s / float64(len(out))); got != last.TrainRMSE {
				t.Errorf("model's train RMSE %v, progress reported %v: want identical", got, last.TrainRMSE)
			}
		})
	}
}
