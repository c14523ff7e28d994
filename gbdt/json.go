package gbdt

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"tripcast/internal/atomicfile"
	"tripcast/internal/jsonscan"
)

// The model file is XGBoost's JSON model schema (as written by XGBoost 1.7's
// Booster.save_model("m.json")), so XGBoost loads tripcast's models and
// tripcast loads XGBoost's. tripcast's own metadata lives in
// learner.attributes, a string map XGBoost keeps as is.

type xgbFile struct {
	Learner *xgbLearner `json:"learner"`
	Version []int       `json:"version"`
}

type xgbLearner struct {
	Attributes        map[string]string `json:"attributes"`
	FeatureNames      []string          `json:"feature_names"`
	FeatureTypes      []string          `json:"feature_types"`
	GradientBooster   *xgbBooster       `json:"gradient_booster"`
	LearnerModelParam map[string]string `json:"learner_model_param"`
	Objective         *xgbObjective     `json:"objective"`
}

type xgbObjective struct {
	Name         string            `json:"name"`
	RegLossParam map[string]string `json:"reg_loss_param,omitempty"`
}

type xgbBooster struct {
	Model *xgbGBTree `json:"model"`
	Name  string     `json:"name"`
}

type xgbGBTree struct {
	GBTreeModelParam map[string]string `json:"gbtree_model_param"`
	IterationIndptr  *numArr           `json:"iteration_indptr,omitempty"`
	TreeInfo         numArr            `json:"tree_info"`
	Trees            []*xgbTree        `json:"trees"`
}

type xgbTree struct {
	BaseWeights        numArr            `json:"base_weights"`
	Categories         numArr            `json:"categories"`
	CategoriesNodes    numArr            `json:"categories_nodes"`
	CategoriesSegments numArr            `json:"categories_segments"`
	CategoriesSizes    numArr            `json:"categories_sizes"`
	DefaultLeft        numArr            `json:"default_left"`
	ID                 int               `json:"id"`
	LeftChildren       numArr            `json:"left_children"`
	LossChanges        numArr            `json:"loss_changes"`
	Parents            numArr            `json:"parents"`
	RightChildren      numArr            `json:"right_children"`
	SplitConditions    numArr            `json:"split_conditions"`
	SplitIndices       numArr            `json:"split_indices"`
	SplitType          numArr            `json:"split_type"`
	SumHessian         numArr            `json:"sum_hessian"`
	TreeParam          map[string]string `json:"tree_param"`
}

// numArr is a JSON array of numbers as XGBoost writes them: numbers,
// NaN/Infinity (which XGBoost emits, bare, and encoding/json does not
// accept; see jsonParser.numArr) and, for default_left in some versions,
// booleans.
// present records whether the key was in the file.
type numArr struct {
	v       []float64
	f32     []float32 // when set, written instead of v (float32 shortest form)
	ints    []int64   // when set, written instead of v
	present bool
}

func (a numArr) MarshalJSON() ([]byte, error) {
	var buf []byte
	buf = append(buf, '[')
	switch {
	case a.ints != nil:
		for i, v := range a.ints {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendInt(buf, v, 10)
		}
	case a.f32 != nil:
		for i, v := range a.f32 {
			if i > 0 {
				buf = append(buf, ',')
			}
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("non-finite value %v", v)
			}
			buf = strconv.AppendFloat(buf, float64(v), 'E', -1, 32)
		}
	default:
		for i, v := range a.v {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendFloat(buf, v, 'g', -1, 64)
		}
	}
	return append(buf, ']'), nil
}

// WriteJSON writes the model in XGBoost's JSON model schema (version 1.7),
// with m.Attributes under learner.attributes.
func (m *Model) WriteJSON(w io.Writer) error {
	nf := len(m.names)
	types := make([]string, nf)
	for f := range types {
		types[f] = "float"
		if m.cat[f] {
			types[f] = "c"
		}
	}
	attrs := m.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	gb := &xgbGBTree{
		GBTreeModelParam: map[string]string{
			"num_parallel_tree": "1",
			"num_trees":         strconv.Itoa(len(m.trees)),
			"size_leaf_vector":  "0",
		},
		TreeInfo: numArr{ints: make([]int64, len(m.trees))},
		Trees:    make([]*xgbTree, len(m.trees)),
	}
	for ti := range m.trees {
		gb.Trees[ti] = m.trees[ti].toXGB(ti, nf)
	}
	doc := xgbFile{
		Version: []int{1, 7, 4},
		Learner: &xgbLearner{
			Attributes:      attrs,
			FeatureNames:    m.names,
			FeatureTypes:    types,
			GradientBooster: &xgbBooster{Name: "gbtree", Model: gb},
			LearnerModelParam: map[string]string{
				"base_score":         strconv.FormatFloat(float64(m.BaseScore), 'E', -1, 32),
				"boost_from_average": "1",
				"num_class":          "0",
				"num_feature":        strconv.Itoa(nf),
				"num_target":         "1",
			},
			Objective: &xgbObjective{Name: "reg:squarederror", RegLossParam: map[string]string{"scale_pos_weight": "1"}},
		},
	}
	bw := bufio.NewWriter(w)
	if err := json.NewEncoder(bw).Encode(doc); err != nil {
		return fmt.Errorf("write model json: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write model json: %w", err)
	}
	return nil
}

func (t *tree) toXGB(id, nf int) *xgbTree {
	n := t.numNodes()
	x := &xgbTree{
		ID:                 id,
		BaseWeights:        numArr{f32: t.baseWeight},
		LossChanges:        numArr{f32: t.lossChange},
		SumHessian:         numArr{f32: t.sumHess},
		SplitConditions:    numArr{f32: t.cond},
		Categories:         numArr{ints: []int64{}},
		CategoriesNodes:    numArr{ints: []int64{}},
		CategoriesSegments: numArr{ints: []int64{}},
		CategoriesSizes:    numArr{ints: []int64{}},
		TreeParam: map[string]string{
			"num_deleted":      "0",
			"num_feature":      strconv.Itoa(nf),
			"num_nodes":        strconv.Itoa(n),
			"size_leaf_vector": "0",
		},
	}
	i32 := func(s []int32) numArr {
		o := make([]int64, len(s))
		for i, v := range s {
			o[i] = int64(v)
		}
		return numArr{ints: o}
	}
	x.LeftChildren = i32(t.left)
	x.RightChildren = i32(t.right)
	x.Parents = i32(t.parent)
	x.SplitIndices = i32(t.feature)
	dl := make([]int64, n)
	st := make([]int64, n)
	for i := 0; i < n; i++ {
		if t.defaultLeft[i] {
			dl[i] = 1
		}
		if t.catSplit[i] {
			st[i] = 1
			x.CategoriesNodes.ints = append(x.CategoriesNodes.ints, int64(i))
			x.CategoriesSegments.ints = append(x.CategoriesSegments.ints, int64(len(x.Categories.ints)))
			x.CategoriesSizes.ints = append(x.CategoriesSizes.ints, int64(len(t.cats[i])))
			for _, c := range t.cats[i] {
				x.Categories.ints = append(x.Categories.ints, int64(c))
			}
		}
	}
	x.DefaultLeft = numArr{ints: dl}
	x.SplitType = numArr{ints: st}
	return x
}

// ReadJSON reads a model in XGBoost's JSON model schema, as written by
// WriteJSON or by XGBoost 1.x/2.x's save_model (gbtree booster, a
// regression objective with identity link). Malformed or unsupported files
// are rejected with an error that says what is wrong.
func ReadJSON(r io.Reader) (*Model, error) {
	b, err := readAll(r)
	if err != nil {
		return nil, fmt.Errorf("read model json: %w", err)
	}
	return readJSON(b)
}

// readAll is io.ReadAll sized up front when r knows its length (a
// bytes.Reader or bytes.Buffer): a 12 MB model is then read with one
// allocation and no copying.
func readAll(r io.Reader) ([]byte, error) {
	l, ok := r.(interface{ Len() int })
	if !ok {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, l.Len()+1) // +1: room to see io.EOF without growing
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

func readJSON(b []byte) (*Model, error) {
	doc, err := parseModelJSON(b)
	if err != nil {
		return nil, fmt.Errorf("read model json: %w", err)
	}
	m, err := doc.model()
	if err != nil {
		return nil, fmt.Errorf("read model json: %w", err)
	}
	return m, nil
}

func (doc *xgbFile) model() (*Model, error) {
	if doc.Learner == nil {
		return nil, fmt.Errorf("missing key learner (not an XGBoost JSON model)")
	}
	if len(doc.Version) == 0 {
		return nil, fmt.Errorf("missing key version")
	}
	l := doc.Learner
	if l.GradientBooster == nil {
		return nil, fmt.Errorf("missing key learner.gradient_booster")
	}
	if name := l.GradientBooster.Name; name != "gbtree" {
		return nil, fmt.Errorf("unsupported booster %q (only gbtree)", name)
	}
	if l.Objective == nil {
		return nil, fmt.Errorf("missing key learner.objective")
	}
	switch l.Objective.Name {
	case "reg:squarederror", "reg:linear", "reg:pseudohubererror", "reg:absoluteerror", "reg:quantileerror":
	default:
		return nil, fmt.Errorf("unsupported objective %q (only regression objectives with an identity link)", l.Objective.Name)
	}
	if l.LearnerModelParam == nil {
		return nil, fmt.Errorf("missing key learner.learner_model_param")
	}
	lmp := l.LearnerModelParam
	for _, k := range []string{"num_class", "num_target"} {
		if v, ok := lmp[k]; ok && v != "0" && v != "1" {
			return nil, fmt.Errorf("unsupported learner_model_param.%s %s (only single-output models)", k, v)
		}
	}
	bsText, ok := lmp["base_score"]
	if !ok {
		return nil, fmt.Errorf("missing key learner.learner_model_param.base_score")
	}
	// XGBoost 2.x writes a vector: "[5.4E0]".
	bsText = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(bsText), "["), "]")
	bs, err := strconv.ParseFloat(bsText, 32)
	if err != nil {
		return nil, fmt.Errorf("learner_model_param.base_score %q is not a number", lmp["base_score"])
	}
	nf := 0
	if v, ok := lmp["num_feature"]; ok {
		nf, err = strconv.Atoi(v)
		if err != nil || nf < 0 {
			return nil, fmt.Errorf("learner_model_param.num_feature %q is not a count", v)
		}
	}
	if len(l.FeatureNames) > 0 {
		if nf != 0 && len(l.FeatureNames) != nf {
			return nil, fmt.Errorf("feature_names has %d names, num_feature is %d", len(l.FeatureNames), nf)
		}
		nf = len(l.FeatureNames)
	}
	if len(l.FeatureTypes) > 0 && len(l.FeatureTypes) != nf {
		return nil, fmt.Errorf("feature_types has %d types for %d features", len(l.FeatureTypes), nf)
	}
	m := &Model{Attributes: l.Attributes, BaseScore: float32(bs), names: l.FeatureNames, cat: make([]bool, nf)}
	if m.Attributes == nil {
		m.Attributes = map[string]string{}
	}
	if len(m.names) == 0 {
		m.names = make([]string, nf)
		for f := range m.names {
			m.names[f] = "f" + strconv.Itoa(f)
		}
	}
	for f, ty := range l.FeatureTypes {
		switch ty {
		case "c":
			m.cat[f] = true
		case "float", "q", "int", "i":
		default:
			return nil, fmt.Errorf("feature_types[%d]: unsupported feature type %q", f, ty)
		}
	}
	gb := l.GradientBooster.Model
	if gb == nil {
		return nil, fmt.Errorf("missing key learner.gradient_booster.model")
	}
	if gb.Trees == nil {
		return nil, fmt.Errorf("missing key learner.gradient_booster.model.trees")
	}
	if v, ok := gb.GBTreeModelParam["num_trees"]; ok {
		if k, err := strconv.Atoi(v); err != nil || k != len(gb.Trees) {
			return nil, fmt.Errorf("gbtree_model_param.num_trees is %q but there are %d trees", v, len(gb.Trees))
		}
	}
	if gb.TreeInfo.present && len(gb.TreeInfo.v) != len(gb.Trees) {
		return nil, fmt.Errorf("tree_info has %d entries for %d trees", len(gb.TreeInfo.v), len(gb.Trees))
	}
	for i, g := range gb.TreeInfo.v {
		if g != 0 {
			return nil, fmt.Errorf("tree_info[%d] is %v: unsupported multi-class model", i, g)
		}
	}
	if gb.IterationIndptr != nil {
		ip := gb.IterationIndptr.v
		if len(ip) == 0 || ip[0] != 0 || ip[len(ip)-1] != float64(len(gb.Trees)) {
			return nil, fmt.Errorf("iteration_indptr %v does not cover the %d trees", ip, len(gb.Trees))
		}
		for i := 1; i < len(ip); i++ {
			if ip[i] < ip[i-1] {
				return nil, fmt.Errorf("iteration_indptr is not ascending at %d", i)
			}
		}
	}
	m.trees = make([]tree, len(gb.Trees))
	for ti, xt := range gb.Trees {
		if xt == nil {
			return nil, fmt.Errorf("trees[%d] is null", ti)
		}
		t, err := xt.tree(nf, m.cat)
		if err != nil {
			return nil, fmt.Errorf("trees[%d]: %w", ti, err)
		}
		m.trees[ti] = t
	}
	m.compile()
	return m, nil
}

func (x *xgbTree) tree(nf int, catFeat []bool) (tree, error) {
	var t tree
	req := []struct {
		name string
		a    *numArr
	}{
		{"left_children", &x.LeftChildren}, {"right_children", &x.RightChildren},
		{"split_indices", &x.SplitIndices}, {"split_conditions", &x.SplitConditions},
		{"default_left", &x.DefaultLeft},
	}
	for _, r := range req {
		if !r.a.present {
			return t, fmt.Errorf("missing key %s", r.name)
		}
	}
	n := len(x.LeftChildren.v)
	if n == 0 {
		return t, fmt.Errorf("tree has no nodes")
	}
	if v, ok := x.TreeParam["num_nodes"]; ok {
		if k, err := strconv.Atoi(v); err != nil || k != n {
			return t, fmt.Errorf("tree_param.num_nodes is %q but left_children has %d entries", v, n)
		}
	}
	opt := []struct {
		name string
		a    *numArr
	}{
		{"parents", &x.Parents}, {"base_weights", &x.BaseWeights}, {"loss_changes", &x.LossChanges},
		{"sum_hessian", &x.SumHessian}, {"split_type", &x.SplitType},
	}
	for _, r := range append(req, opt...) {
		if r.a.present && len(r.a.v) != n {
			return t, fmt.Errorf("%s has %d entries, want %d (left_children)", r.name, len(r.a.v), n)
		}
	}
	intAt := func(name string, a *numArr, i int) (int64, error) {
		v := a.v[i]
		if v != math.Trunc(v) || math.Abs(v) > math.MaxInt32 {
			return 0, fmt.Errorf("%s[%d] is %v, want an integer", name, i, v)
		}
		return int64(v), nil
	}
	f32 := func(a *numArr, i int) float32 {
		if a.present {
			return float32(a.v[i])
		}
		return 0
	}
	// The node arrays share three allocations (capacity-limited, so an
	// append never runs into a neighbour): loading allocates per tree, not
	// per array.
	i32s := make([]int32, 4*n)
	f32s := make([]float32, 4*n)
	bools := make([]bool, 2*n)
	t.left, t.right, t.parent, t.feature = i32s[:n:n], i32s[n:2*n:2*n], i32s[2*n:3*n:3*n], i32s[3*n:]
	t.cond, t.baseWeight, t.lossChange, t.sumHess = f32s[:n:n], f32s[n:2*n:2*n], f32s[2*n:3*n:3*n], f32s[3*n:]
	t.defaultLeft, t.catSplit = bools[:n:n], bools[n:]
	t.cats = make([][]int32, n)
	for i := 0; i < n; i++ {
		l, err := intAt("left_children", &x.LeftChildren, i)
		if err != nil {
			return t, err
		}
		r, err := intAt("right_children", &x.RightChildren, i)
		if err != nil {
			return t, err
		}
		if (l < 0) != (r < 0) || l < -1 || r < -1 || l >= int64(n) || r >= int64(n) {
			return t, fmt.Errorf("node %d: child index out of range (left %d, right %d, %d nodes)", i, l, r, n)
		}
		if l >= 0 && (l == 0 || r == 0 || l == r) {
			return t, fmt.Errorf("node %d: invalid children (left %d, right %d)", i, l, r)
		}
		fi, err := intAt("split_indices", &x.SplitIndices, i)
		if err != nil {
			return t, err
		}
		if l >= 0 && (fi < 0 || fi >= int64(nf)) {
			return t, fmt.Errorf("node %d: split_indices %d out of range (%d features)", i, fi, nf)
		}
		par := int64(math.MaxInt32)
		if x.Parents.present {
			if par, err = intAt("parents", &x.Parents, i); err != nil {
				return t, err
			}
		}
		cond := float32(x.SplitConditions.v[i])
		st := int64(0)
		if x.SplitType.present {
			if st, err = intAt("split_type", &x.SplitType, i); err != nil {
				return t, err
			}
			if st != 0 && st != 1 {
				return t, fmt.Errorf("node %d: unknown split_type %d", i, st)
			}
		}
		if l < 0 {
			st = 0
			if math.IsNaN(float64(cond)) || math.IsInf(float64(cond), 0) {
				return t, fmt.Errorf("node %d: leaf value is %v", i, cond)
			}
		} else if st == 0 && math.IsNaN(float64(cond)) {
			return t, fmt.Errorf("node %d: split condition is NaN", i)
		}
		t.left[i] = int32(l)
		t.right[i] = int32(r)
		t.parent[i] = int32(par)
		t.feature[i] = int32(max(fi, 0))
		t.cond[i] = cond
		t.defaultLeft[i] = x.DefaultLeft.v[i] != 0
		t.baseWeight[i] = f32(&x.BaseWeights, i)
		t.lossChange[i] = f32(&x.LossChanges, i)
		t.sumHess[i] = f32(&x.SumHessian, i)
		t.catSplit[i] = st == 1
	}
	// Categorical splits.
	cn, cseg, csz, cats := x.CategoriesNodes.v, x.CategoriesSegments.v, x.CategoriesSizes.v, x.Categories.v
	if len(cseg) != len(cn) || len(csz) != len(cn) {
		return t, fmt.Errorf("categories_nodes, categories_segments and categories_sizes have %d, %d and %d entries", len(cn), len(cseg), len(csz))
	}
	for k := range cn {
		id, seg, sz := cn[k], cseg[k], csz[k]
		if id != math.Trunc(id) || id < 0 || id >= float64(n) || t.left[int(id)] < 0 || !t.catSplit[int(id)] {
			return t, fmt.Errorf("categories_nodes[%d] = %v is not a categorical split node", k, id)
		}
		if seg < 0 || sz < 0 || seg != math.Trunc(seg) || sz != math.Trunc(sz) || seg+sz > float64(len(cats)) {
			return t, fmt.Errorf("categories segment %d (offset %v, size %v) is outside categories (%d entries)", k, seg, sz, len(cats))
		}
		set := make([]int32, 0, int(sz))
		for _, c := range cats[int(seg):int(seg+sz)] {
			if c < 0 || c >= maxCat || c != math.Trunc(c) {
				return t, fmt.Errorf("node %v: category %v is not a category code", id, c)
			}
			set = append(set, int32(c))
		}
		sort.Slice(set, func(i, j int) bool { return set[i] < set[j] })
		t.cats[int(id)] = set
	}
	for i := 0; i < n; i++ {
		if t.catSplit[i] && t.cats[i] == nil {
			return t, fmt.Errorf("node %d: categorical split without categories", i)
		}
		if t.catSplit[i] && !catFeat[t.feature[i]] {
			// XGBoost trusts the tree; so do we, but the feature must be read as a category code.
			catFeat[t.feature[i]] = true
		}
	}
	// Every node must be reached at most once from the root: no cycles, no
	// shared children.
	seen := make([]bool, n)
	stack := []int32{0}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[i] {
			return t, fmt.Errorf("node %d is reached twice (cycle or shared child)", i)
		}
		seen[i] = true
		if t.left[i] >= 0 {
			stack = append(stack, t.left[i], t.right[i])
		}
	}
	return t, nil
}

// SaveFile writes the model to path (XGBoost JSON), atomically: a reader
// never sees a half-written file.
func (m *Model) SaveFile(path string) error {
	err := atomicfile.Write(path, func(f *os.File) error {
		if err := f.Chmod(0o644); err != nil {
			return err
		}
		return m.WriteJSON(f)
	})
	if err != nil {
		return fmt.Errorf("save model %s: %w", path, err)
	}
	return nil
}

// LoadFile reads a model file written by SaveFile or by XGBoost's
// save_model (JSON).
func LoadFile(path string) (*Model, error) {
	b, err := os.ReadFile(path) // sized from Stat: one read, no regrowth
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	m, err := readJSON(b)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	return m, nil
}

// Reading is a single pass over the document by jsonParser, a small
// recursive-descent walker over jsonscan's scanner that fills the xgb*
// structs directly.
// encoding/json cost ~0.5 s on a 12 MB model: Unmarshal first validates
// the whole input, then decodes it again through reflection, and every
// numeric array went through numArr.UnmarshalJSON (one more scan, one
// string per number). Here each byte is looked at once, the numeric arrays
// (nearly all of the file) are read by a scanner that converts digits as it
// validates them, and unknown keys are validated and skipped. It accepts
// exactly JSON plus XGBoost's bare NaN, Infinity and -Infinity, and reports
// the offset of a syntax error.

// maxJSONDepth bounds nesting (encoding/json's limit).
const maxJSONDepth = 10000

type jsonParser struct {
	jsonscan.Scanner
	// nums is scratch for the array being read; arena is carved into the
	// final arrays (exact length), so a model costs a few large
	// allocations instead of one per array.
	nums  []float64
	arena []float64
}

func parseModelJSON(b []byte) (*xgbFile, error) {
	p := newParser(b)
	doc := &xgbFile{}
	p.WS()
	if p.null() {
		// Like encoding/json: null leaves the document empty.
	} else if err := p.fields(func(key []byte) error {
		switch string(key) {
		case "learner":
			return p.ptr(func() error {
				if doc.Learner == nil {
					doc.Learner = &xgbLearner{}
				}
				return p.learner(doc.Learner)
			}, "learner")
		case "version":
			return p.intSlice(&doc.Version, "version")
		}
		return p.Skip()
	}, "document"); err != nil {
		return nil, err
	}
	if err := p.End(); err != nil {
		return nil, err
	}
	return doc, nil
}

func newParser(b []byte) *jsonParser {
	return &jsonParser{Scanner: jsonscan.Scanner{B: b, MaxDepth: maxJSONDepth, AllowNonFinite: true}}
}

func (p *jsonParser) learner(l *xgbLearner) error {
	return p.fields(func(key []byte) error {
		switch string(key) {
		case "attributes":
			return p.stringMap(&l.Attributes, "attributes")
		case "feature_names":
			return p.stringSlice(&l.FeatureNames, "feature_names")
		case "feature_types":
			return p.stringSlice(&l.FeatureTypes, "feature_types")
		case "learner_model_param":
			return p.stringMap(&l.LearnerModelParam, "learner_model_param")
		case "gradient_booster":
			return p.ptr(func() error {
				if l.GradientBooster == nil {
					l.GradientBooster = &xgbBooster{}
				}
				gb := l.GradientBooster
				return p.fields(func(key []byte) error {
					switch string(key) {
					case "name":
						return p.stringField(&gb.Name, "gradient_booster.name")
					case "model":
						return p.ptr(func() error {
							if gb.Model == nil {
								gb.Model = &xgbGBTree{}
							}
							return p.gbtree(gb.Model)
						}, "gradient_booster.model")
					}
					return p.Skip()
				}, "gradient_booster")
			}, "gradient_booster")
		case "objective":
			return p.ptr(func() error {
				if l.Objective == nil {
					l.Objective = &xgbObjective{}
				}
				o := l.Objective
				return p.fields(func(key []byte) error {
					switch string(key) {
					case "name":
						return p.stringField(&o.Name, "objective.name")
					case "reg_loss_param":
						return p.stringMap(&o.RegLossParam, "objective.reg_loss_param")
					}
					return p.Skip()
				}, "objective")
			}, "objective")
		}
		return p.Skip()
	}, "learner")
}

func (p *jsonParser) gbtree(g *xgbGBTree) error {
	return p.fields(func(key []byte) error {
		switch string(key) {
		case "gbtree_model_param":
			return p.stringMap(&g.GBTreeModelParam, "gbtree_model_param")
		case "iteration_indptr":
			p.WS()
			if p.null() {
				g.IterationIndptr = nil
				return nil
			}
			if g.IterationIndptr == nil {
				g.IterationIndptr = &numArr{}
			}
			if err := p.numArr(g.IterationIndptr); err != nil {
				return fmt.Errorf("iteration_indptr: %w", err)
			}
			return nil
		case "tree_info":
			if err := p.numArr(&g.TreeInfo); err != nil {
				return fmt.Errorf("tree_info: %w", err)
			}
			return nil
		case "trees":
			p.WS()
			if p.null() {
				g.Trees = nil
				return nil
			}
			g.Trees = g.Trees[:0]
			if g.Trees == nil {
				g.Trees = []*xgbTree{}
			}
			return p.array(func() error {
				t, err := p.treeElem()
				g.Trees = append(g.Trees, t)
				return err
			}, "trees")
		}
		return p.Skip()
	}, "gradient_booster.model")
}

// treeElem parses one element of the trees array: a tree or null.
func (p *jsonParser) treeElem() (*xgbTree, error) {
	p.WS()
	if p.null() {
		return nil, nil
	}
	t := &xgbTree{}
	return t, p.tree(t)
}

func (p *jsonParser) tree(t *xgbTree) error {
	return p.fields(func(key []byte) error {
		var a *numArr
		switch string(key) {
		case "base_weights":
			a = &t.BaseWeights
		case "categories":
			a = &t.Categories
		case "categories_nodes":
			a = &t.CategoriesNodes
		case "categories_segments":
			a = &t.CategoriesSegments
		case "categories_sizes":
			a = &t.CategoriesSizes
		case "default_left":
			a = &t.DefaultLeft
		case "left_children":
			a = &t.LeftChildren
		case "loss_changes":
			a = &t.LossChanges
		case "parents":
			a = &t.Parents
		case "right_children":
			a = &t.RightChildren
		case "split_conditions":
			a = &t.SplitConditions
		case "split_indices":
			a = &t.SplitIndices
		case "split_type":
			a = &t.SplitType
		case "sum_hessian":
			a = &t.SumHessian
		case "id":
			p.WS()
			if p.null() {
				return nil
			}
			v, err := p.number()
			if err != nil {
				return err
			}
			if v != math.Trunc(v) || math.Abs(v) > math.MaxInt32 {
				return fmt.Errorf("tree id %v is not an integer", v)
			}
			t.ID = int(v)
			return nil
		case "tree_param":
			return p.stringMap(&t.TreeParam, "tree_param")
		default:
			return p.Skip()
		}
		if err := p.numArr(a); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return nil
	}, "tree")
}

// typeErr reports a value of the wrong kind for field.
func (p *jsonParser) typeErr(field, want string) error {
	end := min(p.I+40, len(p.B))
	return fmt.Errorf("%s: want %s, got %s", field, want, p.B[p.I:end])
}

func (p *jsonParser) null() bool { return p.Lit("null") }

// ptr parses a value into a pointer field: null leaves it nil (calls
// nothing), anything else is parsed by fn.
func (p *jsonParser) ptr(fn func() error, field string) error {
	p.WS()
	if p.null() {
		return nil
	}
	if p.Peek() != '{' {
		return p.typeErr(field, "an object")
	}
	return fn()
}

// object parses {"key": value, ...}, calling fn with each key (valid until
// the next read) with the parser before the value; fn must consume the
// value.
func (p *jsonParser) object(fn func(key []byte) error, field string) error {
	p.WS()
	if p.Peek() != '{' {
		if p.I >= len(p.B) {
			return p.Err("a value")
		}
		return p.typeErr(field, "an object")
	}
	return p.Object(fn)
}

// fields is object for the xgb* structs: like encoding/json, a key
// matches a field name regardless of case (all of them are lower-case
// ASCII; keys are folded in ASCII only).
func (p *jsonParser) fields(fn func(key []byte) error, field string) error {
	return p.object(func(key []byte) error {
		for _, c := range key {
			if c >= 'A' && c <= 'Z' {
				return fn(bytes.ToLower(key))
			}
		}
		return fn(key)
	}, field)
}

// array parses [value, ...], calling fn before each value; fn must consume
// it.
func (p *jsonParser) array(fn func() error, field string) error {
	p.WS()
	if p.Peek() != '[' {
		if p.I >= len(p.B) {
			return p.Err("a value")
		}
		return p.typeErr(field, "an array")
	}
	return p.Array(fn)
}

// str parses a string value. Strings with escapes (the feature-spec
// attribute: half a megabyte of escaped JSON) or invalid UTF-8 are decoded
// by encoding/json, which handles every escape and replaces bad bytes as
// it always did.
func (p *jsonParser) str() (string, error) {
	start := p.I
	raw, esc, err := p.String()
	if err != nil {
		return "", err
	}
	if !esc && utf8.Valid(raw) {
		return string(raw), nil
	}
	var s string
	if err := json.Unmarshal(p.B[start:p.I], &s); err != nil {
		p.I = start
		return "", fmt.Errorf("string at offset %d: %w", start, err)
	}
	return s, nil
}

// stringValue parses a string-typed value: a string, or (as XGBoost may
// write them bare) NaN, Infinity, -Infinity as their names.
func (p *jsonParser) stringValue(field string) (string, error) {
	p.WS()
	if p.Peek() == '"' {
		return p.str()
	}
	if s, ok := p.NonFinite(); ok {
		return string(s), nil
	}
	return "", p.typeErr(field, "a string")
}

func (p *jsonParser) stringField(dst *string, field string) error {
	p.WS()
	if p.null() {
		return nil
	}
	s, err := p.stringValue(field)
	*dst = s
	return err
}

func (p *jsonParser) stringMap(dst *map[string]string, field string) error {
	p.WS()
	if p.null() {
		*dst = nil
		return nil
	}
	if *dst == nil {
		*dst = map[string]string{}
	}
	m := *dst
	return p.object(func(key []byte) error {
		p.WS()
		if p.null() {
			m[string(key)] = ""
			return nil
		}
		v, err := p.stringValue(field + "." + string(key))
		m[string(key)] = v
		return err
	}, field)
}

func (p *jsonParser) stringSlice(dst *[]string, field string) error {
	p.WS()
	if p.null() {
		*dst = nil
		return nil
	}
	out := []string{}
	err := p.array(func() error {
		p.WS()
		if p.null() {
			out = append(out, "")
			return nil
		}
		s, err := p.stringValue(field)
		out = append(out, s)
		return err
	}, field)
	*dst = out
	return err
}

func (p *jsonParser) intSlice(dst *[]int, field string) error {
	p.WS()
	if p.null() {
		*dst = nil
		return nil
	}
	out := []int{}
	err := p.array(func() error {
		p.WS()
		if p.null() {
			out = append(out, 0) // as encoding/json
			return nil
		}
		v, err := p.number()
		if err != nil {
			return err
		}
		if v != math.Trunc(v) || math.Abs(v) > 1<<53 {
			return fmt.Errorf("%s: %v is not an integer", field, v)
		}
		out = append(out, int(v))
		return nil
	}, field)
	*dst = out
	return err
}

// number parses a JSON number: see jsonscan.Scanner.Number.
func (p *jsonParser) number() (float64, error) {
	start := p.I
	raw, v, err := p.Number()
	if err != nil {
		return 0, err
	}
	if math.IsInf(v, 0) {
		return 0, fmt.Errorf("number %s at offset %d: value out of range", raw, start)
	}
	return v, nil
}

// numArr parses an array of numbers (see numArr) into a.
func (p *jsonParser) numArr(a *numArr) error {
	a.present = true
	p.WS()
	if p.null() {
		a.v = nil
		return nil
	}
	if p.I >= len(p.B) || p.B[p.I] != '[' {
		if p.I >= len(p.B) {
			return p.Err("a value")
		}
		end := min(p.I+40, len(p.B))
		return fmt.Errorf("want an array of numbers, got %s", p.B[p.I:end])
	}
	p.I++
	nums := p.nums[:0]
	p.WS()
	if p.I < len(p.B) && p.B[p.I] == ']' {
		p.I++
		a.v = []float64{}
		return nil
	}
	for {
		p.WS()
		if p.I >= len(p.B) {
			return p.Err("a value")
		}
		var v float64
		switch c := p.B[p.I]; {
		case c == '-' || c >= '0' && c <= '9':
			// Fast path for plain integers, 7 of a tree's 11 arrays
			// (children, parents, split_indices, ...): up to 18 digits,
			// no leading zero, not followed by a fraction or exponent.
			b := p.B
			j := p.I
			if c == '-' {
				j++
			}
			k := j
			var u uint64
			for k < len(b) && k-j < 18 && b[k]-'0' <= 9 {
				u = u*10 + uint64(b[k]-'0')
				k++
			}
			if k > j && (b[j] != '0' || k == j+1) &&
				(k == len(b) || b[k] != '.' && b[k] != 'e' && b[k] != 'E' && b[k]-'0' > 9) {
				p.I = k
				v = float64(u)
				if c == '-' {
					v = -v
				}
				break
			}
			if c == '-' && p.Lit("-Infinity") {
				v = math.Inf(-1)
				break
			}
			var err error
			if v, err = p.number(); err != nil {
				return err
			}
		case p.Lit("true"):
			v = 1
		case p.Lit("false"):
			v = 0
		case p.Lit("NaN") || p.Lit(`"NaN"`):
			v = math.NaN()
		case p.Lit("Infinity") || p.Lit(`"Infinity"`):
			v = math.Inf(1)
		case p.Lit(`"-Infinity"`):
			v = math.Inf(-1)
		default:
			end := min(p.I+40, len(p.B))
			if c == '"' || c == '[' || c == '{' || c == 'n' {
				return fmt.Errorf("want a number, got %s", p.B[p.I:end])
			}
			return p.Err("a value")
		}
		nums = append(nums, v)
		p.WS()
		if p.I >= len(p.B) {
			return p.Err("',' or ']'")
		}
		if c := p.B[p.I]; c == ',' {
			p.I++
			continue
		} else if c != ']' {
			return p.Err("',' or ']'")
		}
		p.I++
		break
	}
	p.nums = nums
	if len(nums) > cap(p.arena)-len(p.arena) {
		// Chunks double up to 512 kB: small documents stay small.
		p.arena = make([]float64, 0, max(len(nums), min(2*cap(p.arena), 1<<16), 256))
	}
	k := len(p.arena)
	p.arena = append(p.arena, nums...)
	a.v = p.arena[k : k+len(nums) : k+len(nums)]
	return nil
}
