package monitor

import (
	"cmp"
	"math"
	"slices"
)

// Counts is one column in count form: its distinct non-missing values in
// increasing order, how often each occurs, and how many values were missing
// (NaN or ±Inf). Every drift test here works from this form, so a column
// costs memory in proportion to its distinct values, not its rows.
type Counts struct {
	Values  []float64 `json:"values"`
	Counts  []int64   `json:"counts"`
	Missing int64     `json:"missing"`
}

// N returns the number of non-missing values.
func (c *Counts) N() int64 {
	var n int64
	for _, k := range c.Counts {
		n += k
	}
	return n
}

// Distinct returns the number of distinct non-missing values.
func (c *Counts) Distinct() int { return len(c.Values) }

// valid reports whether the table is well formed: same lengths, strictly
// increasing finite values and positive counts.
func (c *Counts) valid() bool {
	if len(c.Values) != len(c.Counts) || c.Missing < 0 {
		return false
	}
	for i, v := range c.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) || c.Counts[i] <= 0 || (i > 0 && v <= c.Values[i-1]) {
			return false
		}
	}
	return true
}

// denseSize bounds the array fast path of an Accumulator: whole numbers in
// [0, denseSize) (zones, hours, passenger counts) are counted by index.
const denseSize = 1024

// Accumulator counts a column's values incrementally: Add any number of
// values, any number of times, then read Counts. Its memory grows with the
// number of distinct values only, so a day of prediction log (1.2 M rows)
// costs the same as an hour. With a quantum q > 0 each value is rounded to
// the nearest multiple of q first (for continuous columns such as
// predictions); with q = 0 values are kept exactly. The zero value is an
// exact accumulator. An Accumulator is not safe for concurrent use; Merge
// combines per-goroutine ones.
type Accumulator struct {
	Quantum float64

	// Whole numbers in [0, denseSize) go to dense (an index, no hashing: the
	// hot path for zones and hours); anything else to sparse.
	dense   []int64
	sparse  floatTable
	missing int64
}

// NewAccumulator returns an accumulator rounding to quantum (0: exact).
func NewAccumulator(quantum float64) *Accumulator {
	return &Accumulator{Quantum: quantum}
}

// Add counts one value; NaN and ±Inf count as missing.
func (a *Accumulator) Add(v float64) { a.addN(v, 1) }

// AddSlice counts every value of vs.
func (a *Accumulator) AddSlice(vs []float64) {
	for _, v := range vs {
		a.addN(v, 1)
	}
}

// AddMissing counts n missing values (rows where the column is absent).
func (a *Accumulator) AddMissing(n int64) { a.missing += n }

// AddCounts adds a count table (for example a stored window) to a.
func (a *Accumulator) AddCounts(c Counts) {
	for i, v := range c.Values {
		a.addN(v, c.Counts[i])
	}
	a.missing += c.Missing
}

// addN counts n occurrences of v.
func (a *Accumulator) addN(v float64, n int64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		a.missing += n
		return
	}
	if a.Quantum > 0 {
		v = math.Round(v/a.Quantum) * a.Quantum
	}
	if v >= 0 && v < denseSize && v == math.Trunc(v) {
		if a.dense == nil {
			a.dense = make([]int64, denseSize)
		}
		a.dense[int(v)] += n
		return
	}
	a.sparse.add(v, n)
}

// Merge adds b's counts to a; b must use the same quantum.
func (a *Accumulator) Merge(b *Accumulator) {
	a.AddCounts(b.Counts())
}

// Counts returns the accumulated table (a fresh copy).
func (a *Accumulator) Counts() Counts {
	type entry struct {
		v float64
		n int64
	}
	es := make([]entry, 0, a.sparse.n+64)
	a.sparse.each(func(v float64, n int64) { es = append(es, entry{v, n}) })
	for i, n := range a.dense {
		if n > 0 {
			es = append(es, entry{float64(i), n})
		}
	}
	slices.SortFunc(es, func(x, y entry) int { return cmp.Compare(x.v, y.v) })
	c := Counts{Values: make([]float64, len(es)), Counts: make([]int64, len(es)), Missing: a.missing}
	for i, e := range es {
		c.Values[i], c.Counts[i] = e.v, e.n
	}
	return c
}

// CountValues returns the count table of vs, rounded to quantum (0: exact).
func CountValues(vs []float64, quantum float64) Counts {
	a := Accumulator{Quantum: quantum}
	a.AddSlice(vs)
	return a.Counts()
}

// stats returns the mean and the population standard deviation (numpy's
// np.std, ddof 0) of a non-empty table.
func (c *Counts) stats() (mean, std float64) {
	n := float64(c.N())
	var s float64
	for i, v := range c.Values {
		s += float64(c.Counts[i]) * v
	}
	mean = s / n
	var ss float64
	for i, v := range c.Values {
		d := v - mean
		ss += float64(c.Counts[i]) * d * d
	}
	return mean, math.Sqrt(ss / n)
}

// quantile returns numpy's default ("linear") quantile q of a non-empty
// table: the order statistics around q·(n-1), interpolated.
func (c *Counts) quantile(q float64) float64 {
	n := c.N()
	pos := q * float64(n-1)
	lo := int64(math.Floor(pos))
	frac := pos - float64(lo)
	a := c.orderStat(lo)
	if frac == 0 || lo+1 >= n {
		return a
	}
	b := c.orderStat(lo + 1)
	return a + (b-a)*frac
}

// orderStat returns the k-th smallest value (0-based).
func (c *Counts) orderStat(k int64) float64 {
	var cum int64
	for i, n := range c.Counts {
		cum += n
		if k < cum {
			return c.Values[i]
		}
	}
	return c.Values[len(c.Values)-1]
}
