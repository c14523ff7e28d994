package gbdt

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestBinMatchesDefinition: every value's bin is the number of edges <= it
// (numeric), its code's index (categorical), nbins when missing; on values
// with heavy ties, negatives, infinities and NaNs, through buildBins.
func TestBinMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 50000
	// ints: integer edges (a lookup table), its fractional values not.
	d := &Dataset{Names: []string{"cont", "ints", "cat", "few"}, Label: make([]float32, n), Categorical: []bool{false, false, true, false}}
	cols := make([][]float32, 4)
	for f := range cols {
		cols[f] = make([]float32, n)
	}
	for i := 0; i < n; i++ {
		cols[0][i] = float32(rng.NormFloat64() * 10)
		cols[1][i] = float32(rng.IntN(400) - 50)
		if i%3 == 0 {
			// Fractions just around integers between integer edges.
			cols[1][i] = math.Nextafter32(cols[1][i], float32(rng.IntN(2)*1000-500))
		}
		cols[2][i] = float32(rng.IntN(300))
		cols[3][i] = float32(rng.IntN(7))
		switch rng.IntN(50) {
		case 0:
			cols[0][i], cols[1][i], cols[3][i] = float32(math.NaN()), float32(math.NaN()), float32(math.NaN())
		case 1:
			cols[0][i] = float32(math.Inf(1 - 2*rng.IntN(2)))
		}
	}
	d.Cols = cols
	for _, maxBin := range []int{256, 16, 1000} {
		bs, m, err := buildBins(d, maxBin, 2)
		if err != nil {
			t.Fatal(err)
		}
		for f, col := range cols {
			b := &bs[f]
			for i, v := range col {
				want := b.nbins
				switch {
				case v != v:
				case b.cat:
					want, _ = slices.BinarySearch(b.cats, int32(v))
				default:
					want = 0
					for _, e := range b.edges {
						if e <= v {
							want++
						}
					}
				}
				got := 0
				if m.u8 != nil {
					got = int(m.u8[f][i])
				} else {
					got = int(m.u16[f][i])
				}
				if got != want {
					t.Fatalf("max_bin %d, feature %d row %d (%v): bin %d, want %d", maxBin, f, i, v, got, want)
				}
			}
		}
	}
}

// TestBinColumnIntTable: integer edges are looked up in a table; values
// between, just below and just above them, out of range, huge and missing
// get the bin the definition gives.
func TestBinColumnIntTable(t *testing.T) {
	for _, edges := range [][]float32{{1, 2, 3, 7, 265}, {-40, -3, 0, 5}, {-1 << 24, 1 << 24}, {12}} {
		b := binner{edges: edges, nbins: len(edges) + 1}
		tab, lo, ok := intTable(edges)
		if !ok && edges[0] != -1<<24 {
			t.Fatalf("edges %v: no table", edges)
		}
		b.tab, b.tabLo = tab, lo
		var col []float32
		for _, e := range edges {
			col = append(col, e, math.Nextafter32(e, -1e30), math.Nextafter32(e, 1e30), e+0.5, e-0.5)
		}
		col = append(col, float32(math.NaN()), -1e30, 1e30, float32(math.Inf(-1)), float32(math.Inf(1)), 0, -0.25)
		out := make([]uint16, len(col))
		binColumn(&b, col, out)
		for i, v := range col {
			want := b.nbins
			if v == v {
				want = 0
				for _, e := range edges {
					if e <= v {
						want++
					}
				}
			}
			if int(out[i]) != want {
				t.Errorf("edges %v, value %v: bin %d, want %d", edges, v, out[i], want)
			}
		}
	}
}
