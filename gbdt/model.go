package gbdt

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
)

// Model is a trained (or loaded) ensemble of regression trees: XGBoost's
// gbtree with reg:squarederror. The prediction for a row is BaseScore plus
// one leaf value per tree, summed in float32 in tree order like XGBoost.
type Model struct {
	// Attributes are free-form strings stored in the JSON file under
	// learner.attributes (XGBoost keeps them): tripcast puts the feature
	// spec and metrics there.
	Attributes map[string]string
	// BaseScore is the global bias added to every prediction.
	BaseScore float32

	names []string
	cat   []bool
	trees []tree

	// Compiled form for prediction (see compile).
	nodes    []pnode
	aux      []uint32 // per node: leaf value bits (leaves) or catRefs index (categorical splits)
	roots    []int32
	depth    []int32  // per tree: steps from the root to the deepest leaf
	hasCat   bool     // some split is categorical
	catWords []uint32 // bitsets of categorical splits, 32 categories per word
	catRefs  []catRef
}

// tree holds one tree in XGBoost's node-array form (what the JSON stores).
// Node 0 is the root; a leaf has left == -1 and its value in cond.
type tree struct {
	left, right, parent []int32
	feature             []int32
	cond                []float32 // split condition, or leaf value
	defaultLeft         []bool
	baseWeight          []float32
	lossChange          []float32
	sumHess             []float32
	catSplit            []bool
	cats                [][]int32 // per categorical node: the category codes that go right, ascending
}

func (t *tree) numNodes() int { return len(t.left) }

// pnode is a node of the compiled model (12 bytes). The two children of a
// node are adjacent (right = left+1), so the step to the next node is
// "left + direction" with direction computed without a branch: tree
// traversal is otherwise dominated by mispredicted branches (half of all
// splits go each way). A leaf has a NaN threshold (no value compares >= NaN)
// and left = its own index, so stepping from a leaf stays on it and every
// tree can be walked a fixed number of steps (its depth) with no leaf test.
type pnode struct {
	thresh float32 // split threshold; NaN at leaves
	left   int32   // index of the left child in Model.nodes; own index at leaves
	ff     uint32  // feature index | flags
}

const (
	flagDefRight = 1 << 30 // missing values go right
	flagCat      = 1 << 29 // categorical split: bitset in catRefs[aux[i]]
	featMask     = 1<<29 - 1
)

type catRef struct{ off, n uint32 }

// NumTrees returns the number of trees.
func (m *Model) NumTrees() int { return len(m.trees) }

// FeatureNames returns the names of the features, in the order Predict
// expects them.
func (m *Model) FeatureNames() []string { return slices.Clone(m.names) }

// Categorical reports, per feature, whether the model treats it as
// categorical (XGBoost feature type "c").
func (m *Model) Categorical() []bool { return slices.Clone(m.cat) }

// compile lays the trees out for prediction: one node slice for all trees,
// each tree in breadth-first order with the two children of a node next to
// each other.
func (m *Model) compile() {
	m.nodes = m.nodes[:0]
	m.aux = m.aux[:0]
	m.roots = m.roots[:0]
	m.depth = m.depth[:0]
	m.catWords = m.catWords[:0]
	m.catRefs = m.catRefs[:0]
	m.hasCat = false
	// Sized up front: a loaded model is compiled in one go, and growing
	// the node slices by appends would copy them a dozen times.
	nn := 0
	for ti := range m.trees {
		nn += m.trees[ti].numNodes()
	}
	m.nodes = slices.Grow(m.nodes, nn)
	m.aux = slices.Grow(m.aux, nn)
	m.roots = slices.Grow(m.roots, len(m.trees))
	m.depth = slices.Grow(m.depth, len(m.trees))
	for ti := range m.trees {
		m.compileTree(ti)
	}
}

// compileTree appends tree ti (the next one not yet compiled) to the
// compiled node slice.
func (m *Model) compileTree(ti int) {
	t := &m.trees[ti]
	base := int32(len(m.nodes))
	m.roots = append(m.roots, base)
	// queue[k] is the original id of compiled node base+k; level[k] its depth.
	queue := make([]int32, 1, t.numNodes())
	level := make([]int32, 1, t.numNodes())
	m.nodes = append(m.nodes, pnode{})
	m.aux = append(m.aux, 0)
	depth := int32(0)
	for k := 0; k < len(queue); k++ {
		id := queue[k]
		self := base + int32(k)
		var n pnode
		var aux uint32
		if t.left[id] < 0 {
			n = pnode{thresh: float32(math.NaN()), left: self}
			aux = math.Float32bits(t.cond[id])
		} else {
			n.left = base + int32(len(queue))
			queue = append(queue, t.left[id], t.right[id])
			level = append(level, level[k]+1, level[k]+1)
			depth = max(depth, level[k]+1)
			m.nodes = append(m.nodes, pnode{}, pnode{})
			m.aux = append(m.aux, 0, 0)
			n.ff = uint32(t.feature[id])
			if !t.defaultLeft[id] {
				n.ff |= flagDefRight
			}
			if t.catSplit[id] {
				n.ff |= flagCat
				m.hasCat = true
				n.thresh = float32(math.NaN())
				aux = uint32(len(m.catRefs))
				m.catRefs = append(m.catRefs, m.addBitset(t.cats[id]))
			} else {
				n.thresh = t.cond[id]
			}
		}
		m.nodes[self] = n
		m.aux[self] = aux
	}
	m.depth = append(m.depth, depth)
}

func (m *Model) addBitset(cats []int32) catRef {
	nw := 0
	if len(cats) > 0 {
		nw = int(cats[len(cats)-1])/32 + 1
	}
	off := len(m.catWords)
	m.catWords = append(m.catWords, make([]uint32, nw)...)
	for _, c := range cats {
		m.catWords[off+int(c)/32] |= 1 << (uint(c) % 32)
	}
	return catRef{uint32(off), uint32(nw)}
}

// catRight reports whether category value x goes right at categorical node
// i: like XGBoost, a code in the node's set goes right; anything else
// (including negative or huge values) goes left.
func (m *Model) catRight(i int32, x float32) bool {
	if !(x >= 0 && x < maxCat) {
		return false
	}
	r := m.catRefs[m.aux[i]]
	c := uint32(x)
	w := c / 32
	if w >= r.n {
		return false
	}
	return m.catWords[r.off+w]&(1<<(c%32)) != 0
}

// The walk loops below (Predict, treeValueCols, predictBlock) inline the
// step from node n = nodes[i] by hand (a helper would exceed Go's inlining
// budget):
//
//	r := 0; if x >= n.thresh { r = 1 }; if x != x { r = default-right bit }
//	i = n.left + r
//
// which compiles to compares and conditional moves, no branch; categorical
// splits (rare, flagged) take the out-of-line stepCat.

// stepCat is the step at a categorical split.
//
//go:noinline
func (m *Model) stepCat(n *pnode, i int32, x float32) int32 {
	if x != x {
		return n.left + int32(n.ff>>30&1)
	}
	return n.left + b2i(m.catRight(i, x))
}

func b2i(b bool) int32 {
	if b {
		return 1
	}
	return 0
}

// stepNum is the step at a numeric split (or a leaf).
func stepNum(n *pnode, x float32) int32 {
	r := int32(0)
	if x >= n.thresh {
		r = 1
	}
	if x != x {
		r = int32(n.ff >> 30 & 1)
	}
	return n.left + r
}

// Predict returns the prediction for one row (len(row) must be at least
// the number of features; NaN = missing). It does not allocate.
func (m *Model) Predict(row []float32) float32 {
	_ = row[len(m.names)-1]
	if m.hasCat {
		return m.predictCat(row)
	}
	if len(m.names) <= narrowFeat {
		// The batch kernel's shape (see predictBlockNarrow): a fixed-size
		// copy of the row (on the stack), and without missing values
		// eight trees walked by a function whose step is one compare.
		var r [narrowFeat]float32
		nan := false
		for f, v := range row[:len(m.names)] {
			r[f] = v
			nan = nan || v != v
		}
		if !nan {
			return m.predictNarrow(&r)
		}
	}
	// Eight trees walked in lockstep: eight independent chains of loads, so
	// the core overlaps their cache misses instead of waiting on each
	// (measured: 8 ways ~1.7x faster than 4 on a 500-tree model).
	// Leaf values are still added in tree order.
	sum := m.BaseScore
	nodes, roots, depth, aux := m.nodes, m.roots, m.depth, m.aux
	t := 0
	for ; t+8 <= len(roots); t += 8 {
		i0, i1, i2, i3 := roots[t], roots[t+1], roots[t+2], roots[t+3]
		i4, i5, i6, i7 := roots[t+4], roots[t+5], roots[t+6], roots[t+7]
		d := max(depth[t], depth[t+1], depth[t+2], depth[t+3], depth[t+4], depth[t+5], depth[t+6], depth[t+7])
		for s := d; s > 0; s-- {
			n0, n1, n2, n3 := &nodes[i0], &nodes[i1], &nodes[i2], &nodes[i3]
			n4, n5, n6, n7 := &nodes[i4], &nodes[i5], &nodes[i6], &nodes[i7]
			i0 = stepNum(n0, row[n0.ff&featMask])
			i1 = stepNum(n1, row[n1.ff&featMask])
			i2 = stepNum(n2, row[n2.ff&featMask])
			i3 = stepNum(n3, row[n3.ff&featMask])
			i4 = stepNum(n4, row[n4.ff&featMask])
			i5 = stepNum(n5, row[n5.ff&featMask])
			i6 = stepNum(n6, row[n6.ff&featMask])
			i7 = stepNum(n7, row[n7.ff&featMask])
		}
		sum = addLeaves8(sum, aux, i0, i1, i2, i3, i4, i5, i6, i7)
	}
	for ; t < len(roots); t++ {
		i := roots[t]
		for s := depth[t]; s > 0; s-- {
			n := &nodes[i]
			i = stepNum(n, row[n.ff&featMask])
		}
		sum += math.Float32frombits(aux[i])
	}
	return sum
}

// addLeaves8 adds the values of eight leaves to sum, one after the other
// (the order of float32 additions fixes the result).
func addLeaves8(sum float32, aux []uint32, i0, i1, i2, i3, i4, i5, i6, i7 int32) float32 {
	for _, i := range [8]int32{i0, i1, i2, i3, i4, i5, i6, i7} {
		sum += math.Float32frombits(aux[i])
	}
	return sum
}

// predictNarrow is Predict for a row without missing values of a model
// without categorical splits and at most narrowFeat features.
func (m *Model) predictNarrow(row *[narrowFeat]float32) float32 {
	sum := m.BaseScore
	nodes, roots, depth, aux := m.nodes, m.roots, m.depth, m.aux
	t := 0
	for ; t+8 <= len(roots); t += 8 {
		dd := depth[t : t+8]
		d := max(dd[0], dd[1], dd[2], dd[3], dd[4], dd[5], dd[6], dd[7])
		i0, i1, i2, i3, i4, i5, i6, i7 := walk8Trees(nodes, row, (*[8]int32)(roots[t:t+8]), d)
		sum = addLeaves8(sum, aux, i0, i1, i2, i3, i4, i5, i6, i7)
	}
	for ; t < len(roots); t++ {
		i := roots[t]
		for s := depth[t]; s > 0; s-- {
			n := &nodes[i]
			i = n.left + b2i(row[n.ff&(narrowFeat-1)] >= n.thresh)
		}
		sum += math.Float32frombits(aux[i])
	}
	return sum
}

// walk8Trees is walk8 for one row (without missing values) and eight
// trees: it walks d steps down from each root and returns the leaves.
//
//go:noinline
func walk8Trees(nodes []pnode, r *[narrowFeat]float32, roots *[8]int32, d int32) (i0, i1, i2, i3, i4, i5, i6, i7 int32) {
	i0, i1, i2, i3, i4, i5, i6, i7 = roots[0], roots[1], roots[2], roots[3], roots[4], roots[5], roots[6], roots[7]
	for s := d; s > 0; s-- {
		n0, n1, n2, n3 := &nodes[i0], &nodes[i1], &nodes[i2], &nodes[i3]
		n4, n5, n6, n7 := &nodes[i4], &nodes[i5], &nodes[i6], &nodes[i7]
		i0 = n0.left + b2i(r[n0.ff&(narrowFeat-1)] >= n0.thresh)
		i1 = n1.left + b2i(r[n1.ff&(narrowFeat-1)] >= n1.thresh)
		i2 = n2.left + b2i(r[n2.ff&(narrowFeat-1)] >= n2.thresh)
		i3 = n3.left + b2i(r[n3.ff&(narrowFeat-1)] >= n3.thresh)
		i4 = n4.left + b2i(r[n4.ff&(narrowFeat-1)] >= n4.thresh)
		i5 = n5.left + b2i(r[n5.ff&(narrowFeat-1)] >= n5.thresh)
		i6 = n6.left + b2i(r[n6.ff&(narrowFeat-1)] >= n6.thresh)
		i7 = n7.left + b2i(r[n7.ff&(narrowFeat-1)] >= n7.thresh)
	}
	return
}

// predictCat is Predict for models with categorical splits: the same
// eight-way walk with a test for categorical nodes.
func (m *Model) predictCat(row []float32) float32 {
	sum := m.BaseScore
	nodes, roots, depth, aux := m.nodes, m.roots, m.depth, m.aux
	t := 0
	for ; t+8 <= len(roots); t += 8 {
		i0, i1, i2, i3 := roots[t], roots[t+1], roots[t+2], roots[t+3]
		i4, i5, i6, i7 := roots[t+4], roots[t+5], roots[t+6], roots[t+7]
		d := max(depth[t], depth[t+1], depth[t+2], depth[t+3], depth[t+4], depth[t+5], depth[t+6], depth[t+7])
		for s := d; s > 0; s-- {
			n0, n1, n2, n3 := &nodes[i0], &nodes[i1], &nodes[i2], &nodes[i3]
			n4, n5, n6, n7 := &nodes[i4], &nodes[i5], &nodes[i6], &nodes[i7]
			if x := row[n0.ff&featMask]; n0.ff&flagCat == 0 {
				i0 = stepNum(n0, x)
			} else {
				i0 = m.stepCat(n0, i0, x)
			}
			if x := row[n1.ff&featMask]; n1.ff&flagCat == 0 {
				i1 = stepNum(n1, x)
			} else {
				i1 = m.stepCat(n1, i1, x)
			}
			if x := row[n2.ff&featMask]; n2.ff&flagCat == 0 {
				i2 = stepNum(n2, x)
			} else {
				i2 = m.stepCat(n2, i2, x)
			}
			if x := row[n3.ff&featMask]; n3.ff&flagCat == 0 {
				i3 = stepNum(n3, x)
			} else {
				i3 = m.stepCat(n3, i3, x)
			}
			if x := row[n4.ff&featMask]; n4.ff&flagCat == 0 {
				i4 = stepNum(n4, x)
			} else {
				i4 = m.stepCat(n4, i4, x)
			}
			if x := row[n5.ff&featMask]; n5.ff&flagCat == 0 {
				i5 = stepNum(n5, x)
			} else {
				i5 = m.stepCat(n5, i5, x)
			}
			if x := row[n6.ff&featMask]; n6.ff&flagCat == 0 {
				i6 = stepNum(n6, x)
			} else {
				i6 = m.stepCat(n6, i6, x)
			}
			if x := row[n7.ff&featMask]; n7.ff&flagCat == 0 {
				i7 = stepNum(n7, x)
			} else {
				i7 = m.stepCat(n7, i7, x)
			}
		}
		sum = addLeaves8(sum, aux, i0, i1, i2, i3, i4, i5, i6, i7)
	}
	for ; t < len(roots); t++ {
		i := roots[t]
		for s := depth[t]; s > 0; s-- {
			n := &nodes[i]
			x := row[n.ff&featMask]
			if n.ff&flagCat != 0 {
				i = m.stepCat(n, i, x)
			} else {
				i = stepNum(n, x)
			}
		}
		sum += math.Float32frombits(aux[i])
	}
	return sum
}

// treeValueCols returns the leaf value of tree ti for row i of a
// column-major matrix.
func (m *Model) treeValueCols(ti int, cols [][]float32, r int) float32 {
	nodes := m.nodes
	i := m.roots[ti]
	for s := m.depth[ti]; s > 0; s-- {
		n := &nodes[i]
		x := cols[n.ff&featMask][r]
		if n.ff&flagCat != 0 {
			i = m.stepCat(n, i, x)
		} else {
			i = stepNum(n, x)
		}
	}
	return math.Float32frombits(m.aux[i])
}

// predictBlock is the batch kernel for rows [lo, hi) of cols. The block is
// first copied row-major into buf, so a node's feature load is one indexed
// load from a few kilobytes in L1; then trees are the outer loop so one
// tree's nodes stay in cache for the whole block, and the walks of
// consecutive rows are independent chains the CPU overlaps. acc[k]
// accumulates row lo+k in float32, tree by tree, like Predict, so batch and
// single-row predictions are bit-identical.
func (m *Model) predictBlock(cols [][]float32, lo, hi int, acc, buf []float32) {
	nf := len(m.names)
	nr := hi - lo
	buf = buf[:nr*nf]
	for f := 0; f < nf; f++ {
		c := cols[f][lo:hi]
		for k, v := range c {
			buf[k*nf+f] = v
		}
	}
	acc = acc[:nr]
	for k := range acc {
		acc[k] = m.BaseScore
	}
	nodes, aux := m.nodes, m.aux
	for t, root := range m.roots {
		d := m.depth[t]
		k := 0
		if !m.hasCat {
			// Eight rows in lockstep: independent load chains (see Predict).
			// (A loop over an array of eight indexes measured 2x slower.)
			for ; k+8 <= nr; k += 8 {
				r := buf[k*nf : (k+8)*nf]
				i0, i1, i2, i3, i4, i5, i6, i7 := root, root, root, root, root, root, root, root
				for s := d; s > 0; s-- {
					n0, n1, n2, n3 := &nodes[i0], &nodes[i1], &nodes[i2], &nodes[i3]
					n4, n5, n6, n7 := &nodes[i4], &nodes[i5], &nodes[i6], &nodes[i7]
					i0 = stepNum(n0, r[int(n0.ff&featMask)])
					i1 = stepNum(n1, r[nf+int(n1.ff&featMask)])
					i2 = stepNum(n2, r[2*nf+int(n2.ff&featMask)])
					i3 = stepNum(n3, r[3*nf+int(n3.ff&featMask)])
					i4 = stepNum(n4, r[4*nf+int(n4.ff&featMask)])
					i5 = stepNum(n5, r[5*nf+int(n5.ff&featMask)])
					i6 = stepNum(n6, r[6*nf+int(n6.ff&featMask)])
					i7 = stepNum(n7, r[7*nf+int(n7.ff&featMask)])
				}
				a := acc[k : k+8]
				a[0] += math.Float32frombits(aux[i0])
				a[1] += math.Float32frombits(aux[i1])
				a[2] += math.Float32frombits(aux[i2])
				a[3] += math.Float32frombits(aux[i3])
				a[4] += math.Float32frombits(aux[i4])
				a[5] += math.Float32frombits(aux[i5])
				a[6] += math.Float32frombits(aux[i6])
				a[7] += math.Float32frombits(aux[i7])
			}
		} else {
			// The same with a test for categorical splits: a well-predicted
			// branch, but it costs on models without any.
			for ; k+8 <= nr; k += 8 {
				r := buf[k*nf : (k+8)*nf]
				i0, i1, i2, i3, i4, i5, i6, i7 := root, root, root, root, root, root, root, root
				for s := d; s > 0; s-- {
					n0, n1, n2, n3 := &nodes[i0], &nodes[i1], &nodes[i2], &nodes[i3]
					n4, n5, n6, n7 := &nodes[i4], &nodes[i5], &nodes[i6], &nodes[i7]
					if x := r[int(n0.ff&featMask)]; n0.ff&flagCat == 0 {
						i0 = stepNum(n0, x)
					} else {
						i0 = m.stepCat(n0, i0, x)
					}
					if x := r[nf+int(n1.ff&featMask)]; n1.ff&flagCat == 0 {
						i1 = stepNum(n1, x)
					} else {
						i1 = m.stepCat(n1, i1, x)
					}
					if x := r[2*nf+int(n2.ff&featMask)]; n2.ff&flagCat == 0 {
						i2 = stepNum(n2, x)
					} else {
						i2 = m.stepCat(n2, i2, x)
					}
					if x := r[3*nf+int(n3.ff&featMask)]; n3.ff&flagCat == 0 {
						i3 = stepNum(n3, x)
					} else {
						i3 = m.stepCat(n3, i3, x)
					}
					if x := r[4*nf+int(n4.ff&featMask)]; n4.ff&flagCat == 0 {
						i4 = stepNum(n4, x)
					} else {
						i4 = m.stepCat(n4, i4, x)
					}
					if x := r[5*nf+int(n5.ff&featMask)]; n5.ff&flagCat == 0 {
						i5 = stepNum(n5, x)
					} else {
						i5 = m.stepCat(n5, i5, x)
					}
					if x := r[6*nf+int(n6.ff&featMask)]; n6.ff&flagCat == 0 {
						i6 = stepNum(n6, x)
					} else {
						i6 = m.stepCat(n6, i6, x)
					}
					if x := r[7*nf+int(n7.ff&featMask)]; n7.ff&flagCat == 0 {
						i7 = stepNum(n7, x)
					} else {
						i7 = m.stepCat(n7, i7, x)
					}
				}
				a := acc[k : k+8]
				a[0] += math.Float32frombits(aux[i0])
				a[1] += math.Float32frombits(aux[i1])
				a[2] += math.Float32frombits(aux[i2])
				a[3] += math.Float32frombits(aux[i3])
				a[4] += math.Float32frombits(aux[i4])
				a[5] += math.Float32frombits(aux[i5])
				a[6] += math.Float32frombits(aux[i6])
				a[7] += math.Float32frombits(aux[i7])
			}
		}
		for ; k < nr; k++ {
			row := buf[k*nf : k*nf+nf]
			i := root
			for s := d; s > 0; s-- {
				n := &nodes[i]
				x := row[n.ff&featMask]
				if n.ff&flagCat != 0 {
					i = m.stepCat(n, i, x)
				} else {
					i = stepNum(n, x)
				}
			}
			acc[k] += math.Float32frombits(aux[i])
		}
	}
}

// narrowFeat bounds the features of models that predictBatch walks with
// predictBlockNarrow (tripcast's have 14).
const narrowFeat = 16

// narrowRows is eight rows of a narrow block.
type narrowRows = [8][narrowFeat]float32

// predictBlockNarrow is predictBlock for models without categorical splits
// and with at most narrowFeat features, the common case, shaped for fewer
// instructions per step: with a block's rows and a tree's nodes in L1/L2,
// the walks are bound by instruction throughput (~3 ns a step on this
// project's 2-core machines even for a minimal loop), not by memory:
//   - rows have a fixed stride (narrowFeat floats, one cache line), so the
//     feature load rows[j][ff&(narrowFeat-1)] needs no bounds check and no
//     row offset register;
//   - the eight-way walk is a function of its own (walk8), so the register
//     allocator keeps the eight node indexes in registers (inlined into
//     the loop nest they were spilled to the stack, adding a
//     store-to-load forward to every step of every chain);
//   - a block without missing values (the usual case) takes walk8, whose
//     step is one compare; others take walk8NaN.
//
// Measured and dropped: walking the block level by level (all rows one
// step, then the next; no faster), and 8-byte nodes with thresholds as
// order-preserving integer keys and the missing direction folded into the
// row (fewer instructions, but no faster on the real 554-tree model).
//
// Results are bit-identical to Predict: same comparisons, same float32
// sums in tree order.
func (m *Model) predictBlockNarrow(cols [][]float32, lo, hi int, acc []float32, rows [][narrowFeat]float32) {
	nr := hi - lo
	rows = rows[:nr]
	nan := false
	for f := range m.names {
		c := cols[f][lo:hi]
		for k, v := range c {
			rows[k][f] = v
			nan = nan || v != v
		}
	}
	acc = acc[:nr]
	for k := range acc {
		acc[k] = m.BaseScore
	}
	nodes, aux := m.nodes, m.aux
	for t, root := range m.roots {
		d := m.depth[t]
		k := 0
		for ; k+8 <= nr; k += 8 {
			r := (*narrowRows)(rows[k : k+8])
			var i0, i1, i2, i3, i4, i5, i6, i7 int32
			if nan {
				i0, i1, i2, i3, i4, i5, i6, i7 = walk8NaN(nodes, r, root, d)
			} else {
				i0, i1, i2, i3, i4, i5, i6, i7 = walk8(nodes, r, root, d)
			}
			a := acc[k : k+8]
			a[0] += math.Float32frombits(aux[i0])
			a[1] += math.Float32frombits(aux[i1])
			a[2] += math.Float32frombits(aux[i2])
			a[3] += math.Float32frombits(aux[i3])
			a[4] += math.Float32frombits(aux[i4])
			a[5] += math.Float32frombits(aux[i5])
			a[6] += math.Float32frombits(aux[i6])
			a[7] += math.Float32frombits(aux[i7])
		}
		for ; k < nr; k++ {
			row := &rows[k]
			i := root
			for s := d; s > 0; s-- {
				n := &nodes[i]
				i = stepNum(n, row[n.ff&(narrowFeat-1)])
			}
			acc[k] += math.Float32frombits(aux[i])
		}
	}
}

// walk8 walks eight rows without missing values d steps down from root and
// returns their leaves. The step is left + (x >= threshold): a leaf's NaN
// threshold compares false, so a walk that reached its leaf stays there.
//
//go:noinline
func walk8(nodes []pnode, r *narrowRows, root, d int32) (i0, i1, i2, i3, i4, i5, i6, i7 int32) {
	i0, i1, i2, i3, i4, i5, i6, i7 = root, root, root, root, root, root, root, root
	for s := d; s > 0; s-- {
		n0, n1, n2, n3 := &nodes[i0], &nodes[i1], &nodes[i2], &nodes[i3]
		n4, n5, n6, n7 := &nodes[i4], &nodes[i5], &nodes[i6], &nodes[i7]
		i0 = n0.left + b2i(r[0][n0.ff&(narrowFeat-1)] >= n0.thresh)
		i1 = n1.left + b2i(r[1][n1.ff&(narrowFeat-1)] >= n1.thresh)
		i2 = n2.left + b2i(r[2][n2.ff&(narrowFeat-1)] >= n2.thresh)
		i3 = n3.left + b2i(r[3][n3.ff&(narrowFeat-1)] >= n3.thresh)
		i4 = n4.left + b2i(r[4][n4.ff&(narrowFeat-1)] >= n4.thresh)
		i5 = n5.left + b2i(r[5][n5.ff&(narrowFeat-1)] >= n5.thresh)
		i6 = n6.left + b2i(r[6][n6.ff&(narrowFeat-1)] >= n6.thresh)
		i7 = n7.left + b2i(r[7][n7.ff&(narrowFeat-1)] >= n7.thresh)
	}
	return
}

// walk8NaN is walk8 for rows that may have missing values (stepNum).
//
//go:noinline
func walk8NaN(nodes []pnode, r *narrowRows, root, d int32) (i0, i1, i2, i3, i4, i5, i6, i7 int32) {
	i0, i1, i2, i3, i4, i5, i6, i7 = root, root, root, root, root, root, root, root
	for s := d; s > 0; s-- {
		n0, n1, n2, n3 := &nodes[i0], &nodes[i1], &nodes[i2], &nodes[i3]
		n4, n5, n6, n7 := &nodes[i4], &nodes[i5], &nodes[i6], &nodes[i7]
		i0 = stepNum(n0, r[0][n0.ff&(narrowFeat-1)])
		i1 = stepNum(n1, r[1][n1.ff&(narrowFeat-1)])
		i2 = stepNum(n2, r[2][n2.ff&(narrowFeat-1)])
		i3 = stepNum(n3, r[3][n3.ff&(narrowFeat-1)])
		i4 = stepNum(n4, r[4][n4.ff&(narrowFeat-1)])
		i5 = stepNum(n5, r[5][n5.ff&(narrowFeat-1)])
		i6 = stepNum(n6, r[6][n6.ff&(narrowFeat-1)])
		i7 = stepNum(n7, r[7][n7.ff&(narrowFeat-1)])
	}
	return
}

// batchBlock is the number of rows a worker predicts at a time: its
// row-major copy (batchBlock × features × 4 bytes) stays in L1.
const batchBlock = 256

// PredictBatch writes the prediction of every row of the column-major
// matrix cols (cols[f][i], NaN = missing; at least NumFeatures columns of
// len(out) rows) into out, on all cores. It panics if the shapes differ.
func (m *Model) PredictBatch(cols [][]float32, out []float32) {
	m.predictBatch(cols, out, 0)
}

func (m *Model) predictBatch(cols [][]float32, out []float32, nthread int) {
	if len(cols) < len(m.names) {
		panic(fmt.Sprintf("gbdt: PredictBatch got %d columns, want %d", len(cols), len(m.names)))
	}
	n := len(out)
	for f := range m.names {
		if len(cols[f]) != n {
			panic(fmt.Sprintf("gbdt: PredictBatch column %d has %d rows, want %d", f, len(cols[f]), n))
		}
	}
	nblocks := (n + batchBlock - 1) / batchBlock
	if nthread <= 0 {
		nthread = runtime.GOMAXPROCS(0)
	}
	nthread = max(1, min(nthread, nblocks))
	// One row-major buffer per worker; workers take blocks in turn.
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < nthread; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			narrow := !m.hasCat && len(m.names) <= narrowFeat
			var buf []float32
			var rows [][narrowFeat]float32
			if narrow {
				rows = make([][narrowFeat]float32, batchBlock)
			} else {
				buf = make([]float32, batchBlock*len(m.names))
			}
			for {
				b := int(next.Add(1) - 1)
				if b >= nblocks {
					return
				}
				lo := b * batchBlock
				hi := min(lo+batchBlock, n)
				if narrow {
					m.predictBlockNarrow(cols, lo, hi, out[lo:hi], rows)
				} else {
					m.predictBlock(cols, lo, hi, out[lo:hi], buf)
				}
			}
		}()
	}
	wg.Wait()
}

// parallelFor runs fn(0..n-1) on nthread goroutines (0 = GOMAXPROCS),
// handing out indexes in order. Results must not depend on which goroutine
// ran which index: callers write to disjoint outputs.
func parallelFor(n, nthread int, fn func(i int)) {
	if nthread <= 0 {
		nthread = runtime.GOMAXPROCS(0)
	}
	nthread = min(nthread, n)
	if nthread <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < nthread; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				fn(int(i))
			}
		}()
	}
	wg.Wait()
}
