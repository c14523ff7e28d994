package monitor

import "math"

// ksAsymptotic is used above ksExactMax values on a side, where scipy
// evaluates kstwo.sf(d, round(n1·n2/(n1+n2))), the survival function of the
// two-sided one-sample statistic D_n. It follows scipy's choice of method
// (Simard and L'Ecuyer 2011): the exact tails, twice the one-sided Smirnov
// probability for large n·d², the Durbin matrix for small d, and the
// Pelz–Good series otherwise. Where scipy uses Pomeranz's recursion
// (n <= 140) the Durbin matrix, also exact, is used instead.
func ksAsymptotic(n1, n2 int64, d float64) float64 {
	en := math.RoundToEven(float64(n1) * float64(n2) / float64(n1+n2))
	return kolmogorovSF(int(en), d)
}

// kolmogorovSF returns P(D_n >= x) for the two-sided one-sample
// Kolmogorov–Smirnov statistic.
func kolmogorovSF(n int, x float64) float64 {
	nf := float64(n)
	t := nf * x
	switch {
	case x >= 1:
		return 0
	case x <= 0 || t <= 0.5:
		return 1
	case t <= 1: // Ruben–Gambino: P(D_n <= x) = n!/n^n·(2t−1)^n
		return 1 - math.Exp(logFactorialOverPower(n)+nf*math.Log(2*t-1))
	case t >= nf-1:
		return 2 * math.Pow(1-x, nf)
	case x >= 0.5:
		return 2 * smirnovSF(n, x)
	}
	nx2 := t * x
	if n <= 140 {
		if nx2 <= 4 {
			return 1 - durbinCDF(n, x)
		}
		return math.Min(1, 2*smirnovSF(n, x))
	}
	switch {
	case nx2 >= 370:
		return 0
	case nx2 >= 2.2:
		return math.Min(1, 2*smirnovSF(n, x))
	case nf*math.Pow(x, 1.5) <= 1.4:
		return 1 - durbinCDF(n, x)
	}
	return 1 - pelzGoodCDF(nf, x)
}

// logFactorialOverPower returns log(n!/n^n).
func logFactorialOverPower(n int) float64 {
	lg, _ := math.Lgamma(float64(n) + 1)
	return lg - float64(n)*math.Log(float64(n))
}

// smirnovSF is the one-sided Smirnov probability P(D+_n >= x), by the
// Birnbaum–Tingey sum x·Σ_{j<=n(1−x)} C(n,j)·(1−x−j/n)^(n−j)·(x+j/n)^(j−1),
// each term formed in logarithms.
func smirnovSF(n int, x float64) float64 {
	nf := float64(n)
	lgn, _ := math.Lgamma(nf + 1)
	var s float64
	for j := 0; j <= int(math.Floor(nf*(1-x))); j++ {
		jf := float64(j)
		a := 1 - x - jf/nf
		if a <= 0 {
			break
		}
		lj, _ := math.Lgamma(jf + 1)
		lnj, _ := math.Lgamma(nf - jf + 1)
		s += math.Exp(lgn - lj - lnj + (nf-jf)*math.Log(a) + (jf-1)*math.Log(x+jf/nf))
	}
	return math.Min(1, x*s)
}

// durbinCDF returns P(D_n <= x) by Durbin's matrix method as Marsaglia, Tsang
// and Wang (2003) give it: with n·x = k − h (k an integer, 0 <= h < 1), the
// k-th diagonal entry of n!/n^n·H^n for a (2k−1)-square matrix H. Powers are
// taken by squaring, rescaled by powers of two to stay in range.
func durbinCDF(n int, x float64) float64 {
	nd := float64(n) * x
	k := int(math.Ceil(nd))
	h := float64(k) - nd
	m := 2*k - 1
	invFact := make([]float64, m+1) // 1/i!
	invFact[0] = 1
	for i := 1; i <= m; i++ {
		invFact[i] = invFact[i-1] / float64(i)
	}
	// H[i][j] = 1/(i−j+1)! for i−j+1 >= 0, the first column and the last
	// row corrected by the powers of h.
	H := make([]float64, m*m)
	for i := range m {
		for j := 0; j <= min(i+1, m-1); j++ {
			H[i*m+j] = invFact[i-j+1]
		}
	}
	for i := range m {
		c := (1 - math.Pow(h, float64(i+1))) * invFact[i+1]
		H[i*m] = c             // first column
		H[(m-1)*m+(m-1-i)] = c // last row, mirrored
	}
	H[(m-1)*m] = (1 - 2*math.Pow(h, float64(m)) + math.Pow(math.Max(2*h-1, 0), float64(m))) * invFact[m]

	P := make([]float64, m*m) // the power so far, scaled by 2^pe
	for i := range m {
		P[i*m+i] = 1
	}
	pe, he := 0, 0
	tmp := make([]float64, m*m)
	for nn := n; nn > 0; nn /= 2 {
		if nn%2 == 1 {
			matMul(tmp, P, H, m)
			P, tmp = tmp, P
			pe += he + rescale(P, m, k)
		}
		if nn > 1 {
			matMul(tmp, H, H, m)
			H, tmp = tmp, H
			he = 2*he + rescale(H, m, k)
		}
	}
	v := P[(k-1)*m+(k-1)]
	if v <= 0 {
		return 0
	}
	return math.Exp(math.Log(v) + float64(pe)*math.Ln2 + logFactorialOverPower(n))
}

// rescale divides a matrix by a power of two when its k-th diagonal entry
// grows large, and returns the exponent taken out.
func rescale(a []float64, m, k int) int {
	_, e := math.Frexp(a[(k-1)*m+(k-1)])
	if e < 256 {
		return 0
	}
	for i := range a {
		a[i] = math.Ldexp(a[i], -e)
	}
	return e
}

func matMul(dst, a, b []float64, m int) {
	for i := range m {
		for j := range m {
			var s float64
			for l := range m {
				s += a[i*m+l] * b[l*m+j]
			}
			dst[i*m+j] = s
		}
	}
}

// pelzGoodCDF is the Pelz–Good (1976) approximation of P(D_n <= x): the
// Li-Chien/Korolyuk expansion K0 + K1/√n + K2/n + K3/n^1.5 in z = x·√n,
// written with Jacobi theta transforms that converge fast for small z.
func pelzGoodCDF(n, x float64) float64 {
	z := math.Sqrt(n) * x
	z2 := z * z
	z4, z6 := z2*z2, z2*z2*z2
	const pi2 = math.Pi * math.Pi
	pi4, pi6 := pi2*pi2, pi2*pi2*pi2
	qlog := -pi2 / 8 / z2
	if qlog < -708 {
		return 0
	}
	q := math.Exp(qlog)
	k1a, k1b := -z2, pi2/4
	k2a, k2b, k2c := 6*z6+2*z4, (2*z4-5*z2)*pi2/4, pi4*(1-2*z2)/16
	k3a := -30*z6 - 90*z6*z2
	k3b := pi2 * (135*z4 - 96*z6) / 4
	k3c := pi4 * (-60*z2 + 212*z4) / 16
	k3d := pi6 * (5 - 30*z2) / 64
	// Σ over odd m = 2k−1 of c_i(m)·q^(m²), by Horner in q^(8k).
	var K [4]float64
	maxk := int(math.Ceil(16 * z / math.Pi))
	for k := maxk; k >= 1; k-- {
		m := float64(2*k - 1)
		m2 := m * m
		qp := math.Pow(q, 8*float64(k))
		c := [4]float64{1, k1a + k1b*m2, k2a + k2b*m2 + k2c*m2*m2, k3a + k3b*m2 + k3c*m2*m2 + k3d*m2*m2*m2}
		for i := range K {
			K[i] = K[i]*qp + c[i]
		}
	}
	sqrt2pi := math.Sqrt(2 * math.Pi)
	div := [4]float64{z, 6 * z4, 72 * z6 * z, 6480 * z6 * z4}
	for i := range K {
		K[i] *= q * sqrt2pi / div[i]
	}
	// The terms over all integers k of K2 and K3.
	q = math.Exp(-pi2 / 2 / z2)
	var e2, e3 float64
	s3z := math.Sqrt(3) * z
	for k := maxk; k >= 1; k-- {
		kf := float64(k)
		qk := math.Pow(q, kf*kf)
		e2 += kf * kf * qk
		kpi := math.Pi * kf
		e3 += (s3z + kpi) * (s3z - kpi) * kf * kf * qk
	}
	K[2] += e2 * pi2 * sqrt2pi / (-36 * z2 * z)
	K[3] += e3 * pi2 * sqrt2pi / (216 * z6)
	return K[0] + K[1]/math.Sqrt(n) + K[2]/n + K[3]/(n*math.Sqrt(n))
}
