package monitor_test

import (
	"math"
	"slices"
	"sort"
	"strconv"
	"testing"

	"tripcast/internal/testfiles"
	"tripcast/monitor"
	"tripcast/tlc"
)

// direct computes the figures from slices in the textbook way, two passes.
func direct(pred, actual []float64) (rmse, mae, r2, me float64) {
	n := float64(len(pred))
	var mean float64
	for _, a := range actual {
		mean += a
	}
	mean /= n
	var ss, sa, se, st float64
	for i := range pred {
		e := pred[i] - actual[i]
		ss += e * e
		sa += math.Abs(e)
		se += e
		st += (actual[i] - mean) * (actual[i] - mean)
	}
	return math.Sqrt(ss / n), sa / n, 1 - ss/st, se / n
}

// numpyQuantile is numpy's linear quantile of sorted values.
func numpyQuantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	if lo+1 >= len(sorted) {
		return sorted[lo]
	}
	return sorted[lo] + (sorted[lo+1]-sorted[lo])*(pos-float64(lo))
}

func near(got *float64, want, tol float64) bool {
	return got != nil && math.Abs(*got-want) <= tol*math.Max(1, math.Abs(want))
}

// A stand-in model (3 min + 3.5 min per mile) scored on green 2023-03 with
// the real durations as ground truth, broken down by pickup borough and hour.
func TestModelAccumulator_RealMonth(t *testing.T) {
	cols := mustMonthColumns(t, "2023-03")
	zones, err := tlc.LoadZones(testfiles.TLC(t, "taxi_zone_lookup.csv"))
	if err != nil {
		t.Fatal(err)
	}
	dist, actual, pu, hour := cols[monitor.ColDistance], cols[monitor.ColDuration], cols[monitor.ColPULocation], cols[monitor.ColHour]
	pred := make([]float64, len(dist))
	for i, d := range dist {
		pred[i] = 3 + 3.5*d
	}
	keys := []string{"borough", "hour"}
	all := monitor.NewModelAccumulator(keys, 0)
	a, b := monitor.NewModelAccumulator(keys, 0), monitor.NewModelAccumulator(keys, 0)
	byBorough := map[string][2][]float64{}
	for i := range pred {
		z, _ := zones.Lookup(int(pu[i]))
		h := strconv.Itoa(int(hour[i]))
		all.Add(pred[i], actual[i], z.Borough, h)
		if i%2 == 0 {
			a.Add(pred[i], actual[i], z.Borough, h)
		} else {
			b.Add(pred[i], actual[i], z.Borough, h)
		}
		g := byBorough[z.Borough]
		g[0], g[1] = append(g[0], pred[i]), append(g[1], actual[i])
		byBorough[z.Borough] = g
	}
	all.Add(math.NaN(), 3, "x", "0")
	a.Merge(b)
	q, merged := all.Result(), a.Result()
	rmse, mae, r2, me := direct(pred, actual)
	for name, got := range map[string]*monitor.ModelQuality{"one pass": q, "merged": merged} {
		if got.Rows != int64(len(pred)) {
			t.Errorf("%s: got %d rows, want %d", name, got.Rows, len(pred))
		}
		if !near(got.RMSE, rmse, 1e-9) || !near(got.MAE, mae, 1e-9) || !near(got.R2, r2, 1e-9) || !near(got.MeanError, me, 1e-9) {
			t.Errorf("%s: got rmse %v mae %v r2 %v me %v, want %v %v %v %v", name, *got.RMSE, *got.MAE, *got.R2, *got.MeanError, rmse, mae, r2, me)
		}
	}
	if q.Skipped != 1 {
		t.Errorf("got %d skipped, want 1", q.Skipped)
	}
	abs := make([]float64, len(pred))
	for i := range pred {
		abs[i] = math.Abs(pred[i] - actual[i])
	}
	slices.Sort(abs)
	// Errors are kept at 0.001 minute: quantiles within half of it.
	for _, c := range []struct {
		got *float64
		q   float64
	}{{q.AbsErrorP50, 0.5}, {q.AbsErrorP90, 0.9}, {q.AbsErrorP99, 0.99}} {
		if want := numpyQuantile(abs, c.q); c.got == nil || math.Abs(*c.got-want) > 0.0005+1e-12 {
			t.Errorf("p%v: got %v, want %v", c.q*100, c.got, want)
		}
	}
	groups := q.Breakdowns["borough"]
	if !sort.SliceIsSorted(groups, func(i, j int) bool { return *groups[i].RMSE > *groups[j].RMSE }) {
		t.Errorf("borough groups not worst first")
	}
	for _, g := range groups {
		d := byBorough[g.Key]
		rmse, mae, _, me := direct(d[0], d[1])
		if g.Rows != int64(len(d[0])) || !near(g.RMSE, rmse, 1e-9) || !near(g.MAE, mae, 1e-9) || !near(g.MeanError, me, 1e-9) {
			t.Errorf("borough %s: got %d rows rmse %v, want %d %v", g.Key, g.Rows, g.RMSE, len(d[0]), rmse)
		}
	}
	if n := len(q.Breakdowns["hour"]); n != 24 {
		t.Errorf("got %d hour groups, want 24", n)
	}
	r := &monitor.Report{}
	r.SetValidation(monitor.Validation{RMSE: rmse / 1.25})
	if r.RMSEChange != nil {
		t.Errorf("got rmse change %v without a window RMSE, want null", *r.RMSEChange)
	}
	r.SetModelQuality(q)
	if !near(r.RMSEChange, 0.25, 1e-9) {
		t.Errorf("got rmse change %v, want 0.25", r.RMSEChange)
	}
	mustJSON(t, r)
}

func TestModelAccumulator_Degenerate(t *testing.T) {
	m := monitor.NewModelAccumulator(nil, 0)
	q := m.Result()
	if q.RMSE != nil || q.R2 != nil || q.AbsErrorP50 != nil || q.Rows != 0 {
		t.Errorf("empty: got %s, want null figures", mustJSON(t, q))
	}
	m.Add(10, 12)
	q = m.Result()
	if !near(q.RMSE, 2, 0) || !near(q.MeanError, -2, 0) || q.R2 != nil {
		t.Errorf("one pair: got %s, want rmse 2, mean error -2, r2 null", mustJSON(t, q))
	}
	m.Add(11, 12) // constant actuals: R² undefined
	if q = m.Result(); q.R2 != nil {
		t.Errorf("constant actuals: got r2 %v, want null", *q.R2)
	}
}

// Data quality on a real month: counts as computed directly.
func TestQuality_RealMonth(t *testing.T) {
	specs := monitor.TripSpecs(false)
	refCols, curCols := mustMonthColumns(t, "2021-01"), mustMonthColumns(t, "2023-03")
	ref, cur := mustProfile(t, specs, refCols), mustProfile(t, specs, curCols)
	q := monitor.Quality(ref, cur)
	seen := map[float64]bool{}
	for _, z := range refCols[monitor.ColPULocation] {
		seen[z] = true
	}
	var unseen, zeros, cells, missing int64
	for _, z := range curCols[monitor.ColPULocation] {
		if !seen[z] {
			unseen++
		}
	}
	for _, d := range curCols[monitor.ColDistance] {
		if d == 0 {
			zeros++
		}
	}
	for _, s := range specs {
		for _, v := range curCols[s.Name] {
			cells++
			if math.IsNaN(v) {
				missing++
			}
		}
	}
	pu := q.Columns[monitor.ColPULocation]
	if pu.Unseen == nil || *pu.Unseen != unseen || pu.OutOfRange != 0 {
		t.Errorf("PULocationID: got unseen %v out of range %d, want %d, 0", pu.Unseen, pu.OutOfRange, unseen)
	}
	if d := q.Columns[monitor.ColDistance]; d.Zeros == nil || *d.Zeros != zeros || zeros == 0 {
		t.Errorf("trip_distance: got zeros %v, want %d (> 0)", d.Zeros, zeros)
	}
	if p := q.Columns[monitor.ColPassengers]; p.Missing != 4435 {
		t.Errorf("passenger_count: got %d missing, want 4435 (the fixture's)", p.Missing)
	}
	if want := float64(missing) / float64(cells); !near(q.ShareMissingValues, want, 1e-12) {
		t.Errorf("got share missing %v, want %v", q.ShareMissingValues, want)
	}
	med, ok := cur.Quantile(monitor.ColFare, 0.5)
	fares := slices.DeleteFunc(slices.Clone(curCols[monitor.ColFare]), math.IsNaN)
	slices.Sort(fares)
	if want := numpyQuantile(fares, 0.5); !ok || med != want {
		t.Errorf("median fare: got %v, want %v", med, want)
	}
}
