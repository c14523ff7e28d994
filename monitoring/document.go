package monitoring

import (
	"time"

	"tripcast"
	"tripcast/monitor"
)

// Document is a stored report: what was compared, over which window, and
// the monitor.Report's figures (flattened into the JSON's top level:
// dataset_drift, share_drifted, columns, prediction_drift,
// share_missing_values, and with ground truth rmse, mae, r2).
type Document struct {
	Model     string    `json:"model"`
	Version   string    `json:"version,omitempty"` // "" when every version's predictions are read
	Window    Window    `json:"window"`
	Reference string    `json:"reference"`
	Current   string    `json:"current"`
	Rows      int64     `json:"rows"`           // current rows profiled
	Note      string    `json:"note,omitempty"` // why figures are missing (an empty window)
	Generated time.Time `json:"generated_at"`
	// Data is the window's data the report was computed from (its
	// histograms are drawn from it); not stored.
	Data *Current `json:"-"`
	*monitor.Report
}

// NewDocument compares cur with ref (Compare) and describes the result.
func NewDocument(model, version string, w Window, ref *Reference, cur *Current, opt monitor.Options) (*Document, error) {
	r, err := Compare(ref, cur, opt)
	if err != nil {
		return nil, err
	}
	d := &Document{Model: model, Version: version, Window: w, Reference: ref.Source, Current: cur.Source,
		Rows: cur.Rows, Generated: time.Now().UTC(), Data: cur, Report: r}
	switch cur.Rows {
	case 0:
		d.Note = "the window holds no prediction: every column is not_enough_data"
	case 1:
		d.Note = "the window holds one prediction: not enough data to test drift"
	}
	return d, nil
}

// The figure names of the time series and the tripcast_monitor_* gauges.
const (
	FigDatasetDrift      = "dataset_drift" // 1 when the dataset drifted, else 0
	FigShareDrifted      = "share_drifted"
	FigNumDrifted        = "num_drifted_columns"
	FigPredictionDrift   = "prediction_drift"
	FigPredictionDrifted = "prediction_drifted" // 1 when the prediction column drifted
	FigShareMissing      = "share_missing_values"
	FigRMSE              = "rmse"
	FigMAE               = "mae"
	FigR2                = "r2"
	FigRMSEChange        = "rmse_change"
	FigRows              = "rows"
	FigDeadLetterRate    = "dead_letter_rate"
)

// FigureNames lists every figure name, in the order Figures gives them.
var FigureNames = []string{FigDatasetDrift, FigShareDrifted, FigNumDrifted, FigPredictionDrift, FigPredictionDrifted,
	FigShareMissing, FigRMSE, FigMAE, FigR2, FigRMSEChange, FigRows, FigDeadLetterRate}

// Figures returns the document's summary figures, one per name that has a
// value (a figure that cannot be computed is left out, never NaN).
// deadLetterRate is added when not nil.
func (d *Document) Figures(deadLetterRate *float64) []tripcast.MonitorFigure {
	r := d.Report
	vals := map[string]*float64{
		FigDatasetDrift: bit(r.DatasetDrift), FigShareDrifted: r.ShareDrifted, FigNumDrifted: num(r.NumDriftedColumns),
		FigPredictionDrift: r.PredictionDrift, FigShareMissing: r.ShareMissingValues,
		FigRMSE: r.RMSE, FigMAE: r.MAE, FigR2: r.R2, FigRMSEChange: r.RMSEChange, FigRows: num(int(d.Rows)),
		FigDeadLetterRate: deadLetterRate,
	}
	if r.PredictionDrift != nil || r.PredictionDrifted {
		vals[FigPredictionDrifted] = bit(r.PredictionDrifted)
	}
	var out []tripcast.MonitorFigure
	for _, name := range FigureNames {
		if v := vals[name]; v != nil && isFinite(*v) {
			out = append(out, tripcast.MonitorFigure{WindowStart: d.Window.Start, WindowEnd: d.Window.End,
				Model: d.Model, Version: d.Version, Name: name, Value: *v})
		}
	}
	return out
}

func bit(b bool) *float64 {
	if b {
		return num(1)
	}
	return num(0)
}

func num(n int) *float64 { v := float64(n); return &v }
