package gbdt

// rootHist sums the root histogram when every row is in the sample
// (subsample = 1), which is then the same set of rows every round: the rows
// of each bin are listed once, before the first round (a counting sort per
// feature), and each round a bin's sums are a pass over its list, gathering
// the gradients. The histogram's row counts never change. Compared with
// summing row by row into the histogram, no two rows' adds wait for each
// other through memory (rows in pickup order repeat the same hour, weekday
// and popular zones), and the work splits into tasks that each own their
// bins, so nothing is merged afterwards. A bin's sum is always taken in the
// same order (rows ascending, four interleaved partial sums), whatever the
// number of threads.
type rootHist struct {
	order  [][]int32  // per feature: row ids, grouped by bin, ascending within a bin
	start  [][]int32  // per feature: start of bin b's rows in order; nbins+2 entries (the missing bin last)
	chunks []binChunk // tasks: ranges of bins of one feature
	grad   []float32  // this round's gradients by row
}

// binChunk is one task of rootHist: bins [b0, b1) of feature f.
type binChunk struct{ f, b0, b1 int }

// rootChunkRows is about how many rows one rootHist task sums.
const rootChunkRows = 8192

func newRootHist(bs []binner, bm binMatrix, n int) *rootHist {
	rh := &rootHist{grad: make([]float32, n)}
	for f, b := range bs {
		codes := b.nbins + 1
		code := func(r int) int { return int(bm.u16[f][r]) }
		if bm.u8 != nil {
			code = func(r int) int { return int(bm.u8[f][r]) }
		}
		start := make([]int32, codes+1)
		for r := 0; r < n; r++ {
			start[code(r)+1]++
		}
		for c := 0; c < codes; c++ {
			start[c+1] += start[c]
		}
		order := make([]int32, n)
		next := append([]int32(nil), start[:codes]...)
		for r := 0; r < n; r++ {
			c := code(r)
			order[next[c]] = int32(r)
			next[c]++
		}
		rh.order = append(rh.order, order)
		rh.start = append(rh.start, start)
		for b0 := 0; b0 < codes; {
			b1 := b0 + 1
			for b1 < codes && start[b1+1]-start[b0] <= rootChunkRows {
				b1++
			}
			rh.chunks = append(rh.chunks, binChunk{f, b0, b1})
			b0 = b1
		}
	}
	return rh
}

// sum fills bins [c.b0, c.b1) of feature c.f's histogram h (the feature's
// part of a node histogram).
func (rh *rootHist) sum(c binChunk, h []binStat) {
	order, start, g := rh.order[c.f], rh.start[c.f], rh.grad
	for b := c.b0; b < c.b1; b++ {
		rows := order[start[b]:start[b+1]]
		var s0, s1, s2, s3 float64
		k := 0
		for ; k+4 <= len(rows); k += 4 {
			s0 += float64(g[rows[k]])
			s1 += float64(g[rows[k+1]])
			s2 += float64(g[rows[k+2]])
			s3 += float64(g[rows[k+3]])
		}
		for ; k < len(rows); k++ {
			s0 += float64(g[rows[k]])
		}
		h[b] = binStat{(s0 + s1) + (s2 + s3), float64(len(rows))}
	}
}
