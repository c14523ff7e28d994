package monitor_test

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"strconv"
	"sync"
	"testing"

	"tripcast/internal/testfiles"
	"tripcast/monitor"
	"tripcast/tlc"
)

// fixture is a drift fixture of ../shared/fixtures/drift, computed with scipy.
type fixture struct {
	Columns map[string]struct {
		Kind       string  `json:"kind"`
		Method     string  `json:"method"`
		Score      float64 `json:"score"`
		Drift      bool    `json:"drift"`
		RefRows    int64   `json:"ref_rows"`
		CurRows    int64   `json:"cur_rows"`
		RefMissing int64   `json:"ref_missing"`
		CurMissing int64   `json:"cur_missing"`
	} `json:"columns"`
	DriftedColumns int     `json:"drifted_columns"`
	ShareDrifted   float64 `json:"share_drifted"`
	DatasetDrift   bool    `json:"dataset_drift"`
}

// fixtureColumns are the fixture's columns; kinds from the fixture README.
var fixtureColumns = []monitor.ColumnSpec{
	{Name: "PULocationID", Kind: monitor.Categorical},
	{Name: "DOLocationID", Kind: monitor.Categorical},
	{Name: "trip_distance", Kind: monitor.Numerical},
	{Name: "passenger_count", Kind: monitor.Numerical},
	{Name: "hour", Kind: monitor.Numerical},
	{Name: "duration", Kind: monitor.Numerical},
}

func mustReadFixture(tb testing.TB, rel string) fixture {
	tb.Helper()
	b, err := os.ReadFile(testfiles.Fixture(tb, rel))
	if err != nil {
		tb.Fatal(err)
	}
	var f fixture
	if err := json.Unmarshal(b, &f); err != nil {
		tb.Fatalf("%s: %v", rel, err)
	}
	return f
}

// mustReadCSV reads a fixture CSV into columns; an empty cell is NaN.
func mustReadCSV(tb testing.TB, rel string) map[string][]float64 {
	tb.Helper()
	f, err := os.Open(testfiles.Fixture(tb, rel))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		tb.Fatal(err)
	}
	cols := make(map[string][]float64)
	for _, r := range rows[1:] {
		for j, name := range rows[0] {
			v := math.NaN()
			if r[j] != "" {
				if v, err = strconv.ParseFloat(r[j], 64); err != nil {
					tb.Fatal(err)
				}
			}
			cols[name] = append(cols[name], v)
		}
	}
	return cols
}

var monthCache sync.Map // month → map[string][]float64

// mustMonthColumns returns the fixture columns of a green month after the
// course filter (1..60 minutes), read from the real TLC file.
func mustMonthColumns(tb testing.TB, month string) map[string][]float64 {
	tb.Helper()
	if c, ok := monthCache.Load(month); ok {
		return c.(map[string][]float64)
	}
	trips, _, err := tlc.LoadFile(testfiles.Green(tb, month), tlc.RuleCourse)
	if err != nil {
		tb.Fatal(err)
	}
	cols := monitor.TripColumns(trips)
	monthCache.Store(month, cols)
	return cols
}

func mustProfile(tb testing.TB, specs []monitor.ColumnSpec, cols map[string][]float64) *monitor.Profile {
	tb.Helper()
	p, err := monitor.NewProfile(specs, cols)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// checkFixture compares a drift result with a fixture: scores within 1e-6
// relative (or 1e-12 absolute for p-values of 0), identical decisions and
// counts.
func checkFixture(t *testing.T, got *monitor.DriftResult, want fixture) {
	t.Helper()
	for name, w := range want.Columns {
		g, ok := got.Columns[name]
		if !ok {
			t.Errorf("%s: missing", name)
			continue
		}
		if string(g.Method) != w.Method || string(g.Kind) != w.Kind {
			t.Errorf("%s: got method %s kind %s, want %s %s", name, g.Method, g.Kind, w.Method, w.Kind)
		}
		if g.Score == nil {
			t.Errorf("%s: got no score (status %s), want %v", name, g.Status, w.Score)
		} else if diff := math.Abs(*g.Score - w.Score); diff > 1e-6*math.Abs(w.Score) && diff > 1e-12 {
			t.Errorf("%s: got score %.17g, want %.17g (relative error %.3g)", name, *g.Score, w.Score, diff/math.Abs(w.Score))
		}
		if g.Drift != w.Drift {
			t.Errorf("%s: got drift %v, want %v", name, g.Drift, w.Drift)
		}
		if g.RefRows != w.RefRows || g.CurRows != w.CurRows || g.RefMissing != w.RefMissing || g.CurMissing != w.CurMissing {
			t.Errorf("%s: got rows %d/%d missing %d/%d, want %d/%d missing %d/%d", name,
				g.RefRows, g.CurRows, g.RefMissing, g.CurMissing, w.RefRows, w.CurRows, w.RefMissing, w.CurMissing)
		}
	}
	if got.NumDrifted != want.DriftedColumns || got.DatasetDrift != want.DatasetDrift ||
		got.ShareDrifted == nil || math.Abs(*got.ShareDrifted-want.ShareDrifted) > 1e-12 {
		t.Errorf("got %d drifted, share %v, dataset drift %v; want %d, %v, %v",
			got.NumDrifted, got.ShareDrifted, got.DatasetDrift, want.DriftedColumns, want.ShareDrifted, want.DatasetDrift)
	}
}

func TestDrift_Fixtures(t *testing.T) {
	t.Run("Sample800", func(t *testing.T) {
		ref := mustProfile(t, fixtureColumns, mustReadCSV(t, "drift/sample800/reference.csv"))
		cur := mustProfile(t, fixtureColumns, mustReadCSV(t, "drift/sample800/current.csv"))
		got, err := monitor.Drift(ref, cur, monitor.DriftOptions{})
		if err != nil {
			t.Fatal(err)
		}
		checkFixture(t, got, mustReadFixture(t, "drift/sample800/expected.json"))
	})
	for _, tc := range []struct{ cur, fixture string }{
		{"2021-02", "drift/green-2021-01_vs_2021-02.json"},
		{"2023-03", "drift/green-2021-01_vs_2023-03.json"},
	} {
		t.Run("Green2021-01vs"+tc.cur, func(t *testing.T) {
			ref := mustProfile(t, fixtureColumns, mustMonthColumns(t, "2021-01"))
			cur := mustProfile(t, fixtureColumns, mustMonthColumns(t, tc.cur))
			got, err := monitor.Drift(ref, cur, monitor.DriftOptions{})
			if err != nil {
				t.Fatal(err)
			}
			checkFixture(t, got, mustReadFixture(t, tc.fixture))
		})
	}
}
