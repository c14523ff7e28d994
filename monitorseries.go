package tripcast

import (
	"context"
	"time"
)

// MonitorFigure is one summary figure of one monitoring window (a report's
// prediction_drift, share_missing_values, rmse...): a point of the time
// series the dashboard and Grafana plot.
type MonitorFigure struct {
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	Model       string    `json:"model"`
	Version     string    `json:"version"` // model version compared ("" for every version)
	Name        string    `json:"name"`
	Value       float64   `json:"value"`
}

// MonitorSeries keeps monitoring figures as a time series. *sqlstore.DB
// implements it on SQLite and PostgreSQL.
type MonitorSeries interface {
	// PutMonitorFigures stores figures, replacing those of the same
	// window, model, version and name (a window reported again).
	PutMonitorFigures(ctx context.Context, figures []MonitorFigure) error
	// ListMonitorFigures returns the figures of model (every model when
	// "") named name (every name when "") whose window starts in [from,
	// to), by window start then name. EINVALID when to is before from.
	ListMonitorFigures(ctx context.Context, model, name string, from, to time.Time) ([]MonitorFigure, error)
}

// AlertState is whether a monitoring alert rule is firing for a model, and
// since when.
type AlertState struct {
	Model  string    `json:"model"`
	Rule   string    `json:"rule"`
	Firing bool      `json:"firing"`
	Since  time.Time `json:"since"`
}

// AlertStates keeps alert states, so that an alert is sent once when it
// fires and once when it resolves, whichever process evaluates the rules.
// *sqlstore.DB implements it.
type AlertStates interface {
	// GetAlertState returns the state of rule for model; a rule never
	// stored is not firing (zero Since).
	GetAlertState(ctx context.Context, model, rule string) (AlertState, error)
	// SetAlertState stores s.
	SetAlertState(ctx context.Context, s AlertState) error
}
