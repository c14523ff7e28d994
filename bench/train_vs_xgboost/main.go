// Command train_vs_xgboost trains tripcast's gbdt and XGBoost (hist) on the
// same rows and features, alternately (XGBoost in a Python process that
// trains on request), and prints both training wall times (the fastest of
// each side and the median of the pairs' ratios), validation RMSEs and
// batch-prediction times, with ratios.
//
// Rows: green 2021-01 (train) and 2021-02 (valid), course filter (1–60 min).
// Features: PULocationID, DOLocationID, trip_distance, hour, weekday
// (Monday=0). XGBoost reads them from CSV (Debian has no pyarrow) and also
// predicts with tripcast's model file, so both predictors time the same
// model on the same rows.
//
// Run from the repository root: bench/train_vs_xgboost/run.sh [flags].
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"tripcast/gbdt"
	"tripcast/internal/rawfeatures"
	"tripcast/tlc"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "train_vs_xgboost:", err)
		os.Exit(1)
	}
}

func run() error {
	dataDir := flag.String("data", "../shared/data/tlc", "directory of the TLC parquet files")
	outDir := flag.String("out", "", "directory for the CSVs and models (default: a temporary directory)")
	rounds := flag.Int("rounds", 300, "boosting rounds")
	depth := flag.Int("depth", 8, "max_depth")
	eta := flag.Float64("eta", 0.1, "eta")
	maxBin := flag.Int("max-bin", 256, "max_bin")
	nthread := flag.Int("nthread", 2, "threads for both trainers")
	reps := flag.Int("reps", 5, "repetitions of each batch prediction (best time is reported)")
	trainReps := flag.Int("train-reps", 5, "trainings on each side, interleaved (the fastest of each side is reported, and the median of the pairs' ratios)")
	python := flag.String("python", "/usr/bin/python3", "Python with xgboost")
	cat := flag.Bool("categorical", false, "tripcast also trains with zones as native categorical features (reported separately)")
	flag.Parse()

	dir := *outDir
	if dir == "" {
		d, err := os.MkdirTemp("", "train_vs_xgboost")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	train, err := load(filepath.Join(*dataDir, "green_tripdata_2021-01.parquet"))
	if err != nil {
		return err
	}
	valid, err := load(filepath.Join(*dataDir, "green_tripdata_2021-02.parquet"))
	if err != nil {
		return err
	}
	trainCSV, validCSV := filepath.Join(dir, "train.csv"), filepath.Join(dir, "valid.csv")
	if err := writeCSV(trainCSV, train); err != nil {
		return err
	}
	if err := writeCSV(validCSV, valid); err != nil {
		return err
	}

	p := gbdt.DefaultParams()
	p.NumBoostRound = *rounds
	p.EarlyStoppingRounds = 0
	p.MaxDepth = *depth
	p.Eta = *eta
	p.MaxBin = *maxBin
	p.NThread = *nthread
	// The rest as XGBoost's defaults: no sampling, lambda 1.
	p.Subsample, p.ColsampleByTree = 1, 1
	p.Lambda, p.Alpha, p.Gamma, p.MinChildWeight = 1, 0, 0, 1
	// XGBoost runs in a Python process that trains on request, so the two
	// trainers alternate and see the machine in the same state: its
	// neighbours make single runs vary by 30%.
	xgbPredPath := filepath.Join(dir, "xgb_pred.txt")
	modelPath := filepath.Join(dir, "tripcast.json")
	args, _ := json.Marshal(map[string]any{
		"train": trainCSV, "valid": validCSV, "tripcast_model": modelPath, "xgb_pred_out": xgbPredPath,
		"rounds": *rounds, "max_depth": *depth, "eta": *eta, "max_bin": *maxBin, "nthread": *nthread, "reps": *reps,
	})
	py, err := startXGB(*python, string(args))
	if err != nil {
		return err
	}
	defer py.close()
	var m *gbdt.Model
	trainSec, trainCPU := math.Inf(1), math.Inf(1)
	xgbSec, xgbCPU := math.Inf(1), math.Inf(1)
	var ratios []float64
	for range max(1, *trainReps) {
		t0, c0 := time.Now(), cpuTime()
		m, err = gbdt.Train(context.Background(), train, nil, p, nil)
		if err != nil {
			return err
		}
		sec, cpu := time.Since(t0).Seconds(), cpuTime()-c0
		trainSec, trainCPU = min(trainSec, sec), min(trainCPU, cpu)
		var xt struct {
			TrainSeconds float64 `json:"train_seconds"`
			TrainCPU     float64 `json:"train_cpu_seconds"`
		}
		if err := py.call("train", &xt); err != nil {
			return err
		}
		xgbSec, xgbCPU = min(xgbSec, xt.TrainSeconds), min(xgbCPU, xt.TrainCPU)
		ratios = append(ratios, xt.TrainSeconds/sec)
	}
	slices.Sort(ratios)
	out := make([]float32, valid.Rows())
	predSec, predCPU := math.Inf(1), math.Inf(1)
	for range *reps {
		t0, c0 := time.Now(), cpuTime()
		m.PredictBatch(valid.Cols, out)
		predSec, predCPU = min(predSec, time.Since(t0).Seconds()), min(predCPU, cpuTime()-c0)
	}
	validRMSE := rmse(out, valid.Label)
	if err := m.SaveFile(modelPath); err != nil {
		return err
	}

	var x struct {
		Version        string  `json:"version"`
		ValidRMSE      float64 `json:"valid_rmse"`
		PredictSeconds float64 `json:"predict_seconds"`
		PredictCPU     float64 `json:"predict_cpu_seconds"`
		DMatrixSeconds float64 `json:"dmatrix_seconds"`
	}
	if err := py.call("predict", &x); err != nil {
		return err
	}
	maxDiff, err := compare(xgbPredPath, out)
	if err != nil {
		return err
	}

	fmt.Printf("rows: train %d (green 2021-01), valid %d (green 2021-02); features %s\n", train.Rows(), valid.Rows(), strings.Join(train.Names, ", "))
	fmt.Printf("params: depth %d, eta %g, %d rounds, max_bin %d, nthread %d, lambda 1, no subsampling, no early stopping\n", *depth, *eta, *rounds, *maxBin, *nthread)
	fmt.Printf("train:   tripcast %.3f s   xgboost %s %.3f s   speedup %.2fx (wall, fastest of %d each, interleaved; median of the pairs' ratios %.2fx)\n",
		trainSec, x.Version, xgbSec, xgbSec/trainSec, len(ratios), ratios[len(ratios)/2])
	fmt.Printf("         tripcast %.3f s   xgboost %.3f s   ratio %.2fx (CPU time, all threads; robust when the machine is shared)\n", trainCPU, xgbCPU, xgbCPU/trainCPU)
	fmt.Printf("rmse:    tripcast %.4f     xgboost %.4f (valid, minutes)\n", validRMSE, x.ValidRMSE)
	fmt.Printf("predict: tripcast PredictBatch %.2f ms   xgboost Booster.predict %.2f ms (same model, %d rows; + %.2f ms DMatrix)   speedup %.2fx (wall, best of reps)\n",
		predSec*1e3, x.PredictSeconds*1e3, valid.Rows(), x.DMatrixSeconds*1e3, x.PredictSeconds/predSec)
	fmt.Printf("         tripcast %.2f ms   xgboost %.2f ms   ratio %.2fx (CPU time, best of %d)\n", predCPU*1e3, x.PredictCPU*1e3, x.PredictCPU/predCPU, *reps)
	fmt.Printf("parity:  max |tripcast - xgboost| on tripcast's model = %.3g\n", maxDiff)

	// tripcast's defaults (row subsampling, early stopping on the
	// validation month), zones as numbers and, with -categorical, as
	// native categorical features.
	d := gbdt.DefaultParams()
	d.NThread = *nthread
	fmt.Printf("tripcast defaults %v:\n", d.Map())
	variants := []bool{false}
	if *cat {
		variants = append(variants, true)
	}
	for _, c := range variants {
		train.Categorical, valid.Categorical = nil, nil
		name := "zones numeric    "
		if c {
			train.Categorical = []bool{true, true, false, false, false}
			valid.Categorical = train.Categorical
			name = "zones categorical"
		}
		t0 := time.Now()
		md, err := gbdt.Train(context.Background(), train, valid, d, nil)
		if err != nil {
			return err
		}
		sec := time.Since(t0).Seconds()
		md.PredictBatch(valid.Cols, out)
		fmt.Printf("  %s: %d trees, %.3f s, valid rmse %.4f\n", name, md.NumTrees(), sec, rmse(out, valid.Label))
	}
	return nil
}

// load reads a month with the course filter and builds the five features.
func load(path string) (*gbdt.Dataset, error) {
	trips, _, err := tlc.LoadFile(path, tlc.RuleCourse)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	return rawfeatures.Dataset(trips), nil
}

func writeCSV(path string, d *gbdt.Dataset) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, strings.Join(d.Names, ",")+",duration")
	var buf []byte
	for i := 0; i < d.Rows(); i++ {
		buf = buf[:0]
		for _, c := range d.Cols {
			if v := c[i]; v == v {
				buf = strconv.AppendFloat(buf, float64(v), 'g', -1, 32)
			}
			buf = append(buf, ',')
		}
		buf = strconv.AppendFloat(buf, float64(d.Label[i]), 'g', -1, 32)
		buf = append(buf, '\n')
		w.Write(buf)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// cpuTime returns the CPU seconds used by this process (all threads).
func cpuTime() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

func rmse(p, y []float32) float64 {
	var s float64
	for i := range p {
		d := float64(p[i]) - float64(y[i])
		s += d * d
	}
	return math.Sqrt(s / float64(len(p)))
}

func compare(path string, out []float32) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	lines := strings.Fields(string(b))
	if len(lines) != len(out) {
		return 0, fmt.Errorf("xgboost wrote %d predictions, want %d", len(lines), len(out))
	}
	var md float64
	for i, l := range lines {
		v, err := strconv.ParseFloat(l, 64)
		if err != nil {
			return 0, err
		}
		md = max(md, math.Abs(v-float64(out[i])))
	}
	return md, nil
}

// xgbProc is xgb.py running, answering one JSON line per request line.
type xgbProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startXGB(python, args string) (*xgbProc, error) {
	cmd := exec.Command(python, filepath.Join("bench", "train_vs_xgboost", "xgb.py"), args)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start xgb.py: %w", err)
	}
	p := &xgbProc{cmd: cmd, in: in, out: bufio.NewScanner(out)}
	if !p.out.Scan() || p.out.Text() != "ready" {
		p.close()
		return nil, fmt.Errorf("xgb.py did not start: %q %v", p.out.Text(), p.out.Err())
	}
	return p, nil
}

// call sends one request line and decodes the JSON answer into v.
func (p *xgbProc) call(req string, v any) error {
	if _, err := fmt.Fprintln(p.in, req); err != nil {
		return fmt.Errorf("xgb.py %s: %w", req, err)
	}
	if !p.out.Scan() {
		return fmt.Errorf("xgb.py %s: no answer (%v)", req, p.out.Err())
	}
	if err := json.Unmarshal(p.out.Bytes(), v); err != nil {
		return fmt.Errorf("xgb.py %s: parse %q: %w", req, p.out.Text(), err)
	}
	return nil
}

func (p *xgbProc) close() {
	p.in.Close()
	p.cmd.Wait()
}
