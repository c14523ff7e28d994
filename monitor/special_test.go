package monitor

import (
	"math"
	"testing"
)

func relDiff(a, b float64) float64 {
	return math.Abs(a-b) / math.Max(math.Abs(b), 1e-300)
}

// The lattice-path walk for unequal samples, run on equal ones, agrees with
// the closed form scipy uses for n1 == n2.
func TestKSOutside_EqualSizes(t *testing.T) {
	for _, c := range []struct{ n, h int64 }{{10, 3}, {50, 7}, {200, 15}, {800, 150}, {800, 40}} {
		got, want := ksOutside(c.n, c.n, c.n, c.h), ksOutsideSquare(c.n, c.h)
		if relDiff(got, want) > 1e-11 {
			t.Errorf("n %d h %d: got %.17g, want %.17g", c.n, c.h, got, want)
		}
	}
}

// Exhaustive check on small samples: every split of m+n positions, D
// computed directly.
func TestKSOutside_Enumerated(t *testing.T) {
	const m, n = 5, 3
	g := gcd(m, n)
	for h := int64(1); h <= m*n/g; h++ {
		var out, all int
		for mask := 0; mask < 1<<(m+n); mask++ {
			if popcount(mask) != m {
				continue
			}
			all++
			var x, y int64
			for i := range m + n {
				if mask>>i&1 == 1 {
					x++
				} else {
					y++
				}
				if t := x*(n/g) - y*(m/g); t >= h || -t >= h {
					out++
					break
				}
			}
		}
		if got, want := ksOutside(m, n, g, h), float64(out)/float64(all); math.Abs(got-want) > 1e-14 {
			t.Errorf("h %d: got %v, want %v", h, got, want)
		}
	}
}

func popcount(x int) int {
	var c int
	for ; x > 0; x &= x - 1 {
		c++
	}
	return c
}

// For x >= 0.5 the two-sided tail is exactly twice the one-sided one, which
// checks the Durbin matrix against the Smirnov sum; Pelz–Good approximates
// the Durbin matrix closely for large n.
func TestKolmogorov_Identities(t *testing.T) {
	for _, c := range []struct {
		n int
		x float64
	}{{4, 0.5}, {6, 0.55}, {10, 0.5}, {20, 0.5}, {30, 0.5}} {
		// Compared as CDFs: 1 − CDF cannot resolve tails below ~1e-13.
		got, want := durbinCDF(c.n, c.x), 1-2*smirnovSF(c.n, c.x)
		if math.Abs(got-want) > 1e-13 {
			t.Errorf("n %d x %v: Durbin %.17g, Smirnov %.17g", c.n, c.x, got, want)
		}
	}
	for _, x := range []float64{0.02, 0.03, 0.04, 0.05} {
		got, want := pelzGoodCDF(1000, x), durbinCDF(1000, x)
		if math.Abs(got-want) > 1e-6 {
			t.Errorf("n 1000 x %v: Pelz–Good %.17g, Durbin %.17g", x, got, want)
		}
	}
}

func TestGammaQ(t *testing.T) {
	for _, x := range []float64{0.01, 0.5, 1, 3, 10, 40, 200} {
		if got, want := gammaQ(1, x), math.Exp(-x); relDiff(got, want) > 1e-12 {
			t.Errorf("Q(1, %v): got %v, want %v", x, got, want)
		}
		if got, want := gammaQ(0.5, x), math.Erfc(math.Sqrt(x)); relDiff(got, want) > 1e-12 {
			t.Errorf("Q(0.5, %v): got %v, want %v", x, got, want)
		}
		// Q(2, x) = (1+x)·e^-x
		if got, want := gammaQ(2, x), (1+x)*math.Exp(-x); relDiff(got, want) > 1e-12 {
			t.Errorf("Q(2, %v): got %v, want %v", x, got, want)
		}
	}
}

// Sturges edges and histogram counts follow numpy: ceil(log2(n)+1) bins, the
// last one closed.
func TestSturges(t *testing.T) {
	ref := CountValues([]float64{0, 1, 2, 3, 4, 5, 6, 7}, 0)
	cur := CountValues([]float64{8, 8}, 0)
	edges := sturgesEdges(&ref, &cur)
	// n = 10: ceil(log2(10)+1) = 5 bins over [0, 8].
	want := []float64{0, 1.6, 3.2, 4.800000000000001, 6.4, 8}
	if len(edges) != len(want) {
		t.Fatalf("got edges %v, want %v", edges, want)
	}
	for i := range want {
		if edges[i] != want[i] {
			t.Errorf("edge %d: got %.17g, want %.17g", i, edges[i], want[i])
		}
	}
	h := histogram(&cur, edges)
	if h[4] != 2 {
		t.Errorf("got %v, want the maximum in the last (closed) bin", h)
	}
	h = histogram(&ref, edges)
	if h[0] != 2 || h[1] != 2 || h[2] != 1 || h[3] != 2 || h[4] != 1 {
		t.Errorf("got %v, want [2 2 1 2 1]", h)
	}
}
