package monitor_test

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"tripcast/monitor"
)

// golden is a scenario of testdata/scipy_golden.json: scores computed by
// bench/drift_vs_scipy/scipy_drift.py (numpy 1.24, scipy 1.10, Evidently's
// formulas) on real data, for the tests and regimes the shared fixtures do not
// cover: Jensen–Shannon on Sturges bins, PSI, KL, chi-square and z p-values
// that are not 0, and KS above 10,000 values. Regenerate with
// bench/drift_vs_scipy/run.sh -rounds 1 -iters 1 -golden monitor/testdata/scipy_golden.json
type golden struct {
	Name    string `json:"name"`
	Ref     string `json:"ref"`
	Cur     string `json:"cur"`
	Columns []struct {
		Name   string         `json:"name"`
		Kind   monitor.Kind   `json:"kind"`
		Method monitor.Method `json:"method"`
	} `json:"columns"`
	Scores map[string]struct {
		Method string  `json:"method"`
		Score  float64 `json:"score"`
		Drift  bool    `json:"drift"`
	} `json:"scores"`
}

// goldenData returns the columns a golden scenario names: a green month
// ("2021-01") or a sample800 fixture ("sample800-reference").
func goldenData(tb testing.TB, name string) map[string][]float64 {
	if side, ok := strings.CutPrefix(name, "sample800-"); ok {
		return mustReadCSV(tb, "drift/sample800/"+side+".csv")
	}
	return mustMonthColumns(tb, name)
}

func TestDrift_ScipyGolden(t *testing.T) {
	b, err := os.ReadFile("testdata/scipy_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var gs []golden
	if err := json.Unmarshal(b, &gs); err != nil {
		t.Fatal(err)
	}
	if len(gs) == 0 {
		t.Fatal("no golden scenario")
	}
	for _, g := range gs {
		t.Run(g.Name, func(t *testing.T) {
			var specs []monitor.ColumnSpec
			opt := monitor.DriftOptions{Tests: map[string]monitor.ColumnTest{}}
			for _, c := range g.Columns {
				specs = append(specs, monitor.ColumnSpec{Name: c.Name, Kind: c.Kind})
				opt.Tests[c.Name] = monitor.ColumnTest{Method: c.Method}
			}
			ref := mustProfile(t, specs, goldenData(t, g.Ref))
			cur := mustProfile(t, specs, goldenData(t, g.Cur))
			res, err := monitor.Drift(ref, cur, opt)
			if err != nil {
				t.Fatal(err)
			}
			for name, w := range g.Scores {
				c := res.Columns[name]
				if string(c.Method) != w.Method || c.Drift != w.Drift || c.Score == nil {
					t.Errorf("%s: got %s drift %v score %v, want %s drift %v", name, c.Method, c.Drift, c.Score, w.Method, w.Drift)
					continue
				}
				// 1e-9 relative; p-values below 1e-300 compare absolutely.
				if d := math.Abs(*c.Score - w.Score); d > 1e-9*math.Abs(w.Score) && d > 1e-300 {
					t.Errorf("%s (%s): got %.17g, want %.17g", name, w.Method, *c.Score, w.Score)
				}
			}
		})
	}
}
