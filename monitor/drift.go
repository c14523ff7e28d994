package monitor

import (
	"math"

	"tripcast"
)

// Method is a drift test, named as Evidently names its stattests.
type Method string

// The drift tests. Auto chooses by Evidently's default rule (see Drift).
const (
	Auto          Method = ""
	Wasserstein   Method = "wasserstein"   // distance normed by the reference std; drift at score >= threshold
	JensenShannon Method = "jensenshannon" // distance, natural log; drift at score >= threshold
	KS            Method = "ks"            // p-value; drift at p < threshold
	ChiSquare     Method = "chisquare"     // p-value; drift at p < threshold
	ZTest         Method = "z"             // p-value; drift at p < threshold
	PSI           Method = "psi"           // population stability index; drift at score >= threshold
	KL            Method = "kl_div"        // Kullback–Leibler divergence; drift at score >= threshold
)

// PValue reports whether the method's score is a p-value (drift when below
// the threshold) rather than a distance (drift when at or above it).
func (m Method) PValue() bool { return m == KS || m == ChiSquare || m == ZTest }

// DefaultThreshold returns Evidently's default threshold of m: 0.05 for the
// p-values, 0.1 for the distances.
func (m Method) DefaultThreshold() float64 {
	if m.PValue() {
		return 0.05
	}
	return 0.1
}

func (m Method) valid() bool {
	switch m {
	case Auto, Wasserstein, JensenShannon, KS, ChiSquare, ZTest, PSI, KL:
		return true
	}
	return false
}

// ColumnTest chooses a column's test and threshold; zero values take the
// default (Auto; the method's DefaultThreshold).
type ColumnTest struct {
	Method    Method  `json:"method,omitempty"`
	Threshold float64 `json:"threshold,omitempty"`
}

// DriftOptions tune Drift. The zero value is Evidently's DataDriftPreset.
type DriftOptions struct {
	// Columns lists the columns compared, in the reference's order when nil.
	Columns []string
	// Test applies to every column without an entry in Tests.
	Test ColumnTest
	// Tests overrides the test per column name.
	Tests map[string]ColumnTest
	// DatasetShare is the share of drifted columns at which the dataset
	// drifts (0: 0.5).
	DatasetShare float64
	// MinRows is the fewest non-missing current values a column needs to be
	// tested (0: 2; a window of one row says "not enough data").
	MinRows int64
}

// Status says whether a column could be tested.
type Status string

// The column statuses. Only StatusOK and StatusConstant carry a decision;
// only StatusOK carries a score.
const (
	StatusOK            Status = "ok"
	StatusNoReference   Status = "no_reference"    // the reference has no value in this column
	StatusNotEnoughData Status = "not_enough_data" // fewer than MinRows current values (empty window, all missing)
	StatusConstant      Status = "constant"        // the reference holds one value: drift when the current holds any other
	StatusNoScore       Status = "no_score"        // the test gave no finite score
)

// ColumnDrift is the drift result of one column. Score is nil (JSON null)
// whenever Status is not StatusOK: a NaN is never shown as a number.
type ColumnDrift struct {
	Kind       Kind     `json:"kind"`
	Method     Method   `json:"method,omitempty"`    // absent only without a reference
	Threshold  float64  `json:"threshold,omitempty"` // absent only without a reference
	Score      *float64 `json:"score"`
	Drift      bool     `json:"drift"`
	Status     Status   `json:"status"`
	RefRows    int64    `json:"ref_rows"` // non-missing values
	CurRows    int64    `json:"cur_rows"`
	RefMissing int64    `json:"ref_missing"`
	CurMissing int64    `json:"cur_missing"`
}

// DriftResult is the drift of a set of columns.
type DriftResult struct {
	DatasetDrift bool `json:"dataset_drift"`
	// NumColumns counts the columns with a decision (StatusOK or
	// StatusConstant); ShareDrifted is NumDrifted/NumColumns, null when no
	// column could be tested.
	NumColumns   int                    `json:"num_columns"`
	NumDrifted   int                    `json:"num_drifted_columns"`
	ShareDrifted *float64               `json:"share_drifted"`
	Columns      map[string]ColumnDrift `json:"columns"`
}

// nBins is Evidently's n_bins: a numerical column with more distinct
// reference values is binned (Sturges) for Jensen–Shannon, PSI and KL.
const nBins = 30

// Drift compares the columns of cur with those of ref, each with Evidently's
// default test unless opt says otherwise. The default rule (Evidently's
// legacy get_default_stattest), with n the reference's non-missing values
// and u the distinct values of reference and current together:
//
//	n > 1000:  numerical with u > 5: Wasserstein (normed); otherwise Jensen–Shannon
//	n <= 1000: numerical with u > 5: KS; otherwise chi-square when u > 2, z-test when u <= 2
//
// A column missing from cur counts as all missing. A column of ref absent
// from opt.Columns is skipped; a name in opt.Columns absent from ref is an
// EINVALID error.
func Drift(ref, cur *Profile, opt DriftOptions) (*DriftResult, error) {
	names := opt.Columns
	if names == nil {
		for _, c := range ref.Columns {
			names = append(names, c.Name)
		}
	}
	share := opt.DatasetShare
	if share == 0 {
		share = 0.5
	}
	minRows := opt.MinRows
	if minRows == 0 {
		minRows = 2
	}
	res := &DriftResult{Columns: make(map[string]ColumnDrift, len(names))}
	for _, name := range names {
		rc := ref.Column(name)
		if rc == nil {
			return nil, tripcast.FieldError("columns", "column %q is not in the reference", name)
		}
		test, ok := opt.Tests[name]
		if !ok {
			test = opt.Test
		}
		if !test.Method.valid() {
			return nil, tripcast.FieldError("tests."+name+".method", "unknown method %q", test.Method)
		}
		var cc *Counts
		if c := cur.Column(name); c != nil {
			cc = &c.Counts
		} else {
			cc = &Counts{}
		}
		d := columnDrift(rc.Kind, &rc.Counts, cc, test, minRows)
		res.Columns[name] = d
		if d.Status == StatusOK || d.Status == StatusConstant {
			res.NumColumns++
			if d.Drift {
				res.NumDrifted++
			}
		}
	}
	if res.NumColumns > 0 {
		s := float64(res.NumDrifted) / float64(res.NumColumns)
		res.ShareDrifted = &s
		res.DatasetDrift = s >= share
	}
	return res, nil
}

// defaultMethod is Evidently's default test choice.
func defaultMethod(kind Kind, ref, cur *Counts) Method {
	u := distinctUnion(ref, cur)
	if ref.N() <= 1000 {
		switch {
		case kind == Numerical && u > 5:
			return KS
		case u > 2:
			return ChiSquare
		}
		return ZTest
	}
	if kind == Numerical && u > 5 {
		return Wasserstein
	}
	return JensenShannon
}

func distinctUnion(a, b *Counts) int {
	var i, j, n int
	for i < len(a.Values) && j < len(b.Values) {
		switch {
		case a.Values[i] < b.Values[j]:
			i++
		case b.Values[j] < a.Values[i]:
			j++
		default:
			i++
			j++
		}
		n++
	}
	return n + len(a.Values) - i + len(b.Values) - j
}

func columnDrift(kind Kind, ref, cur *Counts, test ColumnTest, minRows int64) ColumnDrift {
	d := ColumnDrift{Kind: kind, Method: test.Method, RefRows: ref.N(), CurRows: cur.N(), RefMissing: ref.Missing, CurMissing: cur.Missing}
	switch {
	case d.RefRows == 0:
		d.Status = StatusNoReference
	case d.CurRows < minRows:
		d.Status = StatusNotEnoughData
	}
	if d.Method == Auto && d.RefRows > 0 {
		d.Method = defaultMethod(kind, ref, cur)
	}
	d.Threshold = test.Threshold
	if d.Threshold == 0 && d.Method != Auto {
		d.Threshold = d.Method.DefaultThreshold()
	}
	if d.Status != "" {
		return d
	}
	if ref.Distinct() == 1 {
		d.Status = StatusConstant
		d.Drift = cur.Distinct() > 1 || cur.Values[0] != ref.Values[0]
		return d
	}
	var s float64
	var ok bool
	switch d.Method {
	case Wasserstein:
		s, ok = wassersteinNorm(ref, cur)
	case JensenShannon:
		s, ok = jensenShannon(ref, cur, kind, nBins)
	case KS:
		s, ok = ks(ref, cur)
	case ChiSquare:
		s, ok = chiSquare(ref, cur)
	case ZTest:
		s, ok = zTest(ref, cur)
	case PSI:
		s, ok = psi(ref, cur, kind, nBins)
	case KL:
		s, ok = klDiv(ref, cur, kind, nBins)
	}
	if !ok {
		d.Status = StatusNoScore
		return d
	}
	d.Status = StatusOK
	d.Score = &s
	if d.Method.PValue() {
		d.Drift = s < d.Threshold
	} else {
		d.Drift = s >= d.Threshold
	}
	return d
}

// finite returns &x, or nil when x is NaN or infinite.
func finite(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}
