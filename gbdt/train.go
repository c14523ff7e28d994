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
const sampleBlock = 16384

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
	for round := 0; round < p.NumBoostRound; round++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("train: round %d: %w", round, err)
		}
		tr, leaves := t.boost(rng, pred)
		m.trees = append(m.trees, tr)
		m.compileTree(len(m.trees) - 1)
		ti := len(m.trees) - 1
		// Sampled rows that reached the last level got their leaf value
		// inside boost; other sampled rows take it from their leaf's range
		// of the partition; rows left out (subsample < 1) walk the tree.
		for _, l := range leaves {
			for _, v := range t.rg[l.lo:l.hi] {
				pred[v>>32] += l.value
			}
		}
		out := t.outRows
		parallelFor((len(out)+batchBlock-1)/batchBlock, nthread, func(b int) {
			for _, r := range out[b*batchBlock : min((b+1)*batchBlock, len(out))] {
				pred[r] += m.treeValueCols(ti, train.Cols, int(r))
			}
		})
		pr := Progress{Round: round, TrainRMSE: rmse(pred, train.Label), ValidRMSE: math.NaN(), Best: -1, BestRMSE: math.NaN()}
		if valid != nil {
			nv := len(vpred)
			parallelFor((nv+batchBlock-1)/batchBlock, nthread, func(b int) {
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
	p       Params
	nthread int
	d       *Dataset
	bs      []binner
	bm      binMatrix
	histOff []int // offset of feature f's bins in a node histogram
	histLen int
	feats   []int // features of the current tree (colsample_bytree), ascending

	// rg holds the sampled rows, partitioned so that every node owns a
	// contiguous range, ascending within it (stable partition), so the
	// histogram loops walk the bin columns forward. Each entry packs the row
	// id (high 32 bits) with the bits of its float32 gradient (low 32): the
	// gradient travels with its row, so the histogram loop reads it
	// sequentially instead of gathering, and partitioning moves one array.
	rg      []uint64
	tmp     []uint64
	outRows []int32 // rows left out of this round's sample

	pool    [][]binStat // free node histograms
	scratch []binStat   // partial histograms of extra row blocks

	// Buffers reused by every level of every tree (fewer allocations,
	// fewer garbage collections stopping the workers).
	cands    []cand
	best     []cand
	tasks    []histTask
	leftTab  []bool // per split node: maxCodes entries, bin -> goes left
	slab     []tnode
	seeds    []uint64
	cnt      []int
	outTmp   []int32
	open     []*tnode
	split    []*tnode
	nl       []int32
	leaves   []leafRange
	maxCodes int // largest nbins+1 over features
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

// tnode is a node being grown.
type tnode struct {
	id     int32
	lo, hi int32 // range in trainer.rows
	g, h   float64
	hist   []binStat
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

type leafRange struct {
	lo, hi int32
	value  float32
}

// boost grows one tree on the gradients of pred. It adds the leaf values of
// the last level to pred itself and returns the other leaves with their row
// ranges in t.rg; rows out of the sample are in t.outRows.
func (t *trainer) boost(rng *rand.Rand, pred []float32) (tree, []leafRange) {
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
	// front of its own range of tmp (and outTmp); the blocks are then
	// concatenated in order.
	nb := (n + sampleBlock - 1) / sampleBlock
	seeds := slices.Grow(t.seeds[:0], nb)[:nb]
	t.seeds = seeds
	for b := range seeds {
		seeds[b] = rng.Uint64()
	}
	cnt := slices.Grow(t.cnt[:0], 2*nb)[:2*nb]
	t.cnt = cnt
	if len(t.outTmp) < n {
		t.outTmp = make([]int32, n)
	}
	tmp, outTmp := t.tmp[:n], t.outTmp[:n]
	thr := uint64(p.Subsample * (1 << 63))
	all := p.Subsample >= 1
	parallelFor(nb, t.nthread, func(b int) {
		lo, hi := b*sampleBlock, min((b+1)*sampleBlock, n)
		r := rand.New(rand.NewPCG(seeds[b], uint64(b)))
		in, out := lo, lo
		for i := lo; i < hi; i++ {
			if all || r.Uint64()>>1 < thr {
				tmp[in] = uint64(i)<<32 | uint64(math.Float32bits(pred[i]-d.Label[i]))
				in++
			} else {
				outTmp[out] = int32(i)
				out++
			}
		}
		cnt[2*b], cnt[2*b+1] = in-lo, out-lo
	})
	t.rg = t.rg[:0]
	t.outRows = t.outRows[:0]
	for b := 0; b < nb; b++ {
		lo := b * sampleBlock
		t.rg = append(t.rg, tmp[lo:lo+cnt[2*b]]...)
		t.outRows = append(t.outRows, outTmp[lo:lo+cnt[2*b+1]]...)
	}
	nf := len(d.Cols)
	k := max(1, int(math.Round(p.ColsampleByTree*float64(nf))))
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

	var tr tree
	tr.alloc(min(1<<(p.MaxDepth+1)-1, 2*len(t.rg)+1))
	leaves := t.leaves[:0]
	defer func() { t.leaves = leaves }()
	// Nodes come from a slab reused by every tree (a tree has at most
	// 2·rows+1 nodes and 2^(depth+1)-1).
	maxNodes := min(1<<(p.MaxDepth+1)-1, 2*len(t.rg)+1)
	if cap(t.slab) < maxNodes {
		t.slab = make([]tnode, 0, maxNodes)
	}
	slab := t.slab[:0]
	newNode := func(nd tnode) *tnode {
		slab = append(slab, nd)
		return &slab[len(slab)-1]
	}
	ns := int32(len(t.rg))
	var g float64
	for _, v := range t.rg {
		g += float64(math.Float32frombits(uint32(v)))
	}
	root := newNode(tnode{id: 0, lo: 0, hi: ns, g: g, h: float64(ns)})
	tr.addNode(-1, t.weight(g, float64(ns)), float64(ns))
	level := []*tnode{root}
	if t.splittable(root) && p.MaxDepth > 0 {
		root.hist = t.getHist()
		t.buildHists(level)
	}
	for depth := 0; depth < p.MaxDepth && len(level) > 0; depth++ {
		// 1. Best split of every node on every feature, in parallel;
		// each task writes its own slot, so the choice is order-free.
		open := t.open[:0]
		for _, nd := range level {
			if nd.hist != nil {
				open = append(open, nd)
			} else {
				leaves = append(leaves, t.leaf(&tr, nd))
			}
		}
		nfe := len(t.feats)
		t.cands = slices.Grow(t.cands[:0], len(open)*nfe)[:len(open)*nfe]
		cands := t.cands
		parallelFor(len(cands), t.nthread, func(i int) {
			cands[i] = t.bestSplit(open[i/nfe], t.feats[i%nfe])
		})
		t.open = open
		split := t.split[:0]
		best := t.best[:0]
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
				leaves = append(leaves, t.leaf(&tr, nd))
			}
		}
		t.best = best
		t.split = split
		t.growLeft(len(split))
		last := depth+1 >= p.MaxDepth
		if last {
			// The children are leaves: add their values to the rows'
			// predictions directly, in one pass, instead of partitioning
			// the rows and then walking each leaf's range.
			vals := make([]float32, 2*len(split))
			for i, nd := range split {
				c := &best[i]
				l := tr.addNode(nd.id, t.weight(c.gl, c.hl), c.hl)
				r := tr.addNode(nd.id, t.weight(c.gr, c.hr), c.hr)
				tr.setSplit(nd.id, l, r, c, &t.bs[c.feat])
				vals[2*i] = t.leaf(&tr, &tnode{id: l, g: c.gl, h: c.hl}).value
				vals[2*i+1] = t.leaf(&tr, &tnode{id: r, g: c.gr, h: c.hr}).value
			}
			parallelFor(len(split), t.nthread, func(i int) {
				t.applyLeaves(split[i], &best[i], t.leftTab[i*t.maxCodes:(i+1)*t.maxCodes], vals[2*i], vals[2*i+1], pred)
			})
			for _, nd := range split {
				t.putHist(nd.hist)
				nd.hist = nil
			}
			level = nil
			break
		}
		// 2. Partition the rows of every split node (disjoint ranges).
		nl := slices.Grow(t.nl[:0], len(split))[:len(split)]
		t.nl = nl
		parallelFor(len(split), t.nthread, func(i int) {
			nl[i] = t.partition(split[i], &best[i], t.leftTab[i*t.maxCodes:(i+1)*t.maxCodes])
		})
		// 3. Children, numbered in the order XGBoost's depth-wise grower
		// numbers them.
		var next []*tnode
		var build []*tnode
		type sub struct{ parent, small, large *tnode }
		var subs []sub
		for i, nd := range split {
			c := &best[i]
			mid := nd.lo + nl[i]
			l := newNode(tnode{lo: nd.lo, hi: mid, g: c.gl, h: c.hl})
			r := newNode(tnode{lo: mid, hi: nd.hi, g: c.gr, h: c.hr})
			l.id = tr.addNode(nd.id, t.weight(l.g, l.h), l.h)
			r.id = tr.addNode(nd.id, t.weight(r.g, r.h), r.h)
			tr.setSplit(nd.id, l.id, r.id, c, &t.bs[c.feat])
			next = append(next, l, r)
			if last || !(t.splittable(l) || t.splittable(r)) {
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
		if len(build) > 0 {
			t.buildHists(build)
		}
		for _, s := range subs {
			if t.splittable(s.large) {
				s.large.hist = t.getHist()
			}
		}
		parallelFor(len(subs), t.nthread, func(i int) {
			s := subs[i]
			if s.large.hist != nil {
				for _, f := range t.feats {
					ph := s.parent.hist[t.histOff[f]:t.histOff[f+1]]
					sh := s.small.hist[t.histOff[f]:t.histOff[f+1]]
					lh := s.large.hist[t.histOff[f]:t.histOff[f+1]]
					for b := range lh {
						lh[b] = binStat{ph[b].g - sh[b].g, ph[b].h - sh[b].h}
					}
				}
			}
		})
		for _, s := range subs {
			if !t.splittable(s.small) {
				t.putHist(s.small.hist)
				s.small.hist = nil
			}
		}
		for _, nd := range split {
			t.putHist(nd.hist)
			nd.hist = nil
		}
		level = next
	}
	for _, nd := range level {
		t.putHist(nd.hist)
		nd.hist = nil
		leaves = append(leaves, t.leaf(&tr, nd))
	}
	return tr, leaves
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

func (t *trainer) leaf(tr *tree, nd *tnode) leafRange {
	v := float32(t.p.Eta * t.weight(nd.g, nd.h))
	tr.cond[nd.id] = v
	tr.baseWeight[nd.id] = v
	return leafRange{lo: nd.lo, hi: nd.hi, value: v}
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
	for _, nd := range nodes {
		for _, f := range t.feats {
			a, b := t.histOff[f], t.histOff[f+1]
			tasks = append(tasks, histTask{nd, f, nd.lo, min(nd.lo+histBlock, nd.hi), nd.hist[a:b]})
			for lo := nd.lo + histBlock; lo < nd.hi; lo += histBlock {
				tasks = append(tasks, histTask{nd, f, lo, min(lo+histBlock, nd.hi), scr[:b-a]})
				scr = scr[b-a:]
			}
		}
	}
	t.tasks = tasks
	parallelFor(len(tasks), t.nthread, func(i int) {
		tk := &tasks[i]
		clear(tk.dst)
		rg := t.rg[tk.lo:tk.hi]
		if t.bm.u8 != nil {
			histKernel(t.bm.u8[tk.f], rg, tk.dst)
		} else {
			histKernel(t.bm.u16[tk.f], rg, tk.dst)
		}
	})
	// Add the extra blocks to their (node, feature) histogram, in order.
	var dst []binStat
	for i := range tasks {
		tk := &tasks[i]
		if tk.lo == tk.nd.lo {
			dst = tk.dst
			continue
		}
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
			s0 := &sub[0][bins[v0>>32]]
			s1 := &sub[1][bins[v1>>32]]
			s2 := &sub[2][bins[v2>>32]]
			s3 := &sub[3][bins[v3>>32]]
			s0.g += float64(math.Float32frombits(uint32(v0)))
			s0.h++
			s1.g += float64(math.Float32frombits(uint32(v1)))
			s1.h++
			s2.g += float64(math.Float32frombits(uint32(v2)))
			s2.h++
			s3.g += float64(math.Float32frombits(uint32(v3)))
			s3.h++
		}
		for ; k < len(rg); k++ {
			v := rg[k]
			s := &sub[0][bins[v>>32]]
			s.g += float64(math.Float32frombits(uint32(v)))
			s.h++
		}
		for b := range h {
			h[b].g += (sub[0][b].g + sub[1][b].g) + (sub[2][b].g + sub[3][b].g)
			h[b].h += (sub[0][b].h + sub[1][b].h) + (sub[2][b].h + sub[3][b].h)
		}
		return
	}
	for _, v := range rg {
		s := &h[bins[v>>32]]
		s.g += float64(math.Float32frombits(uint32(v)))
		s.h++
	}
}

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

// partition splits node nd's rows (and their gradients) stably into left
// then right, and returns the number that went left.
func (t *trainer) partition(nd *tnode, c *cand, left []bool) int32 {
	lo, hi := nd.lo, nd.hi
	if c.right == nil {
		// Numeric: compare bins with the threshold, no table load.
		nb := t.bs[c.feat].nbins
		if t.bm.u8 != nil {
			return partitionNum(t.bm.u8[c.feat], uint8(c.bin), nb, c.defLeft, t.rg[lo:hi], t.tmp[lo:hi])
		}
		return partitionNum(t.bm.u16[c.feat], uint16(c.bin), nb, c.defLeft, t.rg[lo:hi], t.tmp[lo:hi])
	}
	left = t.leftTable(c, left)
	if t.bm.u8 != nil {
		return partitionKernel(t.bm.u8[c.feat], left, t.rg[lo:hi], t.tmp[lo:hi])
	}
	return partitionKernel(t.bm.u16[c.feat], left, t.rg[lo:hi], t.tmp[lo:hi])
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

func applyKernel[B uint8 | uint16](bins []B, left []bool, rg []uint64, lv, rv float32, pred []float32) {
	for _, v := range rg {
		r := v >> 32
		x := rv
		if left[bins[r]] {
			x = lv
		}
		pred[r] += x
	}
}

// partitionNum is partitionKernel for a numeric split: bins <= thr go left,
// the missing bin goes the default way. miss is an int: with 256 bins and no
// missing values the missing code does not fit (nor occur in) a uint8.
func partitionNum[B uint8 | uint16](bins []B, thr B, miss int, defLeft bool, rg, tmp []uint64) int32 {
	dl := 0
	if defLeft {
		dl = 1
	}
	nl, nr := 0, 0
	tmp = tmp[:len(rg)]
	for k := 0; k < len(rg); k++ {
		v := rg[k]
		b := bins[v>>32]
		l := 0
		if b <= thr {
			l = 1
		}
		if int(b) == miss {
			l = dl
		}
		rg[nl] = v
		tmp[nr] = v
		nl += l
		nr += 1 - l
	}
	copy(rg[nl:], tmp[:nr])
	return int32(nl)
}

// partitionKernel moves left rows to the front in place (the write index
// never passes the read index) and right rows through tmp, keeping both
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
	copy(rg[nl:], tmp[:nr])
	return int32(nl)
}

// bestSplit finds the best split of node nd on feature f from its histogram.
func (t *trainer) bestSplit(nd *tnode, f int) cand {
	best := cand{gain: math.Inf(-1), feat: f}
	hist := nd.hist[t.histOff[f]:t.histOff[f+1]]
	nb := len(hist) - 1
	miss := hist[nb]
	parent := t.gain(nd.g, nd.h)
	mcw := max(t.p.MinChildWeight, 1e-12)
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
	if t.p.Alpha == 0 {
		// Common case, without divisions in the loop: the children's score
		// GL²/(HL+λ) + GR²/(HR+λ) = num/den with num = GL²(HR+λ) + GR²(HL+λ)
		// and den = (HL+λ)(HR+λ) > 0, so "score > best" is
		// "num > best·den". One division per feature instead of two per bin.
		lam := t.p.Lambda
		G, H := nd.g, nd.h
		bestScore := math.Inf(-1) // best children's score so far
		var gl, hl float64
		for b := 0; b < nb-1; b++ {
			s := hist[b]
			if s.h == 0 {
				continue // same partition as the previous bin: keep the lower threshold
			}
			gl += s.g
			hl += s.h
			if hr := H - hl; hl >= mcw && hr >= mcw {
				gr := G - gl
				a, c := hl+lam, hr+lam
				if num := gl*gl*c + gr*gr*a; num > bestScore*(a*c) {
					bestScore = num / (a * c)
					best.bin, best.defLeft, best.gl, best.hl = b, false, gl, hl
				}
			}
			if miss.h > 0 {
				gl2, hl2 := gl+miss.g, hl+miss.h
				if hr := H - hl2; hl2 >= mcw && hr >= mcw {
					gr := G - gl2
					a, c := hl2+lam, hr+lam
					if num := gl2*gl2*c + gr*gr*a; num > bestScore*(a*c) {
						bestScore = num / (a * c)
						best.bin, best.defLeft, best.gl, best.hl = b, true, gl2, hl2
					}
				}
			}
		}
		if !math.IsInf(bestScore, -1) {
			best.gain = t.gain(best.gl, best.hl) + t.gain(G-best.gl, H-best.hl) - parent
		}
		best.gr, best.hr = nd.g-best.gl, nd.h-best.hl
		return best
	}
	var gl, hl float64
	for b := 0; b < nb-1; b++ {
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
