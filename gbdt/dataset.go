package gbdt

import (
	"fmt"
	"math"
	"slices"

	"tripcast"
)

// Dataset is a column-major feature matrix with its labels.
type Dataset struct {
	Cols        [][]float32 // Cols[f][i]: feature f of row i; NaN = missing
	Label       []float32   // one per row (may be nil for prediction-only data)
	Names       []string    // one per column
	Categorical []bool      // per column (nil = none): values are non-negative integer category codes
}

// Rows returns the number of rows.
func (d *Dataset) Rows() int {
	if len(d.Cols) == 0 {
		return len(d.Label)
	}
	return len(d.Cols[0])
}

// maxCat is the largest category code accepted (exclusive): XGBoost reads
// category codes through float32, which is exact up to 2^24.
const maxCat = 1 << 24

// validate checks shapes and values; name is "train" or "valid".
func (d *Dataset) validate(name string) error {
	if d == nil {
		return tripcast.FieldError(name, "dataset is nil")
	}
	if len(d.Cols) == 0 {
		return tripcast.FieldError(name, "dataset has no columns")
	}
	n := d.Rows()
	if n == 0 {
		return tripcast.FieldError(name, "dataset has no rows")
	}
	if len(d.Label) != n {
		return tripcast.FieldError(name, "has %d labels for %d rows", len(d.Label), n)
	}
	if len(d.Names) != len(d.Cols) {
		return tripcast.FieldError(name, "has %d names for %d columns", len(d.Names), len(d.Cols))
	}
	if d.Categorical != nil && len(d.Categorical) != len(d.Cols) {
		return tripcast.FieldError(name, "has %d categorical flags for %d columns", len(d.Categorical), len(d.Cols))
	}
	for f, c := range d.Cols {
		if len(c) != n {
			return tripcast.FieldError(name, "column %q has %d rows, want %d", d.Names[f], len(c), n)
		}
		if d.isCat(f) {
			for i, v := range c {
				if v != v {
					continue
				}
				if v < 0 || v >= maxCat || v != float32(math.Trunc(float64(v))) {
					return tripcast.FieldError(name, "categorical column %q row %d: %v is not a category code (an integer in [0, %d))", d.Names[f], i, v, maxCat)
				}
			}
		}
	}
	for i, y := range d.Label {
		if y != y || math.IsInf(float64(y), 0) {
			return tripcast.FieldError(name, "label of row %d is %v", i, y)
		}
	}
	return nil
}

func (d *Dataset) isCat(f int) bool { return d.Categorical != nil && d.Categorical[f] }

// binner maps one feature's raw values to histogram bins.
//
// Numeric: bin(x) = number of edges <= x, so a split "bin <= t" is exactly
// XGBoost's "x < edges[t]" on float32 values, and the model's thresholds are
// the edges themselves (no rounding between training and prediction).
// Categorical: bin(x) = index of the code x in cats.
// Missing values get bin nbins (one slot past the last real bin).
type binner struct {
	cat   bool
	edges []float32 // numeric, strictly increasing
	cats  []int32   // categorical codes seen in training, ascending
	nbins int       // real bins (missing excluded)
}

// newBinner builds the bins of one column: each distinct value its own bin
// when there are at most maxBin of them, otherwise quantile bins of about
// equal row counts whose edges are values of the column.
func newBinner(col []float32, cat bool, maxBin int) binner {
	vals := make([]float32, 0, len(col))
	for _, v := range col {
		if v == v {
			vals = append(vals, v)
		}
	}
	slices.Sort(vals)
	if cat {
		var cats []int32
		for i, v := range vals {
			if i == 0 || v != vals[i-1] {
				cats = append(cats, int32(v))
			}
		}
		return binner{cat: true, cats: cats, nbins: max(len(cats), 1)}
	}
	// Distinct values and their counts.
	var uniq []float32
	var cnt []int
	for i, v := range vals {
		if i == 0 || v != vals[i-1] {
			uniq = append(uniq, v)
			cnt = append(cnt, 0)
		}
		cnt[len(cnt)-1]++
	}
	var edges []float32
	if len(uniq) <= maxBin {
		if len(uniq) > 1 {
			edges = append(edges, uniq[1:]...)
		}
	} else {
		// Greedy quantiles: close a bin once it holds its share of the rows
		// that remain, so heavy values (one value on many rows) take a bin of
		// their own without starving the rest.
		left := len(vals)
		binsLeft := maxBin
		acc := 0
		for i := 0; i < len(uniq)-1 && binsLeft > 1; i++ {
			acc += cnt[i]
			if float64(acc) >= float64(left)/float64(binsLeft) {
				edges = append(edges, uniq[i+1])
				left -= acc
				acc = 0
				binsLeft--
			}
		}
	}
	return binner{edges: edges, nbins: len(edges) + 1}
}

// bin returns the bin of value v (nbins for missing). For categorical
// binners v must be one of the codes seen when the binner was built.
func (b *binner) bin(v float32) int {
	if v != v {
		return b.nbins
	}
	if b.cat {
		i, _ := slices.BinarySearch(b.cats, int32(v))
		return i
	}
	// Number of edges <= v.
	lo, hi := 0, len(b.edges)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if b.edges[m] <= v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// binMatrix is the binned training matrix, column-major. Bins are uint8
// when every feature fits (255 real bins + missing), else uint16: the
// histogram loop streams one column per task, so narrower bins mean fewer
// cache lines.
type binMatrix struct {
	u8  [][]uint8
	u16 [][]uint16
}

func buildBins(d *Dataset, maxBin int, nthread int) ([]binner, binMatrix, error) {
	nf := len(d.Cols)
	bs := make([]binner, nf)
	parallelFor(nf, nthread, func(f int) {
		bs[f] = newBinner(d.Cols[f], d.isCat(f), maxBin)
	})
	for f, b := range bs {
		if b.nbins > maxCategories {
			return nil, binMatrix{}, tripcast.FieldError("train", "categorical column %q has %d categories, more than %d", d.Names[f], b.nbins, maxCategories)
		}
	}
	// The missing code (nbins) needs a value only in columns that have
	// missing values, so 256 bins without NaNs still fit a byte.
	wide := false
	for f, b := range bs {
		codes := b.nbins
		if slices.ContainsFunc(d.Cols[f], func(v float32) bool { return v != v }) {
			codes++
		}
		if codes > 256 {
			wide = true
		}
	}
	var m binMatrix
	n := d.Rows()
	if wide {
		m.u16 = make([][]uint16, nf)
	} else {
		m.u8 = make([][]uint8, nf)
	}
	parallelFor(nf, nthread, func(f int) {
		col := d.Cols[f]
		b := &bs[f]
		if wide {
			out := make([]uint16, n)
			for i, v := range col {
				out[i] = uint16(b.bin(v))
			}
			m.u16[f] = out
		} else {
			out := make([]uint8, n)
			for i, v := range col {
				out[i] = uint8(b.bin(v))
			}
			m.u8[f] = out
		}
	})
	return bs, m, nil
}

// maxCategories bounds the distinct categories of a categorical column:
// each is a bin, and bins (with the missing code) must fit a uint16.
const maxCategories = 65535

// String describes a binner for debugging.
func (b binner) String() string {
	if b.cat {
		return fmt.Sprintf("categorical(%d)", len(b.cats))
	}
	return fmt.Sprintf("numeric(%d bins)", b.nbins)
}
