package gbdt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// UnmarshalJSON reads a numArr the slow, obvious way, so that encoding/json
// can decode the xgb* structs as a reference for FuzzParseModel (the
// package's code never unmarshals them with encoding/json).
func (a *numArr) UnmarshalJSON(b []byte) error {
	a.present = true
	var elems []any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&elems); err != nil {
		return err
	}
	if elems == nil {
		a.v = nil
		return nil
	}
	a.v = make([]float64, 0, len(elems))
	for _, e := range elems {
		var x float64
		switch e := e.(type) {
		case json.Number:
			var err error
			if x, err = strconv.ParseFloat(string(e), 64); err != nil {
				return err
			}
		case bool:
			if e {
				x = 1
			}
		case string:
			switch e {
			case "NaN":
				x = math.NaN()
			case "Infinity":
				x = math.Inf(1)
			case "-Infinity":
				x = math.Inf(-1)
			default:
				return fmt.Errorf("want a number, got %q", e)
			}
		default:
			return fmt.Errorf("want a number, got %v", e)
		}
		a.v = append(a.v, x)
	}
	return nil
}

// canonNaN replaces every NaN of doc's arrays by one value, so that
// reflect.DeepEqual compares them.
func canonNaN(doc *xgbFile) {
	fix := func(a *numArr) {
		for i, x := range a.v {
			if math.IsNaN(x) {
				a.v[i] = -123.456e-300
			}
		}
	}
	if doc.Learner == nil || doc.Learner.GradientBooster == nil || doc.Learner.GradientBooster.Model == nil {
		return
	}
	g := doc.Learner.GradientBooster.Model
	fix(&g.TreeInfo)
	if g.IterationIndptr != nil {
		fix(g.IterationIndptr)
	}
	for _, t := range g.Trees {
		if t == nil {
			continue
		}
		for _, a := range []*numArr{&t.BaseWeights, &t.Categories, &t.CategoriesNodes, &t.CategoriesSegments, &t.CategoriesSizes,
			&t.DefaultLeft, &t.LeftChildren, &t.LossChanges, &t.Parents, &t.RightChildren, &t.SplitConditions, &t.SplitIndices,
			&t.SplitType, &t.SumHessian} {
			fix(a)
		}
	}
}

// FuzzParseModel checks the model parser (parseModelJSON over jsonscan)
// against encoding/json decoding the same structs: what encoding/json
// decodes, the parser decodes to the same document; what the parser
// accepts beyond it is only XGBoost's bare NaN/Infinity (not JSON) or an
// integral number written with a fraction or exponent where an int is
// wanted ("version": [1.0]), which encoding/json refuses.
func FuzzParseModel(f *testing.F) {
	f.Add([]byte(`{"learner":{"attributes":{"a":"b"},"feature_names":["x"],"feature_types":["float"],
	"gradient_booster":{"model":{"gbtree_model_param":{"num_trees":"1"},
	"tree_info":[0],"trees":[{"base_weights":[0,-1.5,2e-3],"categories":[],"default_left":[true,false,0],"id":0,
	"left_children":[1,-1,-1],"loss_changes":[3,0,0],"parents":[2147483647,0,0],"right_children":[2,-1,-1],
	"split_conditions":[2,-1,2],"split_indices":[0,0,0],"split_type":[0,0,0],"sum_hessian":[3,2,1],
	"tree_param":{"num_nodes":"3"}}]},"name":"gbtree"},"learner_model_param":{"base_score":"5E-1"},
	"objective":{"name":"reg:squarederror","reg_loss_param":{"scale_pos_weight":"1"}}},"version":[1,7,4]}`))
	for _, s := range []string{`null`, `{}`, `{"Learner":{"Attributes":{"k":null}},"VERSION":null}`,
		`{"learner":{"gradient_booster":{"model":{"trees":[null,{"left_children":[NaN,"Infinity",-Infinity]}],"iteration_indptr":null}}}}`,
		`{"learner":{"feature_names":["a\u00e9",null],"attributes":{"\u0041":"\ud800"}},"x":[{"y":1e999}]}`,
		`{"version":[1.0,2e0]}`, `{"learner":{"objective":{"name":NaN}}}`, "{\"learner\":{\"attributes\":{\"\xff\":\"\xfe\"}}}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseModelJSON(data)
		var want xgbFile
		werr := json.Unmarshal(data, &want)
		if werr == nil {
			if err != nil {
				t.Fatalf("%q: got %v, encoding/json decodes it", data, err)
			}
			canonNaN(got)
			canonNaN(&want)
			if !reflect.DeepEqual(*got, want) {
				t.Fatalf("%q: got %+v, encoding/json got %+v", data, *got, want)
			}
			return
		}
		if err != nil {
			return
		}
		var ute *json.UnmarshalTypeError
		intField := errors.As(werr, &ute) && ute.Type.Kind() == reflect.Int && strings.HasPrefix(ute.Value, "number")
		if json.Valid(data) && !intField {
			t.Fatalf("%q: got %+v, encoding/json refuses it: %v", data, *got, werr)
		}
	})
}
