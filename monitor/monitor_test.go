package monitor_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"tripcast"
	"tripcast/monitor"
)

// mustJSON encodes v and fails on an error (a NaN would be one) or on a
// "NaN" or "Inf" in the output.
func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatalf("marshal: %v", err)
	}
	if s := string(b); strings.Contains(s, "NaN") || strings.Contains(s, "Inf") {
		tb.Fatalf("got %s, want no NaN or Inf", s)
	}
	return b
}

func TestProfile_JSONRoundTrip(t *testing.T) {
	specs := monitor.TripSpecs(false)
	ref := mustProfile(t, specs, mustMonthColumns(t, "2021-01"))
	cur := mustProfile(t, specs, mustMonthColumns(t, "2023-03"))
	b := mustJSON(t, ref)
	back, err := monitor.DecodeProfile(b)
	if err != nil {
		t.Fatal(err)
	}
	want, err := monitor.NewReport(ref, cur, monitor.Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := monitor.NewReport(back, cur, monitor.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if g, w := mustJSON(t, got), mustJSON(t, want); !bytes.Equal(g, w) {
		t.Fatalf("report from the decoded profile differs:\ngot  %s\nwant %s", g, w)
	}
	// Bounded by distinct values: far smaller than the month's rows.
	rows := ref.Column(monitor.ColDistance).N()
	for _, c := range ref.Columns {
		if int64(c.Distinct()) > rows/10 {
			t.Errorf("%s: %d distinct values for %d rows", c.Name, c.Distinct(), rows)
		}
	}
	t.Logf("reference profile: %d bytes of JSON for %d rows", len(b), rows)
}

func TestDecodeProfile_ErrInvalid(t *testing.T) {
	for name, js := range map[string]string{
		"Version":    `{"version":9,"columns":[]}`,
		"Kind":       `{"version":1,"columns":[{"name":"a","kind":"x","values":[],"counts":[]}]}`,
		"Unsorted":   `{"version":1,"columns":[{"name":"a","kind":"num","values":[2,1],"counts":[1,1]}]}`,
		"Lengths":    `{"version":1,"columns":[{"name":"a","kind":"num","values":[1],"counts":[]}]}`,
		"Duplicate":  `{"version":1,"columns":[{"name":"a","kind":"num"},{"name":"a","kind":"num"}]}`,
		"NotJSON":    `{`,
		"ZeroCounts": `{"version":1,"columns":[{"name":"a","kind":"cat","values":[1],"counts":[0]}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := monitor.DecodeProfile([]byte(js))
			if tripcast.ErrorCode(err) != tripcast.EINVALID {
				t.Fatalf("got %v (code %s), want EINVALID", err, tripcast.ErrorCode(err))
			}
		})
	}
}

// An accumulator fed in batches, and merged from parts, gives the table of
// the whole column.
func TestAccumulator_Incremental(t *testing.T) {
	cols := mustMonthColumns(t, "2023-03")
	for _, name := range []string{monitor.ColDistance, monitor.ColDuration, monitor.ColPassengers, monitor.ColPULocation} {
		vs := cols[name]
		want := monitor.CountValues(vs, 0)
		var a monitor.Accumulator
		for i := 0; i < len(vs); i += 1000 {
			a.AddSlice(vs[i:min(i+1000, len(vs))])
		}
		half := len(vs) / 2
		var p1, p2 monitor.Accumulator
		p1.AddSlice(vs[:half])
		p2.AddSlice(vs[half:])
		p1.Merge(&p2)
		// Two stored half-window profiles added into one builder.
		spec := []monitor.ColumnSpec{{Name: name, Kind: monitor.Numerical}}
		h1 := mustProfile(t, spec, map[string][]float64{name: vs[:half]})
		h2 := mustProfile(t, spec, map[string][]float64{name: vs[half:]})
		pb, err := monitor.NewBuilder(spec)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range []*monitor.Profile{h1, h2} {
			if err := pb.AddProfile(h); err != nil {
				t.Fatal(err)
			}
		}
		if err := pb.AddProfile(mustProfile(t, fixtureColumns, nil)); tripcast.ErrorCode(err) != tripcast.EINVALID {
			t.Errorf("profile of other columns: got %v, want EINVALID", err)
		}
		for label, got := range map[string]monitor.Counts{"batches": a.Counts(), "merged": p1.Counts(), "profiles": pb.Profile().Columns[0].Counts} {
			if !slices.Equal(got.Values, want.Values) || !slices.Equal(got.Counts, want.Counts) || got.Missing != want.Missing {
				t.Errorf("%s %s: tables differ", name, label)
			}
		}
		// Against a plain map count.
		direct := map[float64]int64{}
		var missing int64
		for _, v := range vs {
			if math.IsNaN(v) {
				missing++
			} else {
				direct[v]++
			}
		}
		keys := slices.Sorted(maps.Keys(direct))
		if !slices.Equal(want.Values, keys) || want.Missing != missing {
			t.Fatalf("%s: got %d values, %d missing; want %d, %d", name, len(want.Values), want.Missing, len(keys), missing)
		}
		for i, v := range keys {
			if want.Counts[i] != direct[v] {
				t.Errorf("%s: value %v: got count %d, want %d", name, v, want.Counts[i], direct[v])
			}
		}
	}
}

// A day of log at 50,000 rides an hour (1.2 M rows) in a Builder: the
// profile keeps the distinct values of one month, the counts scale, and the
// drift scores are those of the month.
func TestBuilder_ConstantMemory(t *testing.T) {
	specs := monitor.TripSpecs(false)
	cols := mustMonthColumns(t, "2023-03")
	const copies = 18 // 18 × 69,392 = 1,249,056 rows
	b, err := monitor.NewBuilder(specs)
	if err != nil {
		t.Fatal(err)
	}
	for range copies {
		for _, s := range specs {
			if err := b.Add(s.Name, cols[s.Name]); err != nil {
				t.Fatal(err)
			}
		}
	}
	day, month := b.Profile(), mustProfile(t, specs, cols)
	for i, c := range day.Columns {
		m := month.Columns[i]
		if c.Distinct() != m.Distinct() || c.N() != copies*m.N() || c.Missing != copies*m.Missing {
			t.Errorf("%s: got %d distinct, %d values, want %d, %d", c.Name, c.Distinct(), c.N(), m.Distinct(), copies*m.N())
		}
	}
	ref := mustProfile(t, specs, mustMonthColumns(t, "2021-01"))
	opt := monitor.DriftOptions{Columns: []string{monitor.ColPULocation, monitor.ColDistance, monitor.ColHour, monitor.ColDuration}}
	dd, err := monitor.Drift(ref, day, opt)
	if err != nil {
		t.Fatal(err)
	}
	md, err := monitor.Drift(ref, month, opt)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range md.Columns {
		if g := dd.Columns[name]; g.Score == nil || math.Abs(*g.Score-*c.Score) > 1e-12*math.Abs(*c.Score) {
			t.Errorf("%s: got score %v for the day, want the month's %v", name, g.Score, *c.Score)
		}
	}
}

func TestCountValues_Quantum(t *testing.T) {
	c := monitor.CountValues([]float64{1.0004, 0.9996, 2.0011, math.NaN(), math.Inf(1), -0.0, 0}, 0.001)
	if want := []float64{0, 1, 2.001}; !slices.Equal(c.Values, want) {
		t.Errorf("got values %v, want %v", c.Values, want)
	}
	if want := []int64{2, 2, 1}; !slices.Equal(c.Counts, want) {
		t.Errorf("got counts %v, want %v", c.Counts, want)
	}
	if c.Missing != 2 {
		t.Errorf("got %d missing, want 2", c.Missing)
	}
}

// Bad input: every column gets a status, no NaN reaches the JSON, nothing
// panics.
func TestNewReport_BadInput(t *testing.T) {
	specs := []monitor.ColumnSpec{
		{Name: "zone", Kind: monitor.Categorical, Min: ptr(1), Max: ptr(265)},
		{Name: "x", Kind: monitor.Numerical},
	}
	nan := math.NaN()
	ref := mustProfile(t, specs, map[string][]float64{
		"zone": {1, 2, 3, 4, 5, 6, 7, 8},
		"x":    {1, 2, 3, 4, 5, 6, 7, 8},
	})
	constRef := mustProfile(t, specs, map[string][]float64{
		"zone": {4, 4, 4, 4},
		"x":    {3, 3, 3, 3},
	})
	tests := []struct {
		name       string
		ref        *monitor.Profile
		cur        map[string][]float64
		wantStatus map[string]monitor.Status
		wantDrift  map[string]bool
	}{
		{"EmptyWindow", ref, map[string][]float64{}, map[string]monitor.Status{"zone": monitor.StatusNotEnoughData, "x": monitor.StatusNotEnoughData}, nil},
		{"OneRow", ref, map[string][]float64{"zone": {3}, "x": {2}}, map[string]monitor.Status{"zone": monitor.StatusNotEnoughData, "x": monitor.StatusNotEnoughData}, nil},
		{"AllMissing", ref, map[string][]float64{"zone": {1, 2, 3}, "x": {nan, nan, nan}}, map[string]monitor.Status{"zone": monitor.StatusOK, "x": monitor.StatusNotEnoughData}, nil},
		{"ConstantReferenceSame", constRef, map[string][]float64{"zone": {4, 4, 4}, "x": {3, 3}}, map[string]monitor.Status{"zone": monitor.StatusConstant, "x": monitor.StatusConstant}, map[string]bool{"zone": false, "x": false}},
		{"ConstantReferenceChanged", constRef, map[string][]float64{"zone": {4, 5, 4}, "x": {3, 3.5}}, map[string]monitor.Status{"zone": monitor.StatusConstant, "x": monitor.StatusConstant}, map[string]bool{"zone": true, "x": true}},
		{"OnlyUnseenZones", ref, map[string][]float64{"zone": {300, 301, 300}, "x": {9, 9, 9}}, map[string]monitor.Status{"zone": monitor.StatusOK, "x": monitor.StatusOK}, map[string]bool{"zone": true, "x": true}},
		{"NoReference", mustProfile(t, specs, nil), map[string][]float64{"zone": {1, 2}, "x": {1, 2}}, map[string]monitor.Status{"zone": monitor.StatusNoReference, "x": monitor.StatusNoReference}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cur := mustProfile(t, specs, tc.cur)
			r, err := monitor.NewReport(tc.ref, cur, monitor.Options{Quantiles: []monitor.QuantileSpec{{Column: "x", Q: 0.5}}})
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range tc.wantStatus {
				c := r.Columns[name]
				if c.Status != want {
					t.Errorf("%s: got status %s, want %s", name, c.Status, want)
				}
				if (c.Status == monitor.StatusOK) != (c.Score != nil) {
					t.Errorf("%s: status %s with score %v", name, c.Status, c.Score)
				}
				if w, ok := tc.wantDrift[name]; ok && c.Drift != w {
					t.Errorf("%s: got drift %v, want %v", name, c.Drift, w)
				}
			}
			mustJSON(t, r)
		})
	}
	t.Run("OnlyUnseenZonesQuality", func(t *testing.T) {
		cur := mustProfile(t, specs, map[string][]float64{"zone": {300, 301, 300}})
		q := monitor.Quality(ref, cur).Columns["zone"]
		if q.Unseen == nil || *q.Unseen != 3 || *q.ShareUnseen != 1 || q.OutOfRange != 3 {
			t.Errorf("got unseen %v share %v out of range %d, want 3, 1, 3", q.Unseen, q.ShareUnseen, q.OutOfRange)
		}
	})
	t.Run("EmptyWindowQuality", func(t *testing.T) {
		r, err := monitor.NewReport(ref, mustProfile(t, specs, nil), monitor.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if r.ShareMissingValues != nil || r.ShareDrifted != nil || r.DatasetDrift || r.PredictionDrift != nil {
			t.Errorf("got %s, want null shares and no drift", mustJSON(t, r))
		}
	})
}

func ptr(v float64) *float64 { return &v }

func TestDrift_ErrInvalid(t *testing.T) {
	p := mustProfile(t, fixtureColumns, nil)
	for name, opt := range map[string]monitor.DriftOptions{
		"UnknownColumn": {Columns: []string{"nope"}},
		"UnknownMethod": {Test: monitor.ColumnTest{Method: "anderson"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := monitor.Drift(p, p, opt)
			var e *tripcast.Error
			if !errors.As(err, &e) || e.Code != tripcast.EINVALID || e.Field == "" {
				t.Fatalf("got %v, want EINVALID naming the field", err)
			}
		})
	}
}

func TestBuilder_ErrInvalid(t *testing.T) {
	t.Run("UnknownColumn", func(t *testing.T) {
		b, err := monitor.NewBuilder(fixtureColumns)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Add("fare", []float64{1}); tripcast.ErrorField(err) != "column" {
			t.Fatalf("got %v, want EINVALID on field column", err)
		}
	})
	t.Run("DuplicateSpec", func(t *testing.T) {
		_, err := monitor.NewBuilder([]monitor.ColumnSpec{{Name: "a", Kind: monitor.Numerical}, {Name: "a", Kind: monitor.Numerical}})
		if tripcast.ErrorCode(err) != tripcast.EINVALID {
			t.Fatalf("got %v, want EINVALID", err)
		}
	})
	t.Run("NegativeQuantum", func(t *testing.T) {
		_, err := monitor.NewBuilder([]monitor.ColumnSpec{{Name: "a", Kind: monitor.Numerical, Quantum: -1}})
		if tripcast.ErrorField(err) != "columns.a.quantum" {
			t.Fatalf("got %v, want EINVALID on columns.a.quantum", err)
		}
	})
}
