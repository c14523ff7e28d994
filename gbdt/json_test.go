package gbdt_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"tripcast/gbdt"
	"tripcast/internal/testenv"
	"tripcast/internal/testfiles"
)

// readCSV reads a CSV of floats with a header; an empty cell is NaN.
func readCSV(t *testing.T, path string) ([]string, [][]float32) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var rows [][]float32
	for _, rec := range recs[1:] {
		r := make([]float32, len(rec))
		for i, s := range rec {
			if s == "" {
				r[i] = float32(math.NaN())
				continue
			}
			v, err := strconv.ParseFloat(s, 32)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			r[i] = float32(v)
		}
		rows = append(rows, r)
	}
	return recs[0], rows
}

func columns(rows [][]float32) [][]float32 {
	cols := make([][]float32, len(rows[0]))
	for f := range cols {
		cols[f] = make([]float32, len(rows))
		for i, r := range rows {
			cols[f][i] = r[f]
		}
	}
	return cols
}

// TestFixtureParity predicts with the model XGBoost 1.7.4 saved and
// compares with XGBoost's own predictions (tolerance 1e-4 minutes).
func TestFixtureParity(t *testing.T) {
	dir := testfiles.Fixture(t, "xgboost-1.7-depth6")
	m, err := gbdt.LoadFile(filepath.Join(dir, "model.json"))
	if err != nil {
		t.Fatal(err)
	}
	header, inputs := readCSV(t, filepath.Join(dir, "inputs.csv"))
	_, expected := readCSV(t, filepath.Join(dir, "expected.csv"))
	if got := m.FeatureNames(); strings.Join(got, ",") != strings.Join(header, ",") {
		t.Fatalf("feature names: got %v, want %v", got, header)
	}
	if m.NumTrees() != 100 {
		t.Errorf("trees: got %d, want 100", m.NumTrees())
	}
	out := make([]float32, len(inputs))
	m.PredictBatch(columns(inputs), out)
	var worst float64
	for i, r := range inputs {
		got := m.Predict(r)
		if got != out[i] {
			t.Errorf("row %d: Predict %v != PredictBatch %v", i, got, out[i])
		}
		worst = max(worst, math.Abs(float64(got)-float64(expected[i][0])))
	}
	if worst > 1e-4 {
		t.Errorf("max abs diff vs XGBoost: got %v, want <= 1e-4", worst)
	}
	t.Logf("max abs diff vs XGBoost 1.7.4 over %d rows: %g", len(inputs), worst)
}

func TestJSONRoundTrip(t *testing.T) {
	d := head(month(t, "2021-01"), 20000, true)
	p := gbdt.DefaultParams()
	p.NumBoostRound = 20
	p.EarlyStoppingRounds = 0
	m := mustTrain(t, d, nil, p)
	m.Attributes["feature_spec"] = `{"version":1}`
	var a bytes.Buffer
	if err := m.WriteJSON(&a); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.json")
	if err := m.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	m2, err := gbdt.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := m2.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Error("write → read → write changed the JSON")
	}
	if got := m2.Attributes["feature_spec"]; got != `{"version":1}` {
		t.Errorf("attribute: got %q, want %q", got, `{"version":1}`)
	}
	if got := m2.Categorical(); !got[0] || !got[1] || got[2] {
		t.Errorf("categorical: got %v, want zones only", got)
	}
	for i := 0; i < 2000; i++ {
		r := row(d, i)
		if a, b := m.Predict(r), m2.Predict(r); a != b {
			t.Fatalf("row %d: got %v after reload, want %v", i, b, a)
		}
	}
}

// TestJSONXGBoost2 reads the XGBoost 2.x layout: base_score as a
// bracketed vector, iteration_indptr, default_left as booleans.
func TestJSONXGBoost2(t *testing.T) {
	doc := smallModel()
	lmp := doc["learner"].(map[string]any)["learner_model_param"].(map[string]any)
	lmp["base_score"] = "[5.4E0]"
	gbm := doc["learner"].(map[string]any)["gradient_booster"].(map[string]any)["model"].(map[string]any)
	gbm["iteration_indptr"] = []any{0, 1}
	tr := gbm["trees"].([]any)[0].(map[string]any)
	tr["default_left"] = []any{true, false, false}
	doc["version"] = []any{2, 1, 3}
	m, err := gbdt.ReadJSON(bytes.NewReader(mustJSON(t, doc)))
	if err != nil {
		t.Fatal(err)
	}
	if m.BaseScore != 5.4 {
		t.Errorf("base score: got %v, want 5.4", m.BaseScore)
	}
	nan := float32(math.NaN())
	for _, tc := range []struct{ x, want float32 }{{1, 5.4 - 1}, {3, 5.4 + 2}, {nan, 5.4 - 1}} {
		if got := m.Predict([]float32{tc.x}); !near(float64(got), float64(tc.want), 1e-6) {
			t.Errorf("Predict(%v): got %v, want %v", tc.x, got, tc.want)
		}
	}
}

// smallModel is a valid one-tree model: x < 2 → -1, else +2, missing left.
func smallModel() map[string]any {
	var doc map[string]any
	src := `{"learner":{"attributes":{},"feature_names":["x"],"feature_types":["float"],
	"gradient_booster":{"model":{"gbtree_model_param":{"num_parallel_tree":"1","num_trees":"1","size_leaf_vector":"0"},
	"tree_info":[0],"trees":[{"base_weights":[0,-1,2],"categories":[],"categories_nodes":[],"categories_segments":[],
	"categories_sizes":[],"default_left":[1,0,0],"id":0,"left_children":[1,-1,-1],"loss_changes":[3,0,0],
	"parents":[2147483647,0,0],"right_children":[2,-1,-1],"split_conditions":[2,-1,2],"split_indices":[0,0,0],
	"split_type":[0,0,0],"sum_hessian":[3,2,1],"tree_param":{"num_deleted":"0","num_feature":"1","num_nodes":"3","size_leaf_vector":"0"}}]},
	"name":"gbtree"},"learner_model_param":{"base_score":"5E-1","boost_from_average":"1","num_class":"0","num_feature":"1","num_target":"1"},
	"objective":{"name":"reg:squarederror","reg_loss_param":{"scale_pos_weight":"1"}}},"version":[1,7,4]}`
	if err := json.Unmarshal([]byte(src), &doc); err != nil {
		panic(err)
	}
	return doc
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadJSONMalformed(t *testing.T) {
	if _, err := gbdt.ReadJSON(bytes.NewReader(mustJSON(t, smallModel()))); err != nil {
		t.Fatalf("the base document must load: %v", err)
	}
	learner := func(d map[string]any) map[string]any { return d["learner"].(map[string]any) }
	tree0 := func(d map[string]any) map[string]any {
		return learner(d)["gradient_booster"].(map[string]any)["model"].(map[string]any)["trees"].([]any)[0].(map[string]any)
	}
	for _, tc := range []struct {
		name   string
		mutate func(d map[string]any)
		raw    string
		want   string
	}{
		{name: "ErrNotJSON", raw: "{not json", want: "read model json"},
		{name: "ErrNoLearner", mutate: func(d map[string]any) { delete(d, "learner") }, want: "missing key learner"},
		{name: "ErrGBLinear", mutate: func(d map[string]any) {
			learner(d)["gradient_booster"] = map[string]any{"name": "gblinear", "model": map[string]any{"weights": []any{1, 2}}}
		}, want: `unsupported booster "gblinear"`},
		{name: "ErrDart", mutate: func(d map[string]any) { learner(d)["gradient_booster"].(map[string]any)["name"] = "dart" }, want: `unsupported booster "dart"`},
		{name: "ErrObjective", mutate: func(d map[string]any) { learner(d)["objective"].(map[string]any)["name"] = "binary:logistic" }, want: "unsupported objective"},
		{name: "ErrBaseScore", mutate: func(d map[string]any) {
			learner(d)["learner_model_param"].(map[string]any)["base_score"] = "abc"
		}, want: "base_score"},
		{name: "ErrMissingSplitConditions", mutate: func(d map[string]any) { delete(tree0(d), "split_conditions") }, want: "missing key split_conditions"},
		{name: "ErrLengthMismatch", mutate: func(d map[string]any) { tree0(d)["split_indices"] = []any{0, 0} }, want: "split_indices has 2 entries, want 3"},
		{name: "ErrChildRange", mutate: func(d map[string]any) { tree0(d)["right_children"] = []any{7, -1, -1} }, want: "child index out of range"},
		{name: "ErrCycle", mutate: func(d map[string]any) {
			// 0 → (1, 2), 1 → (3, 4), 3 → (1, 4): a cycle 1 → 3 → 1.
			t := tree0(d)
			for _, k := range []string{"split_indices", "split_conditions", "default_left", "base_weights", "loss_changes", "parents", "split_type", "sum_hessian"} {
				t[k] = []any{0, 0, 0, 0, 0}
			}
			t["left_children"] = []any{1, 3, -1, 1, -1}
			t["right_children"] = []any{2, 4, -1, 4, -1}
			t["tree_param"].(map[string]any)["num_nodes"] = "5"
		}, want: "reached twice"},
		{name: "ErrFeatureRange", mutate: func(d map[string]any) { tree0(d)["split_indices"] = []any{3, 0, 0} }, want: "split_indices 3 out of range"},
		{name: "ErrNumTrees", mutate: func(d map[string]any) {
			learner(d)["gradient_booster"].(map[string]any)["model"].(map[string]any)["gbtree_model_param"].(map[string]any)["num_trees"] = "2"
		}, want: "num_trees"},
		{name: "ErrCategories", mutate: func(d map[string]any) {
			tree0(d)["split_type"] = []any{1, 0, 0}
		}, want: "categorical split without categories"},
		{name: "ErrNotArray", mutate: func(d map[string]any) { tree0(d)["left_children"] = "1,2" }, want: "want an array"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := []byte(tc.raw)
			if tc.mutate != nil {
				d := smallModel()
				tc.mutate(d)
				b = mustJSON(t, d)
			}
			_, err := gbdt.ReadJSON(bytes.NewReader(b))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// withMissing returns a copy of cols with every step-th value of column f,
// from row f on, set to NaN (missing), so that default directions are
// exercised.
func withMissing(cols [][]float32, step int) [][]float32 {
	out := make([][]float32, len(cols))
	for f, c := range cols {
		out[f] = append([]float32(nil), c...)
		for i := f; i < len(c); i += step {
			out[f][i] = float32(math.NaN())
		}
	}
	return out
}

// TestXGBoostLoadsOurModel exports models tripcast trained (numeric, and
// with categorical zone splits) and checks that XGBoost 1.7 itself loads
// them and predicts what tripcast predicts (tolerance 1e-4).
func TestXGBoostLoadsOurModel(t *testing.T) {
	py := needXGBoost(t)
	train := head(month(t, "2021-01"), 30000, false)
	valid := head(month(t, "2021-02"), 3000, false)
	// Some missing values, so that default directions are exercised.
	cols := withMissing(valid.Cols, 37)
	for _, cat := range []bool{false, true} {
		t.Run(fmt.Sprintf("OKCategorical=%v", cat), func(t *testing.T) {
			p := gbdt.DefaultParams()
			p.NumBoostRound = 30
			p.EarlyStoppingRounds = 0
			tr := head(train, train.Rows(), cat)
			m := mustTrain(t, tr, nil, p)
			dir := t.TempDir()
			if err := m.SaveFile(filepath.Join(dir, "model.json")); err != nil {
				t.Fatal(err)
			}
			writeCSV(t, filepath.Join(dir, "input.csv"), m.FeatureNames(), cols, nil)
			cmd := exec.Command(py, filepath.Join("testdata", "xgb_predict.py"), filepath.Join(dir, "model.json"), filepath.Join(dir, "input.csv"))
			out, err := cmd.Output()
			if err != nil {
				var stderr []byte
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = ee.Stderr
				}
				t.Fatalf("xgb_predict.py: %v: %s", err, stderr)
			}
			lines := strings.Fields(string(out))
			if len(lines) != len(cols[0]) {
				t.Fatalf("xgboost predictions: got %d, want %d", len(lines), len(cols[0]))
			}
			ours := make([]float32, len(cols[0]))
			m.PredictBatch(cols, ours)
			worst := maxAbsDiff(t, lines, ours)
			if worst > 1e-4 {
				t.Errorf("max abs diff tripcast vs XGBoost: got %v, want <= 1e-4", worst)
			}
			t.Logf("max abs diff vs XGBoost over %d rows: %g", len(lines), worst)
		})
	}
}

// needXGBoost skips the test when /usr/bin/python3 has no xgboost, or fails
// it when CI=true.
func needXGBoost(t *testing.T) string {
	t.Helper()
	py := "/usr/bin/python3"
	if out, err := exec.Command(py, "-c", "import xgboost, numpy").CombinedOutput(); err != nil {
		testenv.SkipOrFail(t, "%s has no xgboost (apt-get install -y python3-xgboost): %v: %s", py, err, out)
	}
	return py
}

// writeCSV writes cols (and label, when not nil) with a header; NaN is an
// empty cell.
func writeCSV(t *testing.T, path string, names []string, cols [][]float32, label []float32) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	hdr := strings.Join(names, ",")
	if label != nil {
		hdr += ",label"
	}
	fmt.Fprintln(w, hdr)
	for i := range cols[0] {
		for j := range cols {
			if j > 0 {
				w.WriteByte(',')
			}
			if v := cols[j][i]; v == v {
				w.WriteString(strconv.FormatFloat(float64(v), 'g', -1, 32))
			}
		}
		if label != nil {
			w.WriteString("," + strconv.FormatFloat(float64(label[i]), 'g', -1, 32))
		}
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestWeLoadXGBoostModel has XGBoost 1.7 train models (numeric, and with
// categorical zone splits) and checks that tripcast loads them and predicts
// what XGBoost predicts (tolerance 1e-4).
func TestWeLoadXGBoostModel(t *testing.T) {
	py := needXGBoost(t)
	train := head(month(t, "2021-01"), 5000, false)
	valid := head(month(t, "2021-02"), 2000, false)
	cols := withMissing(valid.Cols, 29)
	dir := t.TempDir()
	writeCSV(t, filepath.Join(dir, "train.csv"), train.Names, train.Cols, train.Label)
	writeCSV(t, filepath.Join(dir, "input.csv"), valid.Names, cols, nil)
	for _, tc := range []struct{ name, cats string }{{"OKNumeric", ""}, {"OKCategorical", "PULocationID,DOLocationID"}} {
		t.Run(tc.name, func(t *testing.T) {
			model := filepath.Join(dir, tc.name+".json")
			out, err := exec.Command(py, filepath.Join("testdata", "xgb_train.py"),
				filepath.Join(dir, "train.csv"), filepath.Join(dir, "input.csv"), model, tc.cats).Output()
			if err != nil {
				var stderr []byte
				if ee, ok := err.(*exec.ExitError); ok {
					stderr = ee.Stderr
				}
				t.Fatalf("xgb_train.py: %v: %s", err, stderr)
			}
			m, err := gbdt.LoadFile(model)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Categorical(); got[0] != (tc.cats != "") {
				t.Errorf("categorical: got %v, want PULocationID %v", got, tc.cats != "")
			}
			lines := strings.Fields(string(out))
			ours := make([]float32, len(cols[0]))
			m.PredictBatch(cols, ours)
			worst := maxAbsDiff(t, lines, ours)
			if len(lines) != len(ours) || worst > 1e-4 {
				t.Errorf("got %d predictions, max abs diff %v; want %d, <= 1e-4", len(lines), worst, len(ours))
			}
			t.Logf("max abs diff vs XGBoost over %d rows: %g", len(lines), worst)
		})
	}
}

// maxAbsDiff parses lines (one number each) and returns the largest absolute
// difference between them and ours, position by position.
func maxAbsDiff(t *testing.T, lines []string, ours []float32) float64 {
	t.Helper()
	var worst float64
	for i, l := range lines {
		v, err := strconv.ParseFloat(l, 64)
		if err != nil {
			t.Fatal(err)
		}
		worst = max(worst, math.Abs(v-float64(ours[i])))
	}
	return worst
}
