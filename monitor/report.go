package monitor

// Options tune NewReport.
type Options struct {
	Drift DriftOptions
	// PredictionColumn names the column whose drift score is the report's
	// prediction_drift ("": ColPrediction). Like Evidently, it counts toward
	// dataset drift unless Drift.Columns leaves it out.
	PredictionColumn string
	// Quantiles lists column quantiles to report (the course's median
	// fare_amount: {Column: "fare_amount", Q: 0.5}).
	Quantiles []QuantileSpec
}

// QuantileSpec asks for quantile Q (0..1) of a column.
type QuantileSpec struct {
	Column string  `json:"column"`
	Q      float64 `json:"q"`
}

// QuantileValue is a reported quantile; Value is nil when the column has no
// value in the window.
type QuantileValue struct {
	QuantileSpec
	Value *float64 `json:"value"`
}

// Report is one window's monitoring report: drift, data quality and, with
// ground truth, model quality. Its JSON carries the course's panel figures by
// name (prediction_drift, num_drifted_columns, share_missing_values) and
// every figure that cannot be computed as null, never NaN.
type Report struct {
	DatasetDrift      bool                   `json:"dataset_drift"`
	ShareDrifted      *float64               `json:"share_drifted"`
	NumDriftedColumns int                    `json:"num_drifted_columns"`
	NumColumns        int                    `json:"num_columns"` // columns with a drift decision
	Columns           map[string]ColumnDrift `json:"columns"`
	// PredictionDrift is the drift score of the prediction column (nil when
	// absent or untestable); PredictionDrifted its decision.
	PredictionDrift    *float64        `json:"prediction_drift"`
	PredictionDrifted  bool            `json:"prediction_drifted"`
	ShareMissingValues *float64        `json:"share_missing_values"`
	DataQuality        *DataQuality    `json:"data_quality"`
	Quantiles          []QuantileValue `json:"quantiles,omitempty"`
	// With ground truth (SetModelQuality): the headline figures and the
	// details.
	RMSE         *float64      `json:"rmse,omitempty"`
	MAE          *float64      `json:"mae,omitempty"`
	R2           *float64      `json:"r2,omitempty"`
	ModelQuality *ModelQuality `json:"model_quality,omitempty"`
	// With the model's validation figures (SetValidation): those figures and
	// the window's RMSE relative to them, (rmse − validation)/validation
	// (0.1: 10 % worse), null without a window RMSE.
	Validation *Validation `json:"validation,omitempty"`
	RMSEChange *float64    `json:"rmse_change,omitempty"`
}

// Validation is a model version's figures on its validation month, stored
// with its reference profile.
type Validation struct {
	RMSE float64 `json:"rmse"`
	MAE  float64 `json:"mae"`
	R2   float64 `json:"r2"`
}

// NewReport compares the window cur with the reference ref: drift per column
// (see Drift), the dataset drift, the prediction drift, data quality and the
// asked quantiles. Neither profile is modified; errors are those of Drift.
func NewReport(ref, cur *Profile, opt Options) (*Report, error) {
	d, err := Drift(ref, cur, opt.Drift)
	if err != nil {
		return nil, err
	}
	r := &Report{
		DatasetDrift:      d.DatasetDrift,
		ShareDrifted:      d.ShareDrifted,
		NumDriftedColumns: d.NumDrifted,
		NumColumns:        d.NumColumns,
		Columns:           d.Columns,
		DataQuality:       Quality(ref, cur),
	}
	r.ShareMissingValues = r.DataQuality.ShareMissingValues
	pc := opt.PredictionColumn
	if pc == "" {
		pc = ColPrediction
	}
	if c, ok := d.Columns[pc]; ok {
		r.PredictionDrift, r.PredictionDrifted = c.Score, c.Drift
	}
	for _, qs := range opt.Quantiles {
		qv := QuantileValue{QuantileSpec: qs}
		if v, ok := cur.Quantile(qs.Column, qs.Q); ok {
			qv.Value = finite(v)
		}
		r.Quantiles = append(r.Quantiles, qv)
	}
	return r, nil
}

// SetModelQuality adds ground-truth figures to the report.
func (r *Report) SetModelQuality(q *ModelQuality) {
	r.ModelQuality = q
	if q != nil {
		r.RMSE, r.MAE, r.R2 = q.RMSE, q.MAE, q.R2
	}
	r.setRMSEChange()
}

// SetValidation adds the model's validation figures, to compare the window's
// RMSE with (in either order with SetModelQuality).
func (r *Report) SetValidation(v Validation) {
	r.Validation = &v
	r.setRMSEChange()
}

func (r *Report) setRMSEChange() {
	r.RMSEChange = nil
	if r.Validation != nil && r.RMSE != nil && r.Validation.RMSE > 0 {
		r.RMSEChange = finite((*r.RMSE - r.Validation.RMSE) / r.Validation.RMSE)
	}
}
