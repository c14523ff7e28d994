package monitoring

import (
	"context"
	"fmt"
	"log/slog"

	"tripcast"
	"tripcast/alert"
	"tripcast/monitor"
	"tripcast/tlc"
)

// Runner reports windows of one model's prediction log against a reference
// and stores, publishes and alerts on the results.
type Runner struct {
	Model     string
	Version   string // "" reads every version's predictions
	Reference *Reference
	Log       tripcast.PredictionReader
	Truth     TruthReader // nil: no ground truth
	Zones     *tlc.Zones  // nil: no borough breakdown
	Options   monitor.Options
	Store     *Store         // nil: nothing stored
	Alerter   *alert.Alerter // nil: no alerts
	// DeadLetterRate, when set, returns the dead-letter rate of the
	// window (nil when unknown), reported as dead_letter_rate.
	DeadLetterRate func(Window) *float64
	Logger         *slog.Logger
}

// Window reports the window w of the prediction log.
func (r *Runner) Window(ctx context.Context, w Window) (*Document, error) {
	cur, err := ReadLog(ctx, r.Log, r.Truth, r.Zones, w.Query(r.Model, r.Version))
	if err != nil {
		return nil, err
	}
	return r.Finish(ctx, w, cur)
}

// Finish compares cur (window w) with the reference, then stores the
// report, sets the gauges and evaluates the alert rules.
func (r *Runner) Finish(ctx context.Context, w Window, cur *Current) (*Document, error) {
	d, err := NewDocument(r.Model, r.Version, w, r.Reference, cur, r.Options)
	if err != nil {
		return nil, err
	}
	var dlr *float64
	if r.DeadLetterRate != nil {
		dlr = r.DeadLetterRate(w)
	}
	figs := d.Figures(dlr)
	if r.Store != nil {
		uris, err := r.Store.Save(ctx, d, r.Reference, figs)
		if err != nil {
			return d, fmt.Errorf("store report of %s: %w", w.Key(), err)
		}
		r.logger().Info("monitoring report stored", "model", r.Model, "window", w.Key(), "rows", d.Rows,
			"dataset_drift", d.DatasetDrift, "uris", uris)
	}
	if r.Alerter != nil {
		r.Alerter.Process(ctx, figs)
	}
	return d, nil
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}
