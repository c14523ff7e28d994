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

	"tripcast/internal/atomicfile"
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
// NaN/Infinity (which XGBoost emits and encoding/json does not accept; see
// quoteNonFinite) and, for default_left in some versions, booleans.
// present records whether the key was in the file.
type numArr struct {
	v       []float64
	f32     []float32 // when set, written instead of v (float32 shortest form)
	ints    []int64   // when set, written instead of v
	present bool
}

func (a *numArr) UnmarshalJSON(b []byte) error {
	a.present = true
	s := bytes.TrimSpace(b)
	if string(s) == "null" {
		return nil
	}
	if len(s) < 2 || s[0] != '[' || s[len(s)-1] != ']' {
		return fmt.Errorf("want an array of numbers, got %.40s", s)
	}
	s = bytes.TrimSpace(s[1 : len(s)-1])
	if len(s) == 0 {
		a.v = []float64{}
		return nil
	}
	a.v = make([]float64, 0, bytes.Count(s, []byte{','})+1)
	for len(s) > 0 {
		i := bytes.IndexByte(s, ',')
		tok := s
		if i >= 0 {
			tok, s = s[:i], s[i+1:]
		} else {
			s = nil
		}
		tok = bytes.TrimSpace(tok)
		var v float64
		switch string(tok) {
		case "true":
			v = 1
		case "false":
			v = 0
		case `"NaN"`:
			v = math.NaN()
		case `"Infinity"`:
			v = math.Inf(1)
		case `"-Infinity"`:
			v = math.Inf(-1)
		default:
			var err error
			v, err = strconv.ParseFloat(string(tok), 64)
			if err != nil {
				return fmt.Errorf("want a number, got %.40q", tok)
			}
		}
		a.v = append(a.v, v)
	}
	return nil
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

// quoteNonFinite rewrites the bare NaN, Infinity and -Infinity tokens XGBoost
// writes (outside strings) as the strings "NaN", "Infinity", "-Infinity",
// making the document valid JSON for encoding/json; numArr decodes them.
func quoteNonFinite(b []byte) []byte {
	if !bytes.Contains(b, []byte("NaN")) && !bytes.Contains(b, []byte("Infinity")) {
		return b
	}
	out := make([]byte, 0, len(b)+64)
	inStr, esc := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inStr {
			out = append(out, c)
			if esc {
				esc = false
			} else if c == '\\' {
				esc = true
			} else if c == '"' {
				inStr = false
			}
			continue
		}
		switch {
		case c == '"':
			inStr = true
			out = append(out, c)
		case bytes.HasPrefix(b[i:], []byte("NaN")):
			out = append(out, `"NaN"`...)
			i += 2
		case bytes.HasPrefix(b[i:], []byte("Infinity")):
			out = append(out, `"Infinity"`...)
			i += 7
		case bytes.HasPrefix(b[i:], []byte("-Infinity")):
			out = append(out, `"-Infinity"`...)
			i += 8
		default:
			out = append(out, c)
		}
	}
	return out
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
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read model json: %w", err)
	}
	var doc xgbFile
	if err := json.Unmarshal(quoteNonFinite(b), &doc); err != nil {
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
		t.left = append(t.left, int32(l))
		t.right = append(t.right, int32(r))
		t.parent = append(t.parent, int32(par))
		t.feature = append(t.feature, int32(max(fi, 0)))
		t.cond = append(t.cond, cond)
		t.defaultLeft = append(t.defaultLeft, x.DefaultLeft.v[i] != 0)
		t.baseWeight = append(t.baseWeight, f32(&x.BaseWeights, i))
		t.lossChange = append(t.lossChange, f32(&x.LossChanges, i))
		t.sumHess = append(t.sumHess, f32(&x.SumHessian, i))
		t.catSplit = append(t.catSplit, st == 1)
		t.cats = append(t.cats, nil)
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
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	defer f.Close()
	m, err := ReadJSON(f)
	if err != nil {
		return nil, fmt.Errorf("load model %s: %w", path, err)
	}
	return m, nil
}
