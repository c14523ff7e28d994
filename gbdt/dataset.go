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
	// tab, when not nil, gives the bins of numeric values in
	// [tabLo, tabLo+len(tab)) by their floor (see intTable).
	tab   []int32
	tabLo float32
}

// newBinner builds the bins of one column: each distinct value its own bin
// when there are at most maxBin of them, otherwise quantile bins of about
// equal row counts whose edges are values of the column.
func newBinner(col []float32, cat bool, maxBin int) binner {
	vals := sortedValues(col)
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
	b := binner{edges: edges, nbins: len(edges) + 1}
	if t, lo, ok := intTable(edges); ok {
		b.tab, b.tabLo = t, lo
	}
	return b
}

// sortedValues returns the non-missing values of col in ascending order
// (-0 before +0, which compare equal), by an LSD radix sort of their bits
// made orderable as unsigned integers: a few passes over the column instead
// of a comparison sort's n·log n branches. Byte positions where every value
// agrees (small integer codes share their high bytes) are skipped.
func sortedValues(col []float32) []float32 {
	keys := make([]uint32, 0, len(col))
	for _, v := range col {
		if v == v {
			keys = append(keys, orderKey(v))
		}
	}
	var count [4][256]int
	for _, k := range keys {
		count[0][k&0xff]++
		count[1][k>>8&0xff]++
		count[2][k>>16&0xff]++
		count[3][k>>24]++
	}
	tmp := make([]uint32, len(keys))
	for pass := range 4 {
		c := &count[pass]
		shift := 8 * pass
		if len(keys) == 0 || c[keys[0]>>shift&0xff] == len(keys) {
			continue // every key has the same byte here
		}
		pos := 0
		for b := range c {
			pos, c[b] = pos+c[b], pos
		}
		for _, k := range keys {
			b := k >> shift & 0xff
			tmp[c[b]] = k
			c[b]++
		}
		keys, tmp = tmp, keys
	}
	vals := make([]float32, len(keys))
	for i, k := range keys {
		vals[i] = fromOrderKey(k)
	}
	return vals
}

// orderKey maps a float32 to a uint32 with the same order (NaNs excluded).
func orderKey(v float32) uint32 {
	b := math.Float32bits(v)
	if b>>31 != 0 {
		return ^b
	}
	return b | 1<<31
}

// fromOrderKey inverts orderKey.
func fromOrderKey(k uint32) float32 {
	if k>>31 != 0 {
		return math.Float32frombits(k &^ (1 << 31))
	}
	return math.Float32frombits(^k)
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
	return countLE(b.edges, v)
}

// countLE returns the number of edges <= v (edges ascending): a binary
// search whose steps are conditional moves, not branches (the comparisons
// are unpredictable).
func countLE(edges []float32, v float32) int {
	n := len(edges)
	if n == 0 {
		return 0
	}
	base := 0
	for n > 1 {
		half := n >> 1
		if edges[base+half-1] <= v {
			base += half
		}
		n -= half
	}
	if edges[base] <= v {
		base++
	}
	return base
}

// maxIntTable bounds the range of integer edges that binColumn looks up
// in a table instead of searching.
const maxIntTable = 1 << 16

// intTable returns, when every edge is an integer and they span at most
// maxIntTable, the table t with t[i] = countLE(edges, lo+i) and lo; for
// any v in [lo, lo+len(t)), countLE(edges, v) = t[floor(v)-lo] (an integer
// edge is <= v exactly when it is <= floor(v)).
func intTable(edges []float32) (t []int32, lo float32, ok bool) {
	if len(edges) == 0 {
		return nil, 0, false
	}
	first, last := edges[0], edges[len(edges)-1]
	if last-first >= maxIntTable || first < -1<<24 || last > 1<<24 {
		return nil, 0, false
	}
	for _, e := range edges {
		if e != float32(math.Floor(float64(e))) {
			return nil, 0, false
		}
	}
	t = make([]int32, int(last-first)+1)
	j := int32(0)
	for i := range t {
		for int(j) < len(edges) && edges[j] <= first+float32(i) {
			j++
		}
		t[i] = j
	}
	return t, first, true
}

// binColumn writes the bins of col into out.
func binColumn[B uint8 | uint16](b *binner, col []float32, out []B) {
	if b.cat {
		for i, v := range col {
			out[i] = B(b.bin(v))
		}
		return
	}
	if t, lo := b.tab, b.tabLo; t != nil {
		// Small integer codes (zones, hours, weekdays): a lookup.
		hi := lo + float32(len(t)-1)
		ilo := int(lo)
		top := B(len(b.edges))
		for i, v := range col {
			switch {
			case v != v:
				out[i] = B(b.nbins)
			case v < lo:
				out[i] = 0
			case v >= hi:
				out[i] = top
			default:
				out[i] = B(t[int(math.Floor(float64(v)))-ilo]) // floor is exact; v-lo might round
			}
		}
		return
	}
	for i, v := range col {
		if v != v {
			out[i] = B(b.nbins)
			continue
		}
		out[i] = B(countLE(b.edges, v))
	}
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
	for f := range nf {
		if wide {
			m.u16[f] = make([]uint16, n)
		} else {
			m.u8[f] = make([]uint8, n)
		}
	}
	// Row blocks of every column, so that one slow column (a searched one
	// beside looked-up codes) does not leave a core idle.
	nb := (n + binBlock - 1) / binBlock
	parallelFor(nf*nb, nthread, func(i int) {
		f, lo := i/nb, (i%nb)*binBlock
		hi := min(lo+binBlock, n)
		if wide {
			binColumn(&bs[f], d.Cols[f][lo:hi], m.u16[f][lo:hi])
		} else {
			binColumn(&bs[f], d.Cols[f][lo:hi], m.u8[f][lo:hi])
		}
	})
	return bs, m, nil
}

// binBlock is the rows of one binning task.
const binBlock = 16384

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
