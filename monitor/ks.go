package monitor

import "math"

// ksExactMax is scipy's MAX_AUTO_N: ks_2samp's default method is exact when
// both samples have at most this many values, asymptotic otherwise.
const ksExactMax = 10000

// ks is Evidently's "ks": the p-value of scipy's two-sample
// Kolmogorov–Smirnov test (two-sided, method "auto"). The statistic is the
// largest gap between the two empirical CDFs, read at the merged distinct
// values (ties handled as scipy's searchsorted does).
func ks(ref, cur *Counts) (float64, bool) {
	n1, n2 := ref.N(), cur.N()
	d := ksStatistic(ref, cur, float64(n1), float64(n2))
	var p float64
	if max(n1, n2) <= ksExactMax {
		p = ksExact(n1, n2, d)
	} else {
		p = ksAsymptotic(n1, n2, d)
	}
	p = math.Min(math.Max(p, 0), 1)
	return p, isFinite(p)
}

func ksStatistic(u, v *Counts, nu, nv float64) float64 {
	var i, j int
	var cu, cv int64
	var d float64
	for i < len(u.Values) || j < len(v.Values) {
		switch {
		case j == len(v.Values) || (i < len(u.Values) && u.Values[i] < v.Values[j]):
			cu += u.Counts[i]
			i++
		case i == len(u.Values) || v.Values[j] < u.Values[i]:
			cv += v.Counts[j]
			j++
		default:
			cu += u.Counts[i]
			cv += v.Counts[j]
			i++
			j++
		}
		d = math.Max(d, math.Abs(float64(cu)/nu-float64(cv)/nv))
	}
	return d
}

// ksExact returns P(D ≥ d) for samples of n1 and n2 values, d first rounded
// to the lattice of lcm(n1, n2) as scipy does.
func ksExact(n1, n2 int64, d float64) float64 {
	g := gcd(n1, n2)
	lcm := (n1 / g) * n2
	h := int64(math.RoundToEven(d * float64(lcm)))
	if h == 0 {
		return 1
	}
	if n1 == n2 {
		return ksOutsideSquare(n1, h)
	}
	return ksOutside(n1, n2, g, h)
}

// ksOutsideSquare returns P(D_{n,n} ≥ h/n) = 2·Σ_k (−1)^(k−1)·C(2n, n−kh)/C(2n, n),
// evaluated from the innermost term outwards (Horner form) so that no large
// binomial is formed.
func ksOutsideSquare(n, h int64) float64 {
	var p float64
	for k := n / h; k >= 0; k-- {
		a := 1.0
		for j := range h {
			a = float64(n-k*h-j) * a / float64(n+k*h+j+1)
		}
		p = a * (1 - p)
	}
	return 2 * p
}

// ksOutside returns the probability that a uniformly random lattice path
// from (0, 0) to (m, n) leaves the band |x·n/g − y·m/g| < h, that is
// P(D ≥ h·g/(m·n)). The path is walked as draws without replacement: from
// (x, y), x grows with probability (m−x)/(m+n−x−y). The probability of
// staying inside is carried column by column over the band only, and every
// step that leaves the band adds its probability to the result: a sum of
// positive terms, so tiny p-values keep their relative precision (1 − P(inside)
// would not).
func ksOutside(m, n, g, h int64) float64 {
	mg, ng := m/g, n/g
	// col[y] holds P(reach (x, y) inside the band) for y in [plo, phi]; the
	// entries outside that range are stale and read as 0.
	col := make([]float64, n+1)
	next := make([]float64, n+1)
	// inv[k] = 1/k: the inner loop multiplies instead of dividing.
	inv := make([]float64, m+n+1)
	for k := 1; k <= int(m+n); k++ {
		inv[k] = 1 / float64(k)
	}
	var out float64
	// x = 0: only y steps, up to the band's edge.
	col[0] = 1
	plo, phi := int64(0), int64(0)
	for y := int64(1); y <= n; y++ {
		step := col[y-1] * float64(n-y+1) * inv[m+n-y+1]
		if y*mg >= h {
			out += step
			break
		}
		col[y] = step
		phi = y
	}
	for x := int64(1); x <= m; x++ {
		// The band for this x: |x·ng − y·mg| < h.
		lo := max(int64(0), floorDiv(x*ng-h, mg)+1)
		hi := min(n, ceilDiv(x*ng+h, mg)-1)
		fx := float64(m - x + 1)
		// Right steps from the previous band below lo (or all of it when
		// the band is empty) leave.
		for y := plo; y <= min(phi, lo-1, hi); y++ {
			out += col[y] * fx * inv[m+n-x-y+1]
		}
		if lo > hi {
			for y := max(plo, lo); y <= phi; y++ {
				out += col[y] * fx * inv[m+n-x-y+1]
			}
			return out
		}
		// next[y] = (col[y]·(m−x+1) [from (x−1, y), inside the previous
		// band] + next[y−1]·(n−y+1) [from (x, y−1)]) / (m+n−x−y+1). The band
		// only moves up (lo >= plo, hi >= phi), so the loop splits into the
		// part with both terms and the part above phi without branches.
		base := m + n - x + 1 // inv[base−y] = 1/(m+n−x−y+1)
		y := lo
		if lo <= phi {
			next[lo] = col[lo] * fx * inv[base-lo]
		} else {
			next[lo] = 0
		}
		top := min(hi, phi)
		for y = lo + 1; y <= top; y++ {
			next[y] = (col[y]*fx + next[y-1]*float64(n-y+1)) * inv[base-y]
		}
		for ; y <= hi; y++ {
			next[y] = next[y-1] * float64(n-y+1) * inv[base-y]
		}
		// The up step from the band's top leaves.
		if hi < n {
			out += next[hi] * float64(n-hi) * inv[m+n-x-hi]
		}
		col, next = next, col
		plo, phi = lo, hi
	}
	return out
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// gammaQ returns the regularized upper incomplete gamma function Q(a, x),
// the survival function of a chi-square with 2a degrees of freedom at 2x:
// by its power series when x < a+1, by its continued fraction (modified
// Lentz) otherwise, each accurate to about 1e-15.
func gammaQ(a, x float64) float64 {
	if x <= 0 {
		return 1
	}
	lg, _ := math.Lgamma(a)
	if x < a+1 {
		// P(a, x) = x^a e^-x / Γ(a+1) · Σ x^k / ((a+1)…(a+k))
		sum, term := 1/a, 1/a
		for k := 1; k < 10000; k++ {
			term *= x / (a + float64(k))
			sum += term
			if math.Abs(term) < math.Abs(sum)*1e-17 {
				break
			}
		}
		return 1 - sum*math.Exp(-x+a*math.Log(x)-lg)
	}
	// Q(a, x) = e^-x x^a / Γ(a) · 1/(x+1−a− 1·(1−a)/(x+3−a− 2·(2−a)/(x+5−a− …)))
	const tiny = 1e-300
	b := x + 1 - a
	c := 1 / tiny
	dd := 1 / b
	f := dd
	for i := 1; i < 10000; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		dd = an*dd + b
		if math.Abs(dd) < tiny {
			dd = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		dd = 1 / dd
		delta := dd * c
		f *= delta
		if math.Abs(delta-1) < 1e-16 {
			break
		}
	}
	return math.Exp(-x+a*math.Log(x)-lg) * f
}
