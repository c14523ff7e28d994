package monitor

import (
	"math"
	"sort"
)

// The statistical tests, each computed from two count tables (reference,
// current) exactly as Evidently's legacy stattests compute them with numpy and
// scipy from the raw values. Each returns the score and ok=false when the
// score is not a finite number (the caller then reports a status instead).

// wassersteinNorm is Evidently's "wasserstein": scipy's
// wasserstein_distance(ref, cur) divided by max(np.std(ref), 0.001). The
// distance is ∫|F_ref − F_cur|, summed over the merged distinct values.
func wassersteinNorm(ref, cur *Counts) (float64, bool) {
	_, std := ref.stats()
	d := wasserstein(ref, cur)
	s := d / math.Max(std, 0.001)
	return s, isFinite(s)
}

// wasserstein returns the first Wasserstein distance between two tables.
func wasserstein(u, v *Counts) float64 {
	nu, nv := float64(u.N()), float64(v.N())
	var i, j int
	var cu, cv int64 // counts at or below the current value
	var d float64
	for i < len(u.Values) || j < len(v.Values) {
		var x float64
		switch {
		case j == len(v.Values) || (i < len(u.Values) && u.Values[i] < v.Values[j]):
			x = u.Values[i]
			cu += u.Counts[i]
			i++
		case i == len(u.Values) || v.Values[j] < u.Values[i]:
			x = v.Values[j]
			cv += v.Counts[j]
			j++
		default: // equal
			x = u.Values[i]
			cu += u.Counts[i]
			cv += v.Counts[j]
			i++
			j++
		}
		var next float64
		switch {
		case i < len(u.Values) && j < len(v.Values):
			next = math.Min(u.Values[i], v.Values[j])
		case i < len(u.Values):
			next = u.Values[i]
		case j < len(v.Values):
			next = v.Values[j]
		default:
			return d
		}
		d += math.Abs(float64(cu)/nu-float64(cv)/nv) * (next - x)
	}
	return d
}

// binned returns the reference and current shares per bin as Evidently's
// get_binned_data does: for a numerical column with more than nBins distinct
// reference values, numpy's Sturges bins over reference+current; otherwise
// one bin per distinct value seen in either table.
func binned(ref, cur *Counts, kind Kind, nBins int) (p, q []float64) {
	if kind == Numerical && ref.Distinct() > nBins {
		edges := sturgesEdges(ref, cur)
		p = histogram(ref, edges)
		q = histogram(cur, edges)
	} else {
		p, q = aligned(ref, cur)
	}
	nr, nc := float64(ref.N()), float64(cur.N())
	for i := range p {
		p[i] /= nr
		q[i] /= nc
	}
	return p, q
}

// aligned returns the counts of both tables over the union of their values.
func aligned(ref, cur *Counts) (p, q []float64) {
	var i, j int
	for i < len(ref.Values) || j < len(cur.Values) {
		switch {
		case j == len(cur.Values) || (i < len(ref.Values) && ref.Values[i] < cur.Values[j]):
			p = append(p, float64(ref.Counts[i]))
			q = append(q, 0)
			i++
		case i == len(ref.Values) || cur.Values[j] < ref.Values[i]:
			p = append(p, 0)
			q = append(q, float64(cur.Counts[j]))
			j++
		default:
			p = append(p, float64(ref.Counts[i]))
			q = append(q, float64(cur.Counts[j]))
			i++
			j++
		}
	}
	return p, q
}

// sturgesEdges returns np.histogram_bin_edges(concat(ref, cur), "sturges"):
// ceil(log2(n)+1) equal bins over [min, max] (±0.5 when min == max), the
// edges computed as numpy's linspace computes them.
func sturgesEdges(ref, cur *Counts) []float64 {
	lo := math.Min(ref.Values[0], cur.Values[0])
	hi := math.Max(ref.Values[len(ref.Values)-1], cur.Values[len(cur.Values)-1])
	n := float64(ref.N() + cur.N())
	bins := 1
	if width := (hi - lo) / (math.Log2(n) + 1); width > 0 {
		bins = int(math.Ceil((hi - lo) / width))
	} else {
		lo, hi = lo-0.5, hi+0.5
	}
	edges := make([]float64, bins+1)
	step := (hi - lo) / float64(bins)
	for i := range edges {
		edges[i] = float64(float64(i)*step) + lo // no fused multiply-add: numpy does not fuse
	}
	edges[bins] = hi
	return edges
}

// histogram counts a table into bins [e_i, e_i+1), the last one closed, as
// np.histogram does with explicit edges.
func histogram(c *Counts, edges []float64) []float64 {
	h := make([]float64, len(edges)-1)
	last := len(h) - 1
	for i, v := range c.Values {
		if v < edges[0] || v > edges[len(edges)-1] {
			continue
		}
		b := sort.SearchFloat64s(edges, v) // first edge >= v
		if b == len(edges) || edges[b] != v {
			b-- // v lies in [edges[b-1], edges[b])
		}
		h[min(b, last)] += float64(c.Counts[i])
	}
	return h
}

// jensenShannon is scipy's distance.jensenshannon (natural log) of the binned
// shares: sqrt of the Jensen–Shannon divergence.
func jensenShannon(ref, cur *Counts, kind Kind, nBins int) (float64, bool) {
	p, q := binned(ref, cur, kind, nBins)
	normalize(p)
	normalize(q)
	var js float64
	for i := range p {
		m := (p[i] + q[i]) / 2
		js += relEntr(p[i], m) + relEntr(q[i], m)
	}
	s := math.Sqrt(js / 2)
	return s, isFinite(s)
}

// psi is Evidently's population stability index over the binned shares,
// zero shares replaced as Evidently does.
func psi(ref, cur *Counts, kind Kind, nBins int) (float64, bool) {
	p, q := binned(ref, cur, kind, nBins)
	fillZeros(p)
	fillZeros(q)
	var s float64
	for i := range p {
		s += (p[i] - q[i]) * math.Log(p[i]/q[i])
	}
	return s, isFinite(s)
}

// klDiv is Evidently's "kl_div": scipy's entropy(ref, cur), the
// Kullback–Leibler divergence of the binned shares, zero shares replaced.
func klDiv(ref, cur *Counts, kind Kind, nBins int) (float64, bool) {
	p, q := binned(ref, cur, kind, nBins)
	fillZeros(p)
	fillZeros(q)
	normalize(p)
	normalize(q)
	var s float64
	for i := range p {
		s += relEntr(p[i], q[i])
	}
	return s, isFinite(s)
}

// fillZeros replaces zero shares by min(non-zero)/1e6 when that minimum is at
// most 1e-4, else by 1e-4 (Evidently's feel_zeroes).
func fillZeros(p []float64) {
	lo := math.Inf(1)
	for _, v := range p {
		if v != 0 && v < lo {
			lo = v
		}
	}
	fill := 0.0001
	if lo <= 0.0001 {
		fill = lo / 1e6
	}
	for i, v := range p {
		if v == 0 {
			p[i] = fill
		}
	}
}

func normalize(p []float64) {
	var s float64
	for _, v := range p {
		s += v
	}
	for i := range p {
		p[i] /= s
	}
}

// relEntr is scipy.special.rel_entr.
func relEntr(x, y float64) float64 {
	switch {
	case x > 0 && y > 0:
		return x * math.Log(x/y)
	case x == 0 && y >= 0:
		return 0
	}
	return math.Inf(1)
}

// chiSquare is Evidently's "chisquare": scipy's chisquare of the current
// counts against the reference counts scaled to the current size, over the
// values of both; its p-value. A value absent from the reference makes the
// statistic infinite and the p-value 0, as in scipy.
func chiSquare(ref, cur *Counts) (float64, bool) {
	p, q := aligned(ref, cur)
	if len(p) < 2 {
		return math.NaN(), false
	}
	k := float64(cur.N()) / float64(ref.N())
	var stat float64
	for i := range p {
		e := p[i] * k
		d := q[i] - e
		stat += d * d / e
	}
	if math.IsInf(stat, 1) {
		return 0, true
	}
	pv := gammaQ(float64(len(p)-1)/2, stat/2)
	return pv, isFinite(pv)
}

// zTest is Evidently's "z": the two-sided z-test of the difference of the
// share of one value (the smallest seen) between the two tables; its p-value.
func zTest(ref, cur *Counts) (float64, bool) {
	if ref.Distinct() == 1 && cur.Distinct() == 1 && ref.Values[0] == cur.Values[0] {
		return 1, true
	}
	key := math.Min(ref.Values[0], cur.Values[0])
	n1, n2 := float64(ref.N()), float64(cur.N())
	// Evidently codes the key as 0 and every other value as 1.
	p1 := (n1 - float64(countOf(ref, key))) / n1
	p2 := (n2 - float64(countOf(cur, key))) / n2
	pp := (p1*n1 + p2*n2) / (n1 + n2)
	z := (p1 - p2) / math.Sqrt(pp*(1-pp)*(1/n1+1/n2))
	pv := 2 * (1 - normCDF(math.Abs(z)))
	return pv, isFinite(pv)
}

func countOf(c *Counts, v float64) int64 {
	i := sort.SearchFloat64s(c.Values, v)
	if i < len(c.Values) && c.Values[i] == v {
		return c.Counts[i]
	}
	return 0
}

func normCDF(x float64) float64 { return 0.5 * math.Erfc(-x/math.Sqrt2) }

func isFinite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
