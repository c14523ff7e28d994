package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"tripcast"
)

var (
	_ tripcast.MonitorSeries = (*DB)(nil)
	_ tripcast.AlertStates   = (*DB)(nil)
)

// PutMonitorFigures stores figures in one transaction, replacing those of
// the same window, model, version and name.
func (db *DB) PutMonitorFigures(ctx context.Context, figures []tripcast.MonitorFigure) error {
	if len(figures) == 0 {
		return nil
	}
	err := db.inTx(ctx, func(c conn) error {
		for _, f := range figures {
			if _, err := c.exec(ctx, `INSERT INTO monitor_figures (window_start, window_end, model, version, name, value) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (model, version, name, window_start, window_end) DO UPDATE SET value = excluded.value`,
				micros(f.WindowStart), micros(f.WindowEnd), f.Model, f.Version, f.Name, f.Value); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put %d monitoring figures: %w", len(figures), err)
	}
	return nil
}

// ListMonitorFigures returns the figures of model and name ("" for any)
// whose window starts in [from, to), by window start, model, version, name.
func (db *DB) ListMonitorFigures(ctx context.Context, model, name string, from, to time.Time) ([]tripcast.MonitorFigure, error) {
	if to.Before(from) {
		return nil, tripcast.FieldError("to", "%s is before from (%s)", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	rows, err := db.plain().query(ctx, `SELECT window_start, window_end, model, version, name, value FROM monitor_figures
		WHERE window_start >= ? AND window_start < ? AND (? = '' OR model = ?) AND (? = '' OR name = ?)
		ORDER BY window_start, model, version, name`, micros(from), micros(to), model, model, name, name)
	if err != nil {
		return nil, fmt.Errorf("list monitoring figures: %w", err)
	}
	defer rows.Close()
	var out []tripcast.MonitorFigure
	for rows.Next() {
		var f tripcast.MonitorFigure
		var start, end int64
		if err := rows.Scan(&start, &end, &f.Model, &f.Version, &f.Name, &f.Value); err != nil {
			return nil, fmt.Errorf("list monitoring figures: %w", err)
		}
		f.WindowStart, f.WindowEnd = fromMicros(start), fromMicros(end)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list monitoring figures: %w", err)
	}
	return out, nil
}

// GetAlertState returns the stored state of rule for model, not firing
// when none is stored.
func (db *DB) GetAlertState(ctx context.Context, model, rule string) (tripcast.AlertState, error) {
	s := tripcast.AlertState{Model: model, Rule: rule}
	var since int64
	err := db.plain().queryRow(ctx, `SELECT firing, since FROM monitor_alerts WHERE model = ? AND rule = ?`, model, rule).Scan(&s.Firing, &since)
	if errors.Is(err, sql.ErrNoRows) {
		return s, nil
	} else if err != nil {
		return s, fmt.Errorf("get alert state %s/%s: %w", model, rule, err)
	}
	s.Since = fromMicros(since)
	return s, nil
}

// SetAlertState stores s, replacing the rule's previous state.
func (db *DB) SetAlertState(ctx context.Context, s tripcast.AlertState) error {
	if s.Rule == "" {
		return tripcast.FieldError("rule", "must not be empty")
	}
	_, err := db.plain().exec(ctx, `INSERT INTO monitor_alerts (model, rule, firing, since) VALUES (?, ?, ?, ?)
		ON CONFLICT (model, rule) DO UPDATE SET firing = excluded.firing, since = excluded.since`,
		s.Model, s.Rule, s.Firing, micros(s.Since))
	if err != nil {
		return fmt.Errorf("set alert state %s/%s: %w", s.Model, s.Rule, err)
	}
	return nil
}
