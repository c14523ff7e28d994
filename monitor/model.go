package monitor

import (
	"fmt"
	"math"
	"sort"
)

// DefaultErrorResolution is the resolution (minutes, 0.06 s) at which a
// ModelAccumulator keeps absolute errors for its quantiles.
const DefaultErrorResolution = 0.001

// ModelQuality is the quality of a model's predictions against ground truth.
// The error is prediction − actual (positive: the model overestimates).
// Figures are nil (JSON null) when they are undefined: no rows, or for R²
// fewer than two rows or constant actuals.
type ModelQuality struct {
	Rows      int64    `json:"rows"`
	Skipped   int64    `json:"skipped"` // pairs with a missing (NaN, ±Inf) prediction or actual
	RMSE      *float64 `json:"rmse"`
	MAE       *float64 `json:"mae"`
	R2        *float64 `json:"r2"`
	MeanError *float64 `json:"mean_error"`
	// Quantiles of the absolute error (numpy's linear quantile, errors
	// rounded to the accumulator's resolution).
	AbsErrorP50 *float64 `json:"abs_error_p50"`
	AbsErrorP90 *float64 `json:"abs_error_p90"`
	AbsErrorP99 *float64 `json:"abs_error_p99"`
	// Breakdowns maps a key name (such as "borough" or "hour") to its groups,
	// worst RMSE first.
	Breakdowns map[string][]GroupQuality `json:"breakdowns,omitempty"`
}

// GroupQuality is the model quality of one group of a breakdown.
type GroupQuality struct {
	Key       string   `json:"key"`
	Rows      int64    `json:"rows"`
	RMSE      *float64 `json:"rmse"`
	MAE       *float64 `json:"mae"`
	R2        *float64 `json:"r2"`
	MeanError *float64 `json:"mean_error"`
}

// ModelAccumulator accumulates (prediction, actual) pairs in constant memory
// (sums, and the absolute errors as a count table at a fixed resolution), so
// a day of joined predictions is one pass. Each pair carries one value per
// breakdown key. Not safe for concurrent use; Merge combines accumulators
// made with the same keys.
type ModelAccumulator struct {
	keys    []string
	all     moments
	absErr  Accumulator
	groups  []map[string]*moments // per key: value → moments
	skipped int64
}

// moments are the running sums of one group; the actuals' variance is kept
// with Welford's update for a stable R².
type moments struct {
	n                     int64
	sumErr, sumAbs, sumSq float64
	meanY, m2Y            float64
}

func (m *moments) add(pred, actual float64) {
	e := pred - actual
	m.n++
	m.sumErr += e
	m.sumAbs += math.Abs(e)
	m.sumSq += e * e
	d := actual - m.meanY
	m.meanY += d / float64(m.n)
	m.m2Y += d * (actual - m.meanY)
}

func (m *moments) merge(o *moments) {
	if o.n == 0 {
		return
	}
	n := m.n + o.n
	d := o.meanY - m.meanY
	m.meanY += d * float64(o.n) / float64(n)
	m.m2Y += o.m2Y + d*d*float64(m.n)*float64(o.n)/float64(n)
	m.n = n
	m.sumErr += o.sumErr
	m.sumAbs += o.sumAbs
	m.sumSq += o.sumSq
}

// figures returns RMSE, MAE, R² and mean error, nil where undefined.
func (m *moments) figures() (rmse, mae, r2, me *float64) {
	if m.n == 0 {
		return nil, nil, nil, nil
	}
	n := float64(m.n)
	rmse, mae, me = finite(math.Sqrt(m.sumSq/n)), finite(m.sumAbs/n), finite(m.sumErr/n)
	if m.n >= 2 && m.m2Y > 0 {
		r2 = finite(1 - m.sumSq/m.m2Y)
	}
	return rmse, mae, r2, me
}

// NewModelAccumulator returns an accumulator breaking results down by keys
// (names, such as "borough" and "hour"; none for totals only), keeping
// absolute errors at resolution minutes (0: DefaultErrorResolution).
func NewModelAccumulator(keys []string, resolution float64) *ModelAccumulator {
	if resolution <= 0 {
		resolution = DefaultErrorResolution
	}
	m := &ModelAccumulator{keys: keys, absErr: Accumulator{Quantum: resolution}, groups: make([]map[string]*moments, len(keys))}
	for i := range m.groups {
		m.groups[i] = make(map[string]*moments)
	}
	return m
}

// Add accumulates one pair with its key values, in the order of the keys
// given to NewModelAccumulator (it panics on a different count: a
// programmer error). A pair with a missing value is counted as skipped.
func (m *ModelAccumulator) Add(prediction, actual float64, keyValues ...string) {
	if len(keyValues) != len(m.keys) {
		panic(fmt.Sprintf("monitor: %d key values for %d keys", len(keyValues), len(m.keys)))
	}
	if !isFinite(prediction) || !isFinite(actual) {
		m.skipped++
		return
	}
	m.all.add(prediction, actual)
	m.absErr.Add(math.Abs(prediction - actual))
	for i, v := range keyValues {
		g := m.groups[i][v]
		if g == nil {
			g = &moments{}
			m.groups[i][v] = g
		}
		g.add(prediction, actual)
	}
}

// Merge adds o's pairs; o must have the same keys and resolution.
func (m *ModelAccumulator) Merge(o *ModelAccumulator) {
	m.all.merge(&o.all)
	m.absErr.Merge(&o.absErr)
	m.skipped += o.skipped
	for i := range m.groups {
		for v, og := range o.groups[i] {
			g := m.groups[i][v]
			if g == nil {
				g = &moments{}
				m.groups[i][v] = g
			}
			g.merge(og)
		}
	}
}

// Result returns the model quality of the pairs added so far.
func (m *ModelAccumulator) Result() *ModelQuality {
	q := &ModelQuality{Rows: m.all.n, Skipped: m.skipped}
	q.RMSE, q.MAE, q.R2, q.MeanError = m.all.figures()
	if m.all.n > 0 {
		c := m.absErr.Counts()
		q.AbsErrorP50, q.AbsErrorP90, q.AbsErrorP99 = finite(c.quantile(0.5)), finite(c.quantile(0.9)), finite(c.quantile(0.99))
	}
	if len(m.keys) > 0 {
		q.Breakdowns = make(map[string][]GroupQuality, len(m.keys))
	}
	for i, key := range m.keys {
		gs := make([]GroupQuality, 0, len(m.groups[i]))
		for _, v := range sortedKeys(m.groups[i]) {
			g := GroupQuality{Key: v, Rows: m.groups[i][v].n}
			g.RMSE, g.MAE, g.R2, g.MeanError = m.groups[i][v].figures()
			gs = append(gs, g)
		}
		sort.SliceStable(gs, func(a, b int) bool { return deref(gs[a].RMSE) > deref(gs[b].RMSE) })
		q.Breakdowns[key] = gs
	}
	return q
}

func deref(p *float64) float64 {
	if p == nil {
		return math.Inf(-1)
	}
	return *p
}
