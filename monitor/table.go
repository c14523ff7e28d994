package monitor

import "math"

// floatTable counts float64 values by their bits in an open-addressed hash
// table (linear probing, Fibonacci hashing). It replaces a Go map on the
// counting hot path, where hashing floats through the map was two thirds of
// a whole-month report. Keys are never NaN (missing values are counted
// apart), so a NaN pattern marks empty slots; ±0 never reach it (Accumulator
// counts them in its dense array).
type floatTable struct {
	keys   []uint64
	counts []int64
	shift  uint // 64 − log2(len(keys))
	n      int
}

const emptyKey = 0x7ff8_0000_0000_0001 // a NaN: never a key

func (t *floatTable) add(v float64, c int64) {
	if t.n*2 >= len(t.keys) {
		t.grow()
	}
	k := math.Float64bits(v)
	mask := uint64(len(t.keys) - 1)
	for i := (k * 0x9e3779b97f4a7c15) >> t.shift; ; i = (i + 1) & mask {
		switch t.keys[i] {
		case k:
			t.counts[i] += c
			return
		case emptyKey:
			t.keys[i], t.counts[i] = k, c
			t.n++
			return
		}
	}
}

func (t *floatTable) grow() {
	old, oldCounts := t.keys, t.counts
	size := max(64, 2*len(old))
	t.keys, t.counts = make([]uint64, size), make([]int64, size)
	for i := range t.keys {
		t.keys[i] = emptyKey
	}
	t.shift = uint(64 - math.Ilogb(float64(size)))
	t.n = 0
	for i, k := range old {
		if k != emptyKey {
			t.add(math.Float64frombits(k), oldCounts[i])
		}
	}
}

// each calls f with every value and its count, in no order.
func (t *floatTable) each(f func(v float64, c int64)) {
	for i, k := range t.keys {
		if k != emptyKey {
			f(math.Float64frombits(k), t.counts[i])
		}
	}
}
