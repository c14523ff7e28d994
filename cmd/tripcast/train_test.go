package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tripcast/batch"

	"tripcast/internal/testfiles"
)

func TestTrainPredictTune(t *testing.T) {
	dir := t.TempDir()
	base := []string{"--data-dir", dir, "--log-level", "warn"}
	run := func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := runCmd(t, append(append([]string{}, args...), base...)...)
		if err != nil {
			t.Fatalf("tripcast %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	run(t, "ingest", "--rule", "course", "--from", testfiles.Green(t, "2021-01"), "--from", testfiles.Green(t, "2021-02"))

	var gb struct {
		ValidRMSE    float64 `json:"valid_rmse"`
		ValidMAE     float64 `json:"valid_mae"`
		ValidR2      float64 `json:"valid_r2"`
		Rounds       int     `json:"rounds"`
		TrainSeconds float64 `json:"train_seconds"`
		Model        string  `json:"model"`
		Version      int     `json:"version"`
		Promoted     bool    `json:"promoted"`
	}
	out := run(t, "train", "--train", "2021-01", "--valid", "2021-02", "--promote-if-better", "--json",
		"--param", "num_boost_round=30", "--param", "max_depth=6", "--param", "eta=0.3")
	if err := json.Unmarshal([]byte(out), &gb); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if gb.ValidRMSE <= 0 || gb.ValidRMSE > 7 || gb.ValidMAE <= 0 || gb.ValidR2 <= 0.5 || gb.Rounds == 0 || gb.TrainSeconds <= 0 ||
		!strings.HasPrefix(gb.Model, "file://") || gb.Version != 1 || !gb.Promoted {
		t.Fatalf("got %+v", gb)
	}
	if _, err := os.Stat(strings.TrimPrefix(gb.Model, "file://")); err != nil {
		t.Fatalf("model artifact: %v", err)
	}

	// The linear baseline is worse: registered as version 2, not promoted.
	var lin struct {
		ValidRMSE float64 `json:"valid_rmse"`
		Version   int     `json:"version"`
		Promoted  bool    `json:"promoted"`
	}
	out = run(t, "train", "--model", "linear", "--train", "2021-01", "--valid", "2021-02", "--promote-if-better", "--json")
	if err := json.Unmarshal([]byte(out), &lin); err != nil {
		t.Fatal(err)
	}
	if lin.Version != 2 || lin.Promoted || lin.ValidRMSE <= gb.ValidRMSE {
		t.Fatalf("linear: got %+v (gbdt valid RMSE %.3f)", lin, gb.ValidRMSE)
	}

	// Predict through the registry (alias and version) and from a file.
	in := filepath.Join(dir, "rides.csv")
	os.WriteFile(in, []byte("PULocationID,DOLocationID,trip_distance\n130,205,3.66\n74,75,1.2\n"), 0o644)
	champ := run(t, "predict", "--model", "champion", "--input", in)
	v1 := run(t, "predict", "--model", "1", "--input", in)
	if lines := strings.Split(strings.TrimSpace(champ), "\n"); len(lines) != 3 || lines[0] != "prediction" || champ != v1 {
		t.Fatalf("champion predictions %q, version 1 %q", champ, v1)
	}
	outFile := filepath.Join(dir, "pred.csv")
	run(t, "predict", "--model", testfiles.Fixture(t, "xgboost-1.7-depth6/model.json"),
		"--input", testfiles.Fixture(t, "xgboost-1.7-depth6/inputs.csv"), "--output", outFile)
	b, err := os.ReadFile(outFile)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "\n"); n != 2001 {
		t.Fatalf("got %d lines, want 2001", n)
	}
	if _, err := runCmd(t, append([]string{"predict", "--model", "champion", "--input", in, "--model-name", "nope"}, base...)...); err == nil {
		t.Fatal("predict with an unknown model name: got nil error")
	}

	// Batch-score a stored month with the champion.
	var bj struct {
		Output  string  `json:"output"`
		Rows    int     `json:"rows"`
		Version string  `json:"version"`
		RMSE    float64 `json:"rmse"`
	}
	out = run(t, "batch", "--input", "2021-02", "--output", filepath.Join(dir, "batch.parquet"), "--json")
	if err := json.Unmarshal([]byte(out), &bj); err != nil {
		t.Fatal(err)
	}
	if bj.Rows != 61921 || bj.Version != "1" || math.Abs(bj.RMSE-gb.ValidRMSE) > 1e-3 {
		t.Fatalf("batch: got %+v, want 61921 rows of version 1 with RMSE %.4f", bj, gb.ValidRMSE)
	}
	f, err := os.Open(filepath.Join(dir, "batch.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	rows, err := batch.ReadParquet(f, st.Size())
	f.Close()
	if err != nil || len(rows) != 61921 {
		t.Fatalf("batch output: %d rows, %v", len(rows), err)
	}

	var tune struct {
		BestParams    map[string]string `json:"best_params"`
		BestValidRMSE float64           `json:"best_valid_rmse"`
		Trials        []json.RawMessage `json:"trials"`
	}
	out = run(t, "tune", "--train", "2021-01", "--valid", "2021-02", "--trials", "2", "--json", "--param", "num_boost_round=10")
	if err := json.Unmarshal([]byte(out), &tune); err != nil {
		t.Fatal(err)
	}
	if len(tune.Trials) != 2 || tune.BestValidRMSE <= 0 || tune.BestParams["num_boost_round"] != "10" {
		t.Fatalf("tune: got %+v", tune)
	}
	if _, err := runCmd(t, append([]string{"train", "--train", "2021-01", "--param", "depth"}, base...)...); err == nil || !strings.Contains(err.Error(), "param") {
		t.Fatalf("bad --param: got %v", err)
	}
}
