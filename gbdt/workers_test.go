package gbdt

import (
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"
)

// TestWorkersRunEachTaskOnce runs loops of every size on teams of one to
// four, with pauses long enough for the members to park between loops, and
// checks that each task ran exactly once and that run returned only after
// all of them.
func TestWorkersRunEachTaskOnce(t *testing.T) {
	for _, nthread := range []int{1, 2, 4} {
		w := newWorkers(nthread)
		for _, n := range []int{0, 1, 2, 3, 17, 1000} {
			for rep := 0; rep < 3; rep++ {
				if rep == 2 {
					time.Sleep(5 * time.Millisecond) // members park
				}
				counts := make([]atomic.Int32, n)
				w.run(n, func(i int) {
					if i%7 == 0 {
						time.Sleep(time.Microsecond)
					}
					counts[i].Add(1)
				})
				for i := range counts {
					if c := counts[i].Load(); c != 1 {
						t.Fatalf("nthread %d, n %d: task %d ran %d times, want 1", nthread, n, i, c)
					}
				}
			}
		}
		w.close()
	}
}

// TestRootHistMatchesKernel: the presorted root histogram equals the one
// summed row by row, bin for bin (hessians exactly; gradients up to
// float64 rounding of a different summation order).
func TestRootHistMatchesKernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	n := 50000
	for _, nb := range []int{7, 256, 300} {
		b := binner{nbins: nb}
		var bm binMatrix
		codes := make([]int, n)
		for i := range codes {
			codes[i] = rng.IntN(nb + 1) // nb = missing
			if i > 0 && rng.IntN(3) == 0 {
				codes[i] = codes[i-1] // runs, as in pickup order
			}
		}
		if nb+1 <= 256 {
			c := make([]uint8, n)
			for i, x := range codes {
				c[i] = uint8(x)
			}
			bm.u8 = [][]uint8{c}
		} else {
			c := make([]uint16, n)
			for i, x := range codes {
				c[i] = uint16(x)
			}
			bm.u16 = [][]uint16{c}
		}
		rh := newRootHist([]binner{b}, bm, n)
		rg := make([]uint64, n)
		for i := range rg {
			g := rng.Float32()*40 - 20
			rh.grad[i] = g
			rg[i] = uint64(i)<<32 | uint64(math.Float32bits(g))
		}
		want := make([]binStat, nb+1)
		if bm.u8 != nil {
			histKernel(bm.u8[0], rg, want)
		} else {
			histKernel(bm.u16[0], rg, want)
		}
		got := make([]binStat, nb+1)
		for _, c := range rh.chunks {
			rh.sum(c, got)
		}
		for i := range want {
			if got[i].h != want[i].h || !closeRel(got[i].g, want[i].g, 1e-9) {
				t.Fatalf("%d bins: bin %d: got %+v, want %+v", nb, i, got[i], want[i])
			}
		}
	}
}

func closeRel(a, b, tol float64) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	m := max(abs(a), abs(b), 1)
	return d <= tol*m
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
