// Command drift_vs_scipy times tripcast's drift tests (package monitor)
// against the same tests written with numpy and scipy (scipy_drift.py, as
// Evidently's legacy default tests compute them), on the same columns of real
// TLC months, alternating the two sides, and prints the times, their ratios
// and how closely the scores agree.
//
// Columns (course filter, 1–60 min): PULocationID, DOLocationID
// (categorical), trip_distance, passenger_count, hour, duration and a
// stand-in prediction (3 min + 3.5 min per mile), numerical. Go writes them to
// CSV in a temporary directory for Python; loading is not timed on either
// side. Go is timed two ways: with the reference as a stored profile (the
// monitoring path: only the current window is counted) and with both sides
// counted from raw columns (what scipy does).
//
// Run from the repository root: bench/drift_vs_scipy/run.sh [flags].
package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"tripcast/monitor"
	"tripcast/tlc"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "drift_vs_scipy:", err)
		os.Exit(1)
	}
}

// scenario is one comparison, as scipy_drift.py reads it.
type scenario struct {
	Name    string   `json:"name"`
	Ref     string   `json:"ref"`
	Cur     string   `json:"cur"`
	Columns []column `json:"columns"`
}

type column struct {
	Name   string         `json:"name"`
	Kind   monitor.Kind   `json:"kind"`
	Method monitor.Method `json:"method"`
}

type pyResult struct {
	Seconds []float64 `json:"seconds"`
	Columns map[string]struct {
		Method string  `json:"method"`
		Score  float64 `json:"score"`
		Drift  bool    `json:"drift"`
	} `json:"columns"`
}

var specs = []monitor.ColumnSpec{
	{Name: monitor.ColPULocation, Kind: monitor.Categorical},
	{Name: monitor.ColDOLocation, Kind: monitor.Categorical},
	{Name: monitor.ColDistance, Kind: monitor.Numerical},
	{Name: monitor.ColPassengers, Kind: monitor.Numerical},
	{Name: monitor.ColHour, Kind: monitor.Numerical},
	{Name: monitor.ColDuration, Kind: monitor.Numerical},
	{Name: monitor.ColPrediction, Kind: monitor.Numerical, Quantum: 0.001},
	{Name: "long_trip", Kind: monitor.Categorical}, // distance > 5 miles: 0 or 1 (the z-test's case)
}

func run() error {
	dataDir := flag.String("data", "../shared/data/tlc", "directory of the TLC parquet files")
	rounds := flag.Int("rounds", 5, "alternations of the two sides")
	iters := flag.Int("iters", 10, "runs of each scenario per side and round (the median is kept)")
	python := flag.String("python", "/usr/bin/python3", "Python with numpy and scipy")
	verbose := flag.Bool("v", false, "print every column's scores")
	fixtures := flag.String("fixtures", "../shared/fixtures", "directory of the shared fixtures (drift/sample800)")
	golden := flag.String("golden", "", "also run the golden scenarios and write scipy's scores to this file (monitor/testdata/scipy_golden.json)")
	flag.Parse()

	dir, err := os.MkdirTemp("", "drift_vs_scipy")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	data := map[string]map[string][]float64{}
	for _, m := range []string{"2021-01", "2021-02", "2023-03"} {
		trips, _, err := tlc.LoadFile(filepath.Join(*dataDir, tlc.FileName("green", m)), tlc.RuleCourse)
		if err != nil {
			return err
		}
		cols := monitor.TripColumns(trips)
		d := cols[monitor.ColDistance]
		pred, long := make([]float64, len(d)), make([]float64, len(d))
		for i, x := range d {
			pred[i] = 3 + 3.5*x
			if x > 5 {
				long[i] = 1
			}
		}
		cols[monitor.ColPrediction], cols["long_trip"] = pred, long
		data[m] = cols
	}
	// Small samples (Evidently's <= 1000-row tests): every 90th trip of
	// 2021-01 against every 10th of 2023-03 (exact KS, unequal sizes) and
	// against the whole month (asymptotic KS).
	data["small-ref"] = every(data["2021-01"], 90)
	data["small-cur"] = every(data["2023-03"], 10)
	data["small-same"] = every(data["2021-02"], 10)
	if *golden != "" {
		for _, side := range []string{"reference", "current"} {
			cols, err := readCSV(filepath.Join(*fixtures, "drift", "sample800", side+".csv"))
			if err != nil {
				return err
			}
			data["sample800-"+side] = cols
		}
	}
	for name, cols := range data {
		if err := writeCSV(filepath.Join(dir, name+".csv"), cols); err != nil {
			return err
		}
	}

	all := func(m monitor.Method, withLong bool) []column {
		var cs []column
		for _, s := range specs {
			if s.Name == "long_trip" && !withLong {
				continue
			}
			cs = append(cs, column{Name: s.Name, Kind: s.Kind, Method: m})
		}
		return cs
	}
	scenarios := []scenario{
		{"2021-01 vs 2023-03 (default tests)", "2021-01", "2023-03", all(monitor.Auto, false)},
		{"2021-01 vs 2021-02 (default tests)", "2021-01", "2021-02", all(monitor.Auto, false)},
		{"2021-01 vs 2023-03 jensenshannon", "2021-01", "2023-03", all(monitor.JensenShannon, false)},
		{"2021-01 vs 2023-03 psi", "2021-01", "2023-03", all(monitor.PSI, false)},
		{"2021-01 vs 2023-03 kl_div", "2021-01", "2023-03", all(monitor.KL, false)},
		{"821 vs 6939 rows (ks exact, chisquare, z)", "small-ref", "small-cur", all(monitor.Auto, true)},
		{"821 vs 69392 rows (ks asymptotic)", "small-ref", "2023-03", all(monitor.Auto, true)},
		{"821 vs 6193 rows 2021-02 (chisquare, z)", "small-ref", "small-same", []column{
			{monitor.ColHour, monitor.Categorical, monitor.ChiSquare},
			{monitor.ColPassengers, monitor.Numerical, monitor.ChiSquare},
			{monitor.ColDuration, monitor.Numerical, monitor.KS},
			{"long_trip", monitor.Categorical, monitor.ZTest},
		}},
	}
	if *golden != "" {
		scenarios = append(scenarios, goldenScenarios...)
	}
	b, _ := json.Marshal(scenarios)
	if err := os.WriteFile(filepath.Join(dir, "scenarios.json"), b, 0o644); err != nil {
		return err
	}
	script := filepath.Join(filepath.Dir(os.Args[0]), "scipy_drift.py")
	if _, err := os.Stat(script); err != nil {
		script = "bench/drift_vs_scipy/scipy_drift.py"
	}

	goStored := make(map[string][]float64) // scenario → per-round medians, seconds
	goRaw := make(map[string][]float64)
	py := make(map[string][]float64)
	var last map[string]pyResult
	goResults := map[string]*monitor.DriftResult{}
	for r := 0; r < *rounds; r++ {
		for _, s := range scenarios {
			stored, raw, res, err := timeGo(s, data, *iters)
			if err != nil {
				return err
			}
			goStored[s.Name] = append(goStored[s.Name], stored)
			goRaw[s.Name] = append(goRaw[s.Name], raw)
			goResults[s.Name] = res
		}
		cmd := exec.Command(*python, script, dir, strconv.Itoa(*iters))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("%s %s: %w", *python, script, err)
		}
		last = map[string]pyResult{}
		if err := json.Unmarshal(out, &last); err != nil {
			return fmt.Errorf("scipy output: %w", err)
		}
		for _, s := range scenarios {
			py[s.Name] = append(py[s.Name], median(last[s.Name].Seconds))
		}
	}

	if *golden != "" {
		if err := writeGolden(*golden, last); err != nil {
			return err
		}
	}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	fmt.Fprintf(w, "%d rounds, %d runs per side and round (medians); Go %s\n\n", *rounds, *iters, goVersion())
	fmt.Fprintf(w, "%-42s %12s %12s %12s %10s %10s %14s %s\n", "scenario", "go stored", "go raw", "scipy", "x stored", "x raw", "max rel diff", "decisions")
	for _, s := range scenarios {
		gs, gr, p := median(goStored[s.Name]), median(goRaw[s.Name]), median(py[s.Name])
		diff, same := agreement(goResults[s.Name], last[s.Name])
		fmt.Fprintf(w, "%-42s %10.3fms %10.3fms %10.3fms %9.1fx %9.1fx %14.2g %s\n",
			s.Name, gs*1e3, gr*1e3, p*1e3, p/gs, p/gr, diff, same)
		if *verbose {
			for _, c := range s.Columns {
				g, pc := goResults[s.Name].Columns[c.Name], last[s.Name].Columns[c.Name]
				fmt.Fprintf(w, "    %-16s %-13s go %-24v scipy %.17g\n", c.Name, pc.Method, fmtScore(g.Score), pc.Score)
			}
		}
	}
	fmt.Fprintln(w, "\ngo stored: reference as a stored profile, current window counted from raw columns;")
	fmt.Fprintln(w, "go raw: both counted from raw columns; scipy: numpy/scipy on raw columns (NaN dropped per column).")
	return nil
}

// timeGo returns the median seconds of the scenario with a stored reference
// profile and with both sides from raw columns, and the last result.
func timeGo(s scenario, data map[string]map[string][]float64, iters int) (stored, raw float64, res *monitor.DriftResult, err error) {
	var sp []monitor.ColumnSpec
	opt := monitor.DriftOptions{Tests: map[string]monitor.ColumnTest{}}
	for _, c := range s.Columns {
		i := slices.IndexFunc(specs, func(x monitor.ColumnSpec) bool { return x.Name == c.Name })
		sp = append(sp, specs[i])
		opt.Tests[c.Name] = monitor.ColumnTest{Method: c.Method}
	}
	profile := func(cols map[string][]float64) (*monitor.Profile, error) { return monitor.NewProfile(sp, cols) }
	ref, err := profile(data[s.Ref])
	if err != nil {
		return 0, 0, nil, err
	}
	var ts, tr []float64
	for range iters {
		t0 := time.Now()
		cur, err := profile(data[s.Cur])
		if err != nil {
			return 0, 0, nil, err
		}
		if res, err = monitor.Drift(ref, cur, opt); err != nil {
			return 0, 0, nil, err
		}
		ts = append(ts, time.Since(t0).Seconds())

		t0 = time.Now()
		r2, err := profile(data[s.Ref])
		if err != nil {
			return 0, 0, nil, err
		}
		c2, err := profile(data[s.Cur])
		if err != nil {
			return 0, 0, nil, err
		}
		if _, err = monitor.Drift(r2, c2, opt); err != nil {
			return 0, 0, nil, err
		}
		tr = append(tr, time.Since(t0).Seconds())
	}
	return median(ts), median(tr), res, nil
}

// agreement returns the largest relative score difference (absolute below a
// score of 1e-12) and whether methods and decisions all agree.
func agreement(g *monitor.DriftResult, p pyResult) (float64, string) {
	var worst float64
	same := "same"
	for name, pc := range p.Columns {
		gc := g.Columns[name]
		if string(gc.Method) != pc.Method || gc.Drift != pc.Drift {
			same = fmt.Sprintf("DIFFER (%s: go %s %v, scipy %s %v)", name, gc.Method, gc.Drift, pc.Method, pc.Drift)
		}
		if gc.Score == nil {
			same = "DIFFER (" + name + ": no Go score)"
			continue
		}
		d := math.Abs(*gc.Score - pc.Score)
		if math.Abs(pc.Score) > 1e-12 {
			d /= math.Abs(pc.Score)
		}
		worst = math.Max(worst, d)
	}
	return worst, same
}

// goldenScenarios give the scores monitor's tests compare with
// (monitor/testdata/scipy_golden.json): the tests and regimes the shared
// fixtures do not cover, on the fixture's columns of real data.
var goldenScenarios = func() []scenario {
	cols := func(m monitor.Method) []column {
		var cs []column
		for _, s := range specs[:6] {
			cs = append(cs, column{Name: s.Name, Kind: s.Kind, Method: m})
		}
		return cs
	}
	return []scenario{
		{"golden: 2021-01 vs 2023-03 jensenshannon", "2021-01", "2023-03", cols(monitor.JensenShannon)},
		{"golden: 2021-01 vs 2023-03 psi", "2021-01", "2023-03", cols(monitor.PSI)},
		{"golden: 2021-01 vs 2023-03 kl_div", "2021-01", "2023-03", cols(monitor.KL)},
		{"golden: 2021-01 vs 2021-02 psi", "2021-01", "2021-02", cols(monitor.PSI)},
		{"golden: sample800 vs 2023-03 (ks asymptotic)", "sample800-reference", "2023-03", cols(monitor.Auto)},
		{"golden: sample800 chisquare, z", "sample800-reference", "sample800-current", []column{
			{monitor.ColHour, monitor.Categorical, monitor.ChiSquare},
			{monitor.ColPassengers, monitor.Numerical, monitor.ChiSquare},
			{monitor.ColPULocation, monitor.Categorical, monitor.ZTest},
			{monitor.ColDistance, monitor.Numerical, monitor.Wasserstein},
		}},
	}
}()

// writeGolden writes the golden scenarios with scipy's scores.
func writeGolden(path string, res map[string]pyResult) error {
	type golden struct {
		scenario
		Scores any `json:"scores"`
	}
	var out []golden
	for _, s := range goldenScenarios {
		out = append(out, golden{s, res[s.Name].Columns})
	}
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// readCSV reads a fixture CSV into columns; an empty cell is NaN.
func readCSV(path string) (map[string][]float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cols := make(map[string][]float64)
	for _, r := range rows[1:] {
		for j, name := range rows[0] {
			v := math.NaN()
			if r[j] != "" {
				if v, err = strconv.ParseFloat(r[j], 64); err != nil {
					return nil, fmt.Errorf("%s: %w", path, err)
				}
			}
			cols[name] = append(cols[name], v)
		}
	}
	return cols, nil
}

func fmtScore(p *float64) string {
	if p == nil {
		return "null"
	}
	return strconv.FormatFloat(*p, 'g', 17, 64)
}

func every(cols map[string][]float64, k int) map[string][]float64 {
	out := make(map[string][]float64, len(cols))
	for name, vs := range cols {
		for i := 0; i < len(vs); i += k {
			out[name] = append(out[name], vs[i])
		}
	}
	return out
}

// writeCSV writes the columns of specs that cols has, an empty cell for NaN,
// with the shortest text that reads back as the same float.
func writeCSV(path string, cols map[string][]float64) error {
	var names []string
	for _, s := range specs {
		if _, ok := cols[s.Name]; ok {
			names = append(names, s.Name)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for i, name := range names {
		if i > 0 {
			w.WriteByte(',')
		}
		w.WriteString(name)
	}
	w.WriteByte('\n')
	for r := range len(cols[names[0]]) {
		for i, name := range names {
			if i > 0 {
				w.WriteByte(',')
			}
			if v := cols[name][r]; !math.IsNaN(v) {
				w.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
			}
		}
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return math.NaN()
	}
	return s[len(s)/2]
}

func goVersion() string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return "?"
	}
	return string(out[:len(out)-1])
}
