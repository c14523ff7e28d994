package gbdt

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"sync"

	"tripcast"
)

// Progress reports one finished boosting round.
type Progress struct {
	Round     int     // iteration just finished, 0-based (XGBoost's numbering)
	TrainRMSE float64 // on the whole training set
	ValidRMSE float64 // NaN without a validation set
	Best      int     // iteration with the lowest ValidRMSE so far; -1 without a validation set
	BestRMSE  float64 // ValidRMSE at Best
}

// kRtEps is XGBoost's smallest loss change that counts as a split.
const kRtEps = 1e-6

// histBlock is the number of rows one histogram task sums. It is fixed (not
// derived from the thread count) so that the floating-point summation order,
// and so the model, is the same for any NThread.
const histBlock = 16384

// sampleBlock is the number of rows sampled by one task, each block with
// its own generator; fixed for the same reason as histBlock.
const sampleBlock = 4096

// Train fits a model to train (squared error) and, when valid is not nil,
// reports its RMSE after every round and stops early after
// p.EarlyStoppingRounds rounds without improvement, keeping the trees up to
// the best round. progress (may be nil) is called after every round from the
// calling goroutine. The result depends only on the data and p (including
// p.Seed), not on p.NThread.
func Train(ctx context.Context, train, valid *Dataset, p Params, progress func(Progress)) (*Model, error) {
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if err := train.validate("train"); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if valid != nil {
		if err := valid.validate("valid"); err != nil {
			return nil, fmt.Errorf("train: %w", err)
		}
		if !slices.Equal(valid.Names, train.Names) {
			return nil, fmt.Errorf("train: %w", tripcast.FieldError("valid", "columns %v differ from the training columns %v", valid.Names, train.Names))
		}
	}
	nthread := p.NThread
	if nthread <= 0 {
		nthread = runtime.GOMAXPROCS(0)
	}
	t, err := newTrainer(train, p, nthread)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	// More spinning members than cores would only take turns.
	t.w = newWorkers(min(nthread, runtime.GOMAXPROCS(0)))
	defer t.w.close()
	m := &Model{
		Attributes: map[string]string{},
		names:      slices.Clone(train.Names),
		cat:        make([]bool, len(train.Cols)),
	}
	for f := range m.cat {
		m.cat[f] = train.isCat(f)
	}
	n := train.Rows()
	var sum float64
	for _, y := range train.Label {
		sum += float64(y)
	}
	m.BaseScore = float32(sum / float64(n))
	pred := make([]float32, n)
	for i := range pred {
		pred[i] = m.BaseScore
	}
	var vpred []float32
	if valid != nil {
		vpred = make([]float32, valid.Rows())
		for i := range vpred {
			vpred[i] = m.BaseScore
		}
	}
	rng := rand.New(rand.NewPCG(uint64(p.Seed), 0x7472697063617374))
	best, bestRMSE := -1, math.Inf(1)
	// Rows are walked through each new tree when there is a validation
	// set or rows left out of the sample: the tree is compiled at once;
	// otherwise the model is compiled once, at the end.
	walk := valid != nil || p.Subsample < 1
	for round := 0; round < p.NumBoostRound; round++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("train: round %d: %w", round, err)
		}
		tr := t.boost(rng, pred)
		m.trees = append(m.trees, tr)
		ti := len(m.trees) - 1
		if walk {
			m.compileTree(ti)
		}
		// Sampled rows got their leaf value inside boost; rows left out
		// (subsample < 1) walk the tree.
		out := t.outRows
		t.w.run((len(out)+batchBlock-1)/batchBlock, func(b int) {
			for _, r := range out[b*batchBlock : min((b+1)*batchBlock, len(out))] {
				pred[r] += m.treeValueCols(ti, train.Cols, int(r))
			}
		})
		// The training RMSE is only for progress reports.
		pr := Progress{Round: round, TrainRMSE: math.NaN(), ValidRMSE: math.NaN(), Best: -1, BestRMSE: math.NaN()}
		if progress != nil {
			pr.TrainRMSE = rmse(pred, train.Label)
		}
		if valid != nil {
			nv := len(vpred)
			t.w.run((nv+batchBlock-1)/batchBlock, func(b int) {
				for i := b * batchBlock; i < min((b+1)*batchBlock, nv); i++ {
					vpred[i] += m.treeValueCols(ti, valid.Cols, i)
				}
			})
			pr.ValidRMSE = rmse(vpred, valid.Label)
			if pr.ValidRMSE < bestRMSE {
				best, bestRMSE = round, pr.ValidRMSE
			}
			pr.Best, pr.BestRMSE = best, bestRMSE
		}
		if progress != nil {
			progress(pr)
		}
		if valid != nil && p.EarlyStoppingRounds > 0 && round-best >= p.EarlyStoppingRounds {
			break
		}
	}
	if valid != nil && p.EarlyStoppingRounds > 0 && best+1 < len(m.trees) {
		m.trees = m.trees[:best+1]
		m.compile()
	} else if !walk {
		m.compile()
	}
	return m, nil
}

func rmse(pred, y []float32) float64 {
	var s float64
	for i, p := range pred {
		d := float64(p) - float64(y[i])
		s += d * d
	}
	return math.Sqrt(s / float64(len(pred)))
}

// binStat is one histogram bin: sums of gradients and hessians. float64
// so that sums over tens of thousands of rows, and the parent - sibling
// subtraction, lose nothing that matters.
type binStat struct{ g, h float64 }

// trainer holds the binned matrix and the buffers reused by every round.
type trainer struct {
	p        Params
	nthread  int
	w        *workers
	d        *Dataset
	bs       []binner
	bm       binMatrix
	histOff  []int // offset of feature f's bins in a node histogram
	histLen  int
	feats    []int  // features of the current tree (colsample_bytree), ascending
	featUsed []bool // by feature: in feats

	// rg holds the sampled rows, partitioned so that every node owns a
	// contiguous range, ascending within it (stable partition), so the
	// histogram loops walk the bin columns forward. Each entry packs the row
	// id (high 32 bits) with the bits of its float32 gradient (low 32): the
	// gradient travels with its row, so the histogram loop reads it
	// sequentially instead of gathering, and partitioning moves one array.
	rg      []uint64
	tmp     []uint64
	outRows []int32 // rows left out of this round's sample

	root    *rootHist   // when every row is sampled
	keepSub bool        // store the histograms got by subtraction (bestSplit)
	pool    [][]binStat // free node histograms
	pending [][]binStat // histograms to free after the next split search
	scratch []binStat   // partial histograms of extra row blocks

	// Buffers reused by every level of every tree (fewer allocations,
	// fewer garbage collections stopping the workers).
	cands    []cand
	best     []cand
	tasks    []histTask
	leftTab  []bool // per split node: maxCodes entries, bin -> goes left
	slab     []tnode
	rngs     []int32 // the nodes' bin ranges
	seeds    []uint64
	cnt      []int
	gsum     []float64
	outTmp   []int32
	open     []*tnode
	split    []*tnode
	nl       []int32
	next     []*tnode // children of the level being split
	nextAlt  []*tnode // the previous level's children
	build    []*tnode
	subs     []sub
	parts    []partTask
	multi    []int32 // split nodes cut into several blocks
	maxCodes int     // largest nbins+1 over features
	growth   growth  // the tree being grown (boost)
}

// histTask is one unit of histogram work: feature f of rows [lo, hi) of a
// node, summed into dst.
type histTask struct {
	nd     *tnode
	f      int
	lo, hi int32
	dst    []binStat
}

func (t *trainer) growLeft(nsplit int) {
	if n := nsplit * t.maxCodes; len(t.leftTab) < n {
		t.leftTab = make([]bool, n)
	}
}

func newTrainer(d *Dataset, p Params, nthread int) (*trainer, error) {
	t := &trainer{p: p, nthread: nthread, d: d}
	var err error
	if t.bs, t.bm, err = buildBins(d, p.MaxBin, nthread); err != nil {
		return nil, err
	}
	t.histOff = make([]int, len(t.bs)+1)
	for f, b := range t.bs {
		t.histOff[f+1] = t.histOff[f] + b.nbins + 1
	}
	t.histLen = t.histOff[len(t.bs)]
	for _, b := range t.bs {
		t.maxCodes = max(t.maxCodes, b.nbins+1)
	}
	n := d.Rows()
	t.rg = make([]uint64, 0, n)
	t.tmp = make([]uint64, n)
	if p.Subsample >= 1 {
		t.root = newRootHist(t.bs, t.bm, n)
	}
	return t, nil
}

func (t *trainer) getHist() []binStat {
	if k := len(t.pool); k > 0 {
		h := t.pool[k-1]
		t.pool = t.pool[:k-1]
		return h
	}
	return make([]binStat, t.histLen)
}

func (t *trainer) putHist(h []binStat) {
	if h != nil {
		t.pool = append(t.pool, h)
	}
}

// sub is a pair of children whose histograms come from their parent's:
// small is summed, large is parent - small.
type sub struct{ parent, small, large *tnode }

// tnode is a node being grown.
type tnode struct {
	id     int32
	lo, hi int32 // range in trainer.rows
	g, h   float64
	hist   []binStat
	// subP and subS, when not nil, are the parent's and the sibling's
	// histograms: hist is to be filled as subP - subS.
	subP, subS []binStat
	// rng[2f], rng[2f+1]: the lowest and highest (non-missing) bin of
	// feature f that the node's rows can have, by its ancestors' numeric
	// splits; the empty range when hi < lo. Histogram bins outside are
	// zero by construction: the split search reads, and a histogram got by
	// subtraction fills, only the range (deep nodes span few distance
	// bins, for instance).
	rng []int32
}

// cand is the best split of one node on one feature.
type cand struct {
	gain    float64
	feat    int
	bin     int    // numeric: bins <= bin go left
	defLeft bool   // missing values go left
	right   []bool // categorical: per bin, true = goes right; nil for numeric
	gl, hl  float64
	gr, hr  float64
}

// boost grows one tree on the gradients of pred and adds its leaf values to
// the predictions of the sampled rows; rows out of the sample are left in
// t.outRows. A tree grows level by level, in phases: sample rows (and their
// gradients) and features, then per level choose the splits, partition the
// rows and make the children (their histograms), until the last level,
// whose leaves are applied to the predictions directly.
func (t *trainer) boost(rng *rand.Rand, pred []float32) tree {
	g, ns := t.sampleRows(rng, pred)
	t.sampleFeatures(rng)
	b := t.newGrowth()
	level := []*tnode{t.growRoot(b, g, ns)}
	for depth := 0; depth < t.p.MaxDepth && len(level) > 0; depth++ {
		split, best := t.chooseSplits(b, level, pred, depth)
		if depth+1 >= t.p.MaxDepth {
			t.applyLastLevel(b, split, best, pred)
			level = nil
			break
		}
		nl := t.partitionRows(split, best)
		level = t.children(b, split, best, nl)
	}
	for _, nd := range level {
		t.putHist(nd.hist)
		nd.hist = nil
		t.leaf(&b.tr, nd, pred)
	}
	return b.tr
}

// sampleRows draws the round's rows into t.rg (with their gradients) and
// the others into t.outRows; it returns the sum of the sampled gradients and
// the number of sampled rows.
func (t *trainer) sampleRows(rng *rand.Rand, pred []float32) (g float64, ns int) {
	p := &t.p
	d := t.d
	n := d.Rows()
	// Row sample (Bernoulli, one draw per row, like XGBoost) and the
	// gradients of squared error, g = pred - y; the hessian is 1 per row, so
	// histograms count rows instead of loading hessians.
	//
	// Blocks of sampleBlock rows are drawn in parallel, each from its own
	// generator seeded from rng in block order, so the sample does not
	// depend on the number of threads. Each block compacts its rows at the
	// front of its own range of tmp (and outTmp) and sums its gradients;
	// the blocks are then concatenated, and their sums added, in order.
	// Without sampling the rows go straight to rg.
	nb := (n + sampleBlock - 1) / sampleBlock
	seeds := slices.Grow(t.seeds[:0], nb)[:nb]
	t.seeds = seeds
	for b := range seeds {
		seeds[b] = rng.Uint64()
	}
	cnt := slices.Grow(t.cnt[:0], 3*nb)[:3*nb]
	t.cnt = cnt
	gsum := slices.Grow(t.gsum[:0], nb)[:nb]
	t.gsum = gsum
	if len(t.outTmp) < n {
		t.outTmp = make([]int32, n)
	}
	all := p.Subsample >= 1
	tmp, outTmp := t.tmp[:n], t.outTmp[:n]
	if all {
		tmp = t.rg[:n]
	}
	thr := uint64(p.Subsample * (1 << 63))
	t.w.run(nb, func(b int) {
		lo, hi := b*sampleBlock, min((b+1)*sampleBlock, n)
		in, out := lo, lo
		var gs float64
		if all {
			// Four partial sums: one would make every row wait for the
			// previous row's add.
			grad := t.root.grad[lo:hi]
			pr, y, out := pred[lo:hi], d.Label[lo:hi], tmp[lo:hi]
			out = out[:len(grad)]
			pr, y = pr[:len(grad)], y[:len(grad)]
			var s0, s1, s2, s3 float64
			k := 0
			for ; k+4 <= len(grad); k += 4 {
				g0, g1, g2, g3 := pr[k]-y[k], pr[k+1]-y[k+1], pr[k+2]-y[k+2], pr[k+3]-y[k+3]
				s0 += float64(g0)
				s1 += float64(g1)
				s2 += float64(g2)
				s3 += float64(g3)
				grad[k], grad[k+1], grad[k+2], grad[k+3] = g0, g1, g2, g3
				r := uint64(lo+k) << 32
				out[k] = r | uint64(math.Float32bits(g0))
				out[k+1] = (r + 1<<32) | uint64(math.Float32bits(g1))
				out[k+2] = (r + 2<<32) | uint64(math.Float32bits(g2))
				out[k+3] = (r + 3<<32) | uint64(math.Float32bits(g3))
			}
			for ; k < len(grad); k++ {
				g := pr[k] - y[k]
				s0 += float64(g)
				grad[k] = g
				out[k] = uint64(lo+k)<<32 | uint64(math.Float32bits(g))
			}
			gs = (s0 + s1) + (s2 + s3)
			in = hi
		} else {
			r := rand.New(rand.NewPCG(seeds[b], uint64(b)))
			for i := lo; i < hi; i++ {
				if r.Uint64()>>1 < thr {
					g := pred[i] - d.Label[i]
					gs += float64(g)
					tmp[in] = uint64(i)<<32 | uint64(math.Float32bits(g))
					in++
				} else {
					outTmp[out] = int32(i)
					out++
				}
			}
		}
		cnt[3*b], cnt[3*b+1] = in-lo, out-lo
		gsum[b] = gs
	})
	no := 0
	for b := 0; b < nb; b++ {
		g += gsum[b]
		cnt[3*b+2] = ns // where block b's rows go in rg
		ns += cnt[3*b]
		no += cnt[3*b+1]
	}
	t.rg = t.rg[:ns]
	t.outRows = slices.Grow(t.outRows[:0], no)[:no]
	if !all {
		t.w.run(nb, func(b int) {
			lo := b * sampleBlock
			copy(t.rg[cnt[3*b+2]:], tmp[lo:lo+cnt[3*b]])
		})
		no = 0
		for b := 0; b < nb; b++ {
			lo := b * sampleBlock
			no += copy(t.outRows[no:], outTmp[lo:lo+cnt[3*b+1]])
		}
	}
	return g, ns
}

// sampleFeatures draws the tree's features (colsample_bytree) into t.feats
// and t.featUsed.
func (t *trainer) sampleFeatures(rng *rand.Rand) {
	nf := len(t.d.Cols)
	k := max(1, int(math.Round(t.p.ColsampleByTree*float64(nf))))
	t.feats = t.feats[:0]
	if k >= nf {
		for f := 0; f < nf; f++ {
			t.feats = append(t.feats, f)
		}
	} else {
		perm := rng.Perm(nf)
		t.feats = append(t.feats, perm[:k]...)
		sort.Ints(t.feats)
	}

	t.featUsed = slices.Grow(t.featUsed[:0], nf)[:nf]
	clear(t.featUsed)
	for _, f := range t.feats {
		t.featUsed[f] = true
	}
}

// growth is the tree being grown and the nodes' storage.
type growth struct {
	tr   tree
	slab []tnode // the nodes, from a slab reused by every tree
	rngs []int32 // the nodes' bin ranges (see tnode.rng), carved per node
	nr   int     // bin-range entries per node
}

// newGrowth starts a tree in t.growth (no allocation per tree but the
// tree's own arrays). Nodes come from a slab reused by every tree (a tree
// has at most 2·rows+1 nodes and 2^(depth+1)-1); each node's bin ranges
// from one array per tree.
func (t *trainer) newGrowth() *growth {
	p := &t.p
	b := &t.growth
	*b = growth{}
	b.tr.alloc(min(1<<(p.MaxDepth+1)-1, 2*len(t.rg)+1))
	maxNodes := min(1<<(p.MaxDepth+1)-1, 2*len(t.rg)+1)
	if cap(t.slab) < maxNodes {
		t.slab = make([]tnode, 0, maxNodes)
	}
	b.slab = t.slab[:0]
	b.nr = 2 * len(t.d.Cols)
	t.rngs = slices.Grow(t.rngs[:0], maxNodes*b.nr)[:maxNodes*b.nr]
	b.rngs = t.rngs
	return b
}

func (b *growth) newNode(nd tnode) *tnode {
	b.slab = append(b.slab, nd)
	return &b.slab[len(b.slab)-1]
}

func (b *growth) newRange(from []int32) []int32 {
	r := b.rngs[:b.nr:b.nr]
	b.rngs = b.rngs[b.nr:]
	copy(r, from)
	return r
}

// growRoot makes the root of ns rows summing gradient g, with its histogram
// when it may split.
func (t *trainer) growRoot(b *growth, g float64, ns int) *tnode {
	p := &t.p
	root := b.newNode(tnode{id: 0, lo: 0, hi: int32(ns), g: g, h: float64(ns)})
	root.rng = b.newRange(nil)
	for f, bn := range t.bs {
		root.rng[2*f], root.rng[2*f+1] = 0, int32(bn.nbins-1)
	}
	b.tr.addNode(-1, t.weight(g, float64(ns)), float64(ns))
	if t.splittable(root) && p.MaxDepth > 0 {
		root.hist = t.getHist()
		if t.root != nil {
			rh := t.root
			used := t.featUsed
			t.w.run(len(rh.chunks), func(i int) {
				c := rh.chunks[i]
				if used[c.f] {
					rh.sum(c, root.hist[t.histOff[c.f]:t.histOff[c.f+1]])
				}
			})
		} else {
			t.buildHists([]*tnode{root})
		}
	}
	return root
}

// chooseSplits finds the best split of every node of level on every
// feature, in parallel (each task writes its own slot, so the choice is
// order-free); nodes without a good enough split become leaves. It returns
// the nodes to split and their splits.
func (t *trainer) chooseSplits(b *growth, level []*tnode, pred []float32, depth int) (split []*tnode, best []cand) {
	p := &t.p
	tr := &b.tr
	open := t.open[:0]
	for _, nd := range level {
		if nd.hist != nil {
			open = append(open, nd)
		} else {
			t.leaf(tr, nd, pred)
		}
	}
	nfe := len(t.feats)
	// On the last level the children are leaves: a histogram got by
	// subtraction is only scanned, never a parent.
	t.keepSub = depth+1 < p.MaxDepth
	t.cands = slices.Grow(t.cands[:0], len(open)*nfe)[:len(open)*nfe]
	cands := t.cands
	t.w.run(len(cands), func(i int) {
		cands[i] = t.bestSplit(open[i/nfe], t.feats[i%nfe])
	})
	for _, nd := range open {
		nd.subP, nd.subS = nil, nil
	}
	for _, h := range t.pending {
		t.putHist(h)
	}
	t.pending = t.pending[:0]
	t.open = open
	split = t.split[:0]
	best = t.best[:0]
	for i, nd := range open {
		b := cand{gain: math.Inf(-1)}
		for _, c := range cands[i*nfe : (i+1)*nfe] {
			if c.gain > b.gain {
				b = c
			}
		}
		if b.gain > kRtEps && b.gain >= p.Gamma {
			split = append(split, nd)
			best = append(best, b)
		} else {
			t.putHist(nd.hist)
			nd.hist = nil
			t.leaf(tr, nd, pred)
		}
	}
	t.best = best
	t.split = split
	t.growLeft(len(split))
	return split, best
}

// applyLastLevel splits the nodes of the last level: their children are
// leaves, so their values are added to the rows' predictions directly, in
// one pass, instead of partitioning the rows and then walking each leaf's
// range.
func (t *trainer) applyLastLevel(b *growth, split []*tnode, best []cand, pred []float32) {
	tr := &b.tr
	vals := make([]float32, 2*len(split))
	for i, nd := range split {
		c := &best[i]
		l := tr.addNode(nd.id, t.weight(c.gl, c.hl), c.hl)
		r := tr.addNode(nd.id, t.weight(c.gr, c.hr), c.hr)
		tr.setSplit(nd.id, l, r, c, &t.bs[c.feat])
		vals[2*i] = t.leaf(tr, &tnode{id: l, g: c.gl, h: c.hl}, nil)
		vals[2*i+1] = t.leaf(tr, &tnode{id: r, g: c.gr, h: c.hr}, nil)
	}
	t.w.run(len(split), func(i int) {
		t.applyLeaves(split[i], &best[i], t.leftTab[i*t.maxCodes:(i+1)*t.maxCodes], vals[2*i], vals[2*i+1], pred)
	})
	for _, nd := range split {
		t.putHist(nd.hist)
		nd.hist = nil
	}
}

// partitionRows partitions the rows of every split node (disjoint ranges),
// stably: left rows first, then right. A large node is cut into blocks so
// that it keeps every core busy: each block moves its left rows to its
// front in place and its right rows to tmp, then the node gathers its
// blocks' pieces in order (a stable partition has one result, so the blocks
// do not change it). It returns each node's count of left rows.
func (t *trainer) partitionRows(split []*tnode, best []cand) []int32 {
	nl := slices.Grow(t.nl[:0], len(split))[:len(split)]
	t.nl = nl
	parts := t.parts[:0]
	total := int32(0)
	for _, nd := range split {
		total += nd.hi - nd.lo
	}
	block := max(partBlock, total/int32(4*t.nthread)+1)
	multi := t.multi[:0]
	for i, nd := range split {
		if nd.hi-nd.lo > block {
			// Its blocks share the table: fill it once, here (the
			// task of a single block fills its own).
			t.leftTable(&best[i], t.leftTab[i*t.maxCodes:(i+1)*t.maxCodes])
			multi = append(multi, int32(i))
		}
		for lo := nd.lo; lo < nd.hi; lo += block {
			parts = append(parts, partTask{node: int32(i), lo: lo, hi: min(lo+block, nd.hi), first: lo == nd.lo})
		}
	}
	t.parts, t.multi = parts, multi
	t.w.run(len(parts), func(k int) {
		pt := &parts[k]
		i := int(pt.node)
		nd := split[i]
		single := pt.first && pt.hi == nd.hi
		if single {
			t.leftTable(&best[i], t.leftTab[i*t.maxCodes:(i+1)*t.maxCodes])
		}
		pt.nl = t.partition(&best[i], t.leftTab[i*t.maxCodes:(i+1)*t.maxCodes], pt.lo, pt.hi)
		if single {
			// The node's only block: its right rows follow its left ones.
			copy(t.rg[pt.lo+pt.nl:], t.tmp[pt.lo:pt.hi-pt.nl])
			nl[i] = pt.nl
		}
	})
	t.w.run(len(multi), func(j int) {
		// The blocks of node i are contiguous in parts, from the first
		// one starting at its lo.
		i := multi[j]
		nd := split[i]
		k := sort.Search(len(parts), func(k int) bool { return parts[k].lo >= nd.lo })
		e := k
		for e < len(parts) && parts[e].lo < nd.hi {
			e++
		}
		dst := nd.lo
		for _, pt := range parts[k:e] {
			dst += int32(copy(t.rg[dst:], t.rg[pt.lo:pt.lo+pt.nl]))
		}
		nl[i] = dst - nd.lo
		for _, pt := range parts[k:e] {
			dst += int32(copy(t.rg[dst:], t.tmp[pt.lo:pt.hi-pt.nl]))
		}
	})
	return nl
}

// children makes the children of the split nodes, numbered in the order
// XGBoost's depth-wise grower numbers them, with their histograms: the
// child with fewer rows is summed, the other is parent - that child
// (computed inside the next level's split search). It returns the next
// level.
func (t *trainer) children(b *growth, split []*tnode, best []cand, nl []int32) []*tnode {
	tr := &b.tr
	next := t.next[:0]
	build := t.build[:0]
	subs := t.subs[:0]
	for i, nd := range split {
		c := &best[i]
		mid := nd.lo + nl[i]
		l := b.newNode(tnode{lo: nd.lo, hi: mid, g: c.gl, h: c.hl, rng: b.newRange(nd.rng)})
		r := b.newNode(tnode{lo: mid, hi: nd.hi, g: c.gr, h: c.hr, rng: b.newRange(nd.rng)})
		if c.right == nil {
			// bins <= c.bin went left, the others right.
			l.rng[2*c.feat+1], r.rng[2*c.feat] = int32(c.bin), int32(c.bin+1)
		}
		l.id = tr.addNode(nd.id, t.weight(l.g, l.h), l.h)
		r.id = tr.addNode(nd.id, t.weight(r.g, r.h), r.h)
		tr.setSplit(nd.id, l.id, r.id, c, &t.bs[c.feat])
		next = append(next, l, r)
		if !t.splittable(l) && !t.splittable(r) {
			continue
		}
		// Histogram subtraction: sum the child with fewer rows, get
		// the other as parent - child.
		small, large := l, r
		if r.hi-r.lo < l.hi-l.lo {
			small, large = r, l
		}
		small.hist = t.getHist()
		build = append(build, small)
		subs = append(subs, sub{nd, small, large})
	}
	t.build, t.subs = build, subs
	if len(build) > 0 {
		t.buildHists(build)
	}
	// The larger child's histogram is parent - smaller child, computed
	// feature by feature inside the next level's split search; the
	// histograms it reads are released after that search.
	for _, s := range subs {
		if t.splittable(s.large) {
			s.large.hist = t.getHist()
			s.large.subP, s.large.subS = s.parent.hist, s.small.hist
		}
	}
	for _, s := range subs {
		if !t.splittable(s.small) {
			t.pending = append(t.pending, s.small.hist)
			s.small.hist = nil
		}
	}
	for _, nd := range split {
		t.pending = append(t.pending, nd.hist)
		nd.hist = nil
	}
	// next becomes the level being split; its children go to the other
	// buffer.
	t.next, t.nextAlt = t.nextAlt, next
	return next
}

// splittable reports whether a node could have two children of at least
// min_child_weight hessian each.
func (t *trainer) splittable(nd *tnode) bool {
	return nd.hi-nd.lo >= 2 && nd.h >= 2*t.p.MinChildWeight
}

func thresholdL1(g, alpha float64) float64 {
	switch {
	case g > alpha:
		return g - alpha
	case g < -alpha:
		return g + alpha
	}
	return 0
}

// gain is XGBoost's CalcGain: the loss reduction of a node with these sums
// over a node that predicts 0 (without max_delta_step).
func (t *trainer) gain(g, h float64) float64 {
	tg := thresholdL1(g, t.p.Alpha)
	return tg * tg / (h + t.p.Lambda)
}

// weight is XGBoost's CalcWeight: the optimal leaf value before shrinkage.
func (t *trainer) weight(g, h float64) float64 {
	if h <= 0 {
		return 0
	}
	return -thresholdL1(g, t.p.Alpha) / (h + t.p.Lambda)
}

// leaf makes nd a leaf of tr and returns its value; when pred is not nil,
// it also adds the value to the predictions of nd's rows.
func (t *trainer) leaf(tr *tree, nd *tnode, pred []float32) float32 {
	v := float32(t.p.Eta * t.weight(nd.g, nd.h))
	tr.cond[nd.id] = v
	tr.baseWeight[nd.id] = v
	if pred != nil {
		for _, r := range t.rg[nd.lo:nd.hi] {
			pred[r>>32] += v
		}
	}
	return v
}

// buildHists fills the histograms of nodes for the tree's features. Tasks
// are (node, feature, block of histBlock rows): enough of them to keep every
// core busy even at the root, each writing only its own output. The first
// block of a (node, feature) writes the node's histogram directly; later
// blocks write scratch that is then added in block order, so the sums do not
// depend on scheduling.
func (t *trainer) buildHists(nodes []*tnode) {
	tasks := t.tasks[:0]
	need := 0
	for _, nd := range nodes {
		for _, f := range t.feats {
			nb := t.histOff[f+1] - t.histOff[f]
			for lo := nd.lo + histBlock; lo < nd.hi; lo += histBlock {
				need += nb
			}
		}
	}
	if cap(t.scratch) < need {
		t.scratch = make([]binStat, need)
	}
	scr := t.scratch[:need]
	// Tasks in row order (node, block, feature): the workers take them
	// from both ends (workers.run), so each core keeps to its rows.
	for _, nd := range nodes {
		for lo := nd.lo; lo < nd.hi; lo += histBlock {
			for _, f := range t.feats {
				a, b := t.histOff[f], t.histOff[f+1]
				dst := nd.hist[a:b]
				if lo > nd.lo {
					dst, scr = scr[:b-a], scr[b-a:]
				}
				tasks = append(tasks, histTask{nd, f, lo, min(lo+histBlock, nd.hi), dst})
			}
		}
	}
	t.tasks = tasks
	t.w.run(len(tasks), func(i int) {
		tk := &tasks[i]
		clear(tk.dst)
		rg := t.rg[tk.lo:tk.hi]
		if t.bm.u8 != nil {
			histKernel(t.bm.u8[tk.f], rg, tk.dst)
		} else {
			histKernel(t.bm.u16[tk.f], rg, tk.dst)
		}
	})
	// Add the extra blocks to their (node, feature) histogram, in block
	// order.
	for i := range tasks {
		tk := &tasks[i]
		if tk.lo == tk.nd.lo {
			continue
		}
		dst := tk.nd.hist[t.histOff[tk.f]:t.histOff[tk.f+1]]
		for b, s := range tk.dst {
			dst[b].g += s.g
			dst[b].h += s.h
		}
	}
}

// histKernel is the hot loop of training: one feature's bins for a range of
// rows. Rows are ascending (stable partition) so bins[r] loads walk forward;
// g is already in row order; the hessian of squared error is 1, so the bin
// counts rows.
//
// TLC rows come in pickup order, so consecutive rows usually share their
// hour and weekday bin: summing them into one histogram makes every add wait
// for the previous one to the same bin (load, add, store, reload). For
// features with few bins, four interleaved histograms break that chain; they
// are merged at the end, always in the same order.
func histKernel[B uint8 | uint16](bins []B, rg []uint64, h []binStat) {
	if len(h) <= smallHist {
		var sub [4][smallHist]binStat
		k := 0
		for ; k+4 <= len(rg); k += 4 {
			v0, v1, v2, v3 := rg[k], rg[k+1], rg[k+2], rg[k+3]
			addRow(&sub[0][bins[v0>>32]], v0)
			addRow(&sub[1][bins[v1>>32]], v1)
			addRow(&sub[2][bins[v2>>32]], v2)
			addRow(&sub[3][bins[v3>>32]], v3)
		}
		sumRows(bins, rg[k:], sub[0][:])
		for b := range h {
			h[b].g += (sub[0][b].g + sub[1][b].g) + (sub[2][b].g + sub[3][b].g)
			h[b].h += (sub[0][b].h + sub[1][b].h) + (sub[2][b].h + sub[3][b].h)
		}
		return
	}
	if len(h) <= midHist && len(rg) >= midRows {
		// Zones: a few popular ones repeat often enough in pickup order
		// for the same chains; two copies halve them.
		var sub [2][midHist]binStat
		k := 0
		for ; k+2 <= len(rg); k += 2 {
			v0, v1 := rg[k], rg[k+1]
			addRow(&sub[0][bins[v0>>32]], v0)
			addRow(&sub[1][bins[v1>>32]], v1)
		}
		sumRows(bins, rg[k:], sub[0][:])
		for b := range h {
			h[b].g += sub[0][b].g + sub[1][b].g
			h[b].h += sub[0][b].h + sub[1][b].h
		}
		return
	}
	sumRows(bins, rg, h)
}

// sumRows adds rows rg into h, one after the other.
func sumRows[B uint8 | uint16](bins []B, rg []uint64, h []binStat) {
	for _, v := range rg {
		addRow(&h[bins[v>>32]], v)
	}
}

// addRow adds row entry v (its gradient in the low 32 bits, hessian 1) to
// bin s.
func addRow(s *binStat, v uint64) {
	s.g += float64(math.Float32frombits(uint32(v)))
	s.h++
}

// midHist and midRows: histograms up to midHist bins summed over at least
// midRows rows use two interleaved copies.
const (
	midHist = 257
	midRows = 2048
)

// smallHist is the largest histogram (bins + missing) summed through four
// interleaved copies on the stack.
const smallHist = 64

// leftTable fills left[bin] = whether rows of that bin (nbins = missing) go
// left under split c.
func (t *trainer) leftTable(c *cand, left []bool) []bool {
	b := &t.bs[c.feat]
	left = left[:b.nbins+1]
	for i := 0; i < b.nbins; i++ {
		if c.right != nil {
			left[i] = !c.right[i]
		} else {
			left[i] = i <= c.bin
		}
	}
	left[b.nbins] = c.defLeft
	return left
}

// partTask is one block of a node's rows to partition; nl is the number
// that went left.
type partTask struct {
	node       int32 // index in the level's split nodes
	lo, hi, nl int32
	first      bool // the node's first block
}

// partBlock is the smallest block a large node is cut into.
const partBlock = 8192

// partition splits rows [lo, hi) of t.rg (and their gradients) stably by
// split c with table left (leftTable): the left ones to the front of the
// range, in place, and the right ones to the front of the same range of
// t.tmp. It returns the number that went left.
func (t *trainer) partition(c *cand, left []bool, lo, hi int32) int32 {
	left = left[:t.bs[c.feat].nbins+1]
	if t.bm.u8 != nil {
		return partitionKernel(t.bm.u8[c.feat], left, t.rg[lo:hi], t.tmp[lo:hi])
	}
	return partitionKernel(t.bm.u16[c.feat], left, t.rg[lo:hi], t.tmp[lo:hi])
}

// partitionKernel moves left rows to the front of rg in place (the write
// index never passes the read index) and right rows to tmp, keeping both
// sides in ascending order.
func partitionKernel[B uint8 | uint16](bins []B, left []bool, rg, tmp []uint64) int32 {
	// Branch-free: every row is written to both sides and only the counter
	// of its side advances. Half the rows go each way, so a branch here
	// would mispredict about every other row. Writing rg[nl] is safe
	// because nl <= k: that slot has been read already.
	nl, nr := 0, 0
	tmp = tmp[:len(rg)]
	for k := 0; k < len(rg); k++ {
		v := rg[k]
		l := 0
		if left[bins[v>>32]] {
			l = 1
		}
		rg[nl] = v
		tmp[nr] = v
		nl += l
		nr += 1 - l
	}
	return int32(nl)
}

// applyLeaves adds lv or rv to the prediction of each row of nd, by the
// side of split c it falls on.
func (t *trainer) applyLeaves(nd *tnode, c *cand, left []bool, lv, rv float32, pred []float32) {
	left = t.leftTable(c, left)
	rg := t.rg[nd.lo:nd.hi]
	if t.bm.u8 != nil {
		applyKernel(t.bm.u8[c.feat], left, rg, lv, rv, pred)
	} else {
		applyKernel(t.bm.u16[c.feat], left, rg, lv, rv, pred)
	}
}

// applyKernel is branch-free: the side indexes a two-value table (a branch
// would mispredict about every other row).
func applyKernel[B uint8 | uint16](bins []B, left []bool, rg []uint64, lv, rv float32, pred []float32) {
	vals := [2]float32{rv, lv}
	for _, v := range rg {
		r := v >> 32
		x := 0
		if left[bins[r]] {
			x = 1
		}
		pred[r] += vals[x]
	}
}

// bestSplit finds the best split of node nd on feature f from its histogram.
func (t *trainer) bestSplit(nd *tnode, f int) cand {
	best := cand{gain: math.Inf(-1), feat: f}
	hist := nd.hist[t.histOff[f]:t.histOff[f+1]]
	nb := len(hist) - 1
	parent := t.gain(nd.g, nd.h)
	mcw := max(t.p.MinChildWeight, 1e-12)
	// Bins lo..hi can hold rows; thresholds lo..end are tried (a threshold
	// at the last bin would send every non-missing row left).
	lo, hi := int(nd.rng[2*f]), int(nd.rng[2*f+1])
	end := min(hi, nb-2)
	var ph, sh []binStat
	if nd.subP != nil {
		ph = nd.subP[t.histOff[f]:t.histOff[f+1]]
		sh = nd.subS[t.histOff[f]:t.histOff[f+1]]
		hist[nb] = binStat{ph[nb].g - sh[nb].g, ph[nb].h - sh[nb].h}
	}
	miss := hist[nb]
	numeric := !t.bs[f].cat && t.p.Alpha == 0
	if ph != nil && numeric && miss.h == 0 {
		// The subtraction inside the scan.
		var ok bool
		best.bin, best.gl, best.hl, ok = scanNumericSub(ph[lo:end+1], sh[lo:end+1], hist[lo:end+1], t.keepSub, nd.g, nd.h, t.p.Lambda, mcw)
		best.bin += lo
		if ok {
			best.gain = t.gain(best.gl, best.hl) + t.gain(nd.g-best.gl, nd.h-best.hl) - parent
		}
		best.gr, best.hr = nd.g-best.gl, nd.h-best.hl
		if t.keepSub {
			for b := end + 1; b <= hi; b++ {
				hist[b] = binStat{ph[b].g - sh[b].g, ph[b].h - sh[b].h}
			}
		}
		return best
	}
	if ph != nil {
		for b := lo; b <= hi; b++ {
			hist[b] = binStat{ph[b].g - sh[b].g, ph[b].h - sh[b].h}
		}
	}
	if numeric {
		// Common case, without divisions in the loop (see scanNumeric).
		G, H := nd.g, nd.h
		var ok bool
		if miss.h == 0 {
			best.bin, best.gl, best.hl, ok = scanNumeric(hist[lo:end+1], G, H, t.p.Lambda, mcw)
		} else {
			best.bin, best.defLeft, best.gl, best.hl, ok = scanNumericMissing(hist[lo:end+1], miss, G, H, t.p.Lambda, mcw)
		}
		best.bin += lo
		if ok {
			best.gain = t.gain(best.gl, best.hl) + t.gain(G-best.gl, H-best.hl) - parent
		}
		best.gr, best.hr = nd.g-best.gl, nd.h-best.hl
		return best
	}
	try := func(gl, hl float64) (float64, bool) {
		gr, hr := nd.g-gl, nd.h-hl
		if hl < mcw || hr < mcw {
			return 0, false
		}
		return t.gain(gl, hl) + t.gain(gr, hr) - parent, true
	}
	if t.bs[f].cat {
		return t.bestCatSplit(nd, f, hist, best, try)
	}
	var gl, hl float64
	for b := lo; b <= end; b++ {
		s := hist[b]
		if s.h == 0 {
			continue // same partition as the previous bin: keep the lower threshold
		}
		gl += s.g
		hl += s.h
		if gain, ok := try(gl, hl); ok && gain > best.gain {
			best.gain, best.bin, best.defLeft, best.gl, best.hl = gain, b, false, gl, hl
		}
		if miss.h > 0 {
			if gain, ok := try(gl+miss.g, hl+miss.h); ok && gain > best.gain {
				best.gain, best.bin, best.defLeft, best.gl, best.hl = gain, b, true, gl+miss.g, hl+miss.h
			}
		}
	}
	best.gr, best.hr = nd.g-best.gl, nd.h-best.hl
	return best
}

// catSmooth is the hessian added to each category's sum when categories
// are ordered for a partition split (LightGBM's cat_smooth default).
const catSmooth = 10

type catStat struct {
	bin  int
	g, h float64
	w    float64
}

var catPool = sync.Pool{New: func() any { s := make([]catStat, 0, 256); return &s }}

// bestCatSplit is the sorted-partition search for a categorical feature
// (LightGBM's and XGBoost's method for many categories): order the node's
// categories by their optimal leaf weight, then the best split into two
// groups is a prefix of that order. At most max_cat_threshold categories
// may be on the smaller side, which limits overfitting to rare zones.
func (t *trainer) bestCatSplit(nd *tnode, f int, hist []binStat, best cand, try func(gl, hl float64) (float64, bool)) cand {
	nb := len(hist) - 1
	miss := hist[nb]
	sp := catPool.Get().(*[]catStat)
	cs := (*sp)[:0]
	defer func() { *sp = cs; catPool.Put(sp) }()
	for b := 0; b < nb; b++ {
		if s := hist[b]; s.h > 0 {
			// Sort key smoothed towards 0 like LightGBM's cat_smooth, so a
			// zone seen a few times does not land at an extreme of the order.
			cs = append(cs, catStat{bin: b, g: s.g, h: s.h, w: s.g / (s.h + catSmooth)})
		}
	}
	if len(cs) < 2 {
		return best
	}
	slices.SortFunc(cs, func(a, b catStat) int {
		switch {
		case a.w < b.w:
			return -1
		case a.w > b.w:
			return 1
		}
		return a.bin - b.bin
	})
	m := len(cs)
	mct := t.p.MaxCatThreshold
	bestK, bestMissA := -1, false
	var ga, ha float64
	for k := 1; k < m; k++ {
		ga += cs[k-1].g
		ha += cs[k-1].h
		if k > mct && m-k > mct {
			continue
		}
		// Group A = cs[:k] (with or without the missing values).
		if gain, ok := try(ga, ha); ok && gain > best.gain {
			best.gain, bestK, bestMissA = gain, k, false
		}
		if miss.h > 0 {
			if gain, ok := try(ga+miss.g, ha+miss.h); ok && gain > best.gain {
				best.gain, bestK, bestMissA = gain, k, true
			}
		}
	}
	if bestK < 0 {
		return best
	}
	var gA, hA float64
	for _, c := range cs[:bestK] {
		gA += c.g
		hA += c.h
	}
	hB := nd.h - miss.h - hA
	// The group with less hessian goes right (it is the bitset XGBoost
	// stores); categories absent from this node go left with the majority.
	aRight := hA < hB
	best.right = make([]bool, nb)
	for i, c := range cs {
		best.right[c.bin] = (i < bestK) == aRight
	}
	if bestMissA {
		gA += miss.g
		hA += miss.h
	}
	if aRight {
		best.gr, best.hr = gA, hA
		best.gl, best.hl = nd.g-gA, nd.h-hA
		best.defLeft = !bestMissA
	} else {
		best.gl, best.hl = gA, hA
		best.gr, best.hr = nd.g-gA, nd.h-hA
		best.defLeft = bestMissA
	}
	return best
}

// alloc sets the capacity of the node arrays.
func (tr *tree) alloc(n int) {
	tr.left = make([]int32, 0, n)
	tr.right = make([]int32, 0, n)
	tr.parent = make([]int32, 0, n)
	tr.feature = make([]int32, 0, n)
	tr.cond = make([]float32, 0, n)
	tr.defaultLeft = make([]bool, 0, n)
	tr.baseWeight = make([]float32, 0, n)
	tr.lossChange = make([]float32, 0, n)
	tr.sumHess = make([]float32, 0, n)
	tr.catSplit = make([]bool, 0, n)
	tr.cats = make([][]int32, 0, n)
}

// addNode appends a leaf to the tree and returns its id.
func (tr *tree) addNode(parent int32, w, h float64) int32 {
	id := int32(len(tr.left))
	if parent < 0 {
		parent = math.MaxInt32 // XGBoost's "no parent"
	}
	tr.left = append(tr.left, -1)
	tr.right = append(tr.right, -1)
	tr.parent = append(tr.parent, parent)
	tr.feature = append(tr.feature, 0)
	tr.cond = append(tr.cond, 0)
	tr.defaultLeft = append(tr.defaultLeft, false)
	tr.baseWeight = append(tr.baseWeight, float32(w))
	tr.lossChange = append(tr.lossChange, 0)
	tr.sumHess = append(tr.sumHess, float32(h))
	tr.catSplit = append(tr.catSplit, false)
	tr.cats = append(tr.cats, nil)
	return id
}

// setSplit turns leaf id into a split with the given children.
func (tr *tree) setSplit(id, l, r int32, c *cand, b *binner) {
	tr.left[id], tr.right[id] = l, r
	tr.feature[id] = int32(c.feat)
	tr.defaultLeft[id] = c.defLeft
	tr.lossChange[id] = float32(c.gain)
	if c.right != nil {
		tr.catSplit[id] = true
		var cats []int32
		for bin, right := range c.right {
			if right {
				cats = append(cats, b.cats[bin])
			}
		}
		tr.cats[id] = cats
		tr.cond[id] = 0
	} else {
		// bins <= c.bin are exactly the values < edges[c.bin].
		tr.cond[id] = b.edges[c.bin]
	}
}

// bestScore is the best children's score a threshold scan has seen, kept
// as num/den: GL²/(HL+λ) + GR²/(HR+λ) = num/den with num = GL²(HR+λ) +
// GR²(HL+λ) and den = (HL+λ)(HR+λ) > 0, so "score > best" is "num·bestDen >
// bestNum·den": no division per candidate. Start from newBestScore.
type bestScore struct{ num, den float64 }

func newBestScore() bestScore { return bestScore{-1, 1} } // below every score (scores are >= 0)

// better reports whether the candidate with left sums gl, hl (of a node
// with G, H) is allowed (min_child_weight on both sides) and scores above
// the best so far, which it then becomes. A tie is not better, so the
// lower threshold stays: an empty bin repeats the previous bin's sums.
func (s *bestScore) better(gl, hl, G, H, lam, mcw float64) bool {
	hr := H - hl
	if hl < mcw || hr < mcw {
		return false
	}
	gr := G - gl
	a, c := hl+lam, hr+lam
	if num, den := gl*gl*c+gr*gr*a, a*c; num*s.den > s.num*den {
		s.num, s.den = num, den
		return true
	}
	return false
}

func (s bestScore) found() bool { return s.num >= 0 }

// scanNumeric finds the best threshold of a numeric feature without missing
// values, with alpha = 0: the bin b such that bins <= b go left, and the
// left sums.
func scanNumeric(hist []binStat, G, H, lam, mcw float64) (bin int, bgl, bhl float64, ok bool) {
	best := newBestScore()
	var gl, hl float64
	for b, s := range hist {
		gl += s.g
		hl += s.h
		if best.better(gl, hl, G, H, lam, mcw) {
			bin, bgl, bhl = b, gl, hl
		}
	}
	return bin, bgl, bhl, best.found()
}

// scanNumericSub is scanNumeric on the histogram parent - sibling, which
// it also stores in hist when keep is true.
func scanNumericSub(parent, sibling, hist []binStat, keep bool, G, H, lam, mcw float64) (bin int, bgl, bhl float64, ok bool) {
	best := newBestScore()
	var gl, hl float64
	sibling, hist = sibling[:len(parent)], hist[:len(parent)]
	for b, p := range parent {
		s := binStat{p.g - sibling[b].g, p.h - sibling[b].h}
		if keep {
			hist[b] = s
		}
		gl += s.g
		hl += s.h
		if best.better(gl, hl, G, H, lam, mcw) {
			bin, bgl, bhl = b, gl, hl
		}
	}
	return bin, bgl, bhl, best.found()
}

// scanNumericMissing is scanNumeric for a feature with missing values
// (summed in miss): every threshold is tried with the missing values on
// the right, then on the left.
func scanNumericMissing(hist []binStat, miss binStat, G, H, lam, mcw float64) (bin int, defLeft bool, bgl, bhl float64, ok bool) {
	best := newBestScore()
	var gl, hl float64
	for b, s := range hist {
		gl += s.g
		hl += s.h
		if best.better(gl, hl, G, H, lam, mcw) {
			bin, defLeft, bgl, bhl = b, false, gl, hl
		}
		if gl2, hl2 := gl+miss.g, hl+miss.h; best.better(gl2, hl2, G, H, lam, mcw) {
			bin, defLeft, bgl, bhl = b, true, gl2, hl2
		}
	}
	return bin, defLeft, bgl, bhl, best.found()
}
