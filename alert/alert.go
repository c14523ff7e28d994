// Package alert evaluates monitoring alert rules on a window's summary
// figures and sends an alert once when a rule starts firing and once when
// it resolves: logged, and POSTed as JSON (with a Slack-compatible "text")
// to webhooks, retried with backoff in the background so that monitoring
// never waits for a webhook.
package alert

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"tripcast"
)

// The rule names; each reads the monitoring figure of the same name.
const (
	RuleDatasetDrift    = "dataset_drift"
	RulePredictionDrift = "prediction_drifted"
	RuleRMSEChange      = "rmse_change"
	RuleMissingShare    = "share_missing_values"
	RuleDeadLetterRate  = "dead_letter_rate"
)

// Rules says when alerts fire. A zero threshold turns its rule off.
type Rules struct {
	DatasetDrift    bool    // fire when the dataset drifted
	PredictionDrift bool    // fire when the prediction column drifted
	RMSEChange      float64 // fire when the window's RMSE is worse than validation by more than this share (0.2: 20 %)
	MissingShare    float64 // fire when the share of missing values is above this
	DeadLetterRate  float64 // fire when dead letters / events received is above this
}

// DefaultRules are the rules `tripcast up` and the serving roles apply.
var DefaultRules = Rules{DatasetDrift: true, PredictionDrift: true, RMSEChange: 0.2, MissingShare: 0.05, DeadLetterRate: 0.01}

// Check is one rule's decision on a window.
type Check struct {
	Rule      string
	Firing    bool
	Value     float64
	Threshold float64
}

// Evaluate returns the decision of every enabled rule whose figure is among
// figs (a rule without its figure, such as rmse_change without ground
// truth, decides nothing).
func (r Rules) Evaluate(figs []tripcast.MonitorFigure) []Check {
	val := make(map[string]float64, len(figs))
	for _, f := range figs {
		val[f.Name] = f.Value
	}
	var out []Check
	add := func(rule string, on bool, threshold float64, firing func(v float64) bool) {
		if v, ok := val[rule]; on && ok {
			out = append(out, Check{Rule: rule, Firing: firing(v), Value: v, Threshold: threshold})
		}
	}
	isSet := func(v float64) bool { return v >= 1 }
	add(RuleDatasetDrift, r.DatasetDrift, 1, isSet)
	add(RulePredictionDrift, r.PredictionDrift, 1, isSet)
	add(RuleRMSEChange, r.RMSEChange > 0, r.RMSEChange, func(v float64) bool { return v > r.RMSEChange })
	add(RuleMissingShare, r.MissingShare > 0, r.MissingShare, func(v float64) bool { return v > r.MissingShare })
	add(RuleDeadLetterRate, r.DeadLetterRate > 0, r.DeadLetterRate, func(v float64) bool { return v > r.DeadLetterRate })
	return out
}

// The alert statuses.
const (
	Firing   = "firing"
	Resolved = "resolved"
)

// Alert is what is logged and POSTed when a rule fires or resolves.
type Alert struct {
	Text        string    `json:"text"` // one line for humans (Slack's incoming webhooks show it)
	Status      string    `json:"status"`
	Rule        string    `json:"rule"`
	Model       string    `json:"model"`
	Version     string    `json:"version,omitempty"`
	Value       float64   `json:"value"`
	Threshold   float64   `json:"threshold"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	Since       time.Time `json:"since"` // when the rule started firing
}

// Alerter turns checks into alerts on state changes. The states are kept in
// States (shared by the processes of one deployment) or, when nil, in
// memory.
type Alerter struct {
	Rules    Rules
	States   tripcast.AlertStates
	Notifier *Notifier // nil: alerts are only logged
	Log      *slog.Logger

	mu  sync.Mutex
	mem map[string]tripcast.AlertState
}

// Process evaluates the rules on one window's figures (all of one model)
// and returns the alerts sent: a rule whose state changed. A state that
// cannot be read or stored is logged and the rule skipped: alerting never
// stops monitoring.
func (a *Alerter) Process(ctx context.Context, figs []tripcast.MonitorFigure) []Alert {
	if len(figs) == 0 {
		return nil
	}
	f0 := figs[0]
	var sent []Alert
	for _, c := range a.Rules.Evaluate(figs) {
		prev, err := a.state(ctx, f0.Model, c.Rule)
		if err != nil {
			a.logger().Error("alert state unreadable: rule skipped", "model", f0.Model, "rule", c.Rule, "err", err)
			continue
		}
		if prev.Firing == c.Firing {
			continue
		}
		next := tripcast.AlertState{Model: f0.Model, Rule: c.Rule, Firing: c.Firing, Since: f0.WindowEnd}
		if err := a.setState(ctx, next); err != nil {
			a.logger().Error("alert state not stored: alert not sent", "model", f0.Model, "rule", c.Rule, "err", err)
			continue
		}
		al := Alert{Status: Resolved, Rule: c.Rule, Model: f0.Model, Version: f0.Version, Value: c.Value, Threshold: c.Threshold,
			WindowStart: f0.WindowStart, WindowEnd: f0.WindowEnd, Since: prev.Since}
		if c.Firing {
			al.Status, al.Since = Firing, next.Since
		}
		al.Text = fmt.Sprintf("[tripcast %s] %s: %s = %.4g (threshold %.4g) for window %s – %s",
			al.Status, al.Model, al.Rule, al.Value, al.Threshold, al.WindowStart.UTC().Format(time.RFC3339), al.WindowEnd.UTC().Format(time.RFC3339))
		a.logger().Warn("monitoring alert", "status", al.Status, "model", al.Model, "version", al.Version, "rule", al.Rule,
			"value", al.Value, "threshold", al.Threshold, "window_start", al.WindowStart, "window_end", al.WindowEnd)
		a.Notifier.Notify(al)
		sent = append(sent, al)
	}
	return sent
}

func (a *Alerter) logger() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

func (a *Alerter) state(ctx context.Context, model, rule string) (tripcast.AlertState, error) {
	if a.States != nil {
		return a.States.GetAlertState(ctx, model, rule)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mem[model+"\x00"+rule], nil
}

func (a *Alerter) setState(ctx context.Context, s tripcast.AlertState) error {
	if a.States != nil {
		return a.States.SetAlertState(ctx, s)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.mem == nil {
		a.mem = map[string]tripcast.AlertState{}
	}
	a.mem[s.Model+"\x00"+s.Rule] = s
	return nil
}

// ParseRules reads rules written as a comma-separated list: dataset_drift,
// prediction_drift, rmse_change=X, missing=Y, dead_letters=Z (a rule left
// out is off). EINVALID, naming alert_rules, for anything else.
func ParseRules(s string) (Rules, error) {
	var r Rules
	for _, item := range strings.Split(s, ",") {
		name, val, hasVal := strings.Cut(strings.TrimSpace(item), "=")
		var x float64
		if hasVal {
			v, err := strconv.ParseFloat(val, 64)
			if err != nil || !(v > 0) || math.IsInf(v, 0) {
				return r, tripcast.FieldError("alert_rules", "%q: want a positive number after =", item)
			}
			x = v
		}
		switch {
		case name == "" && !hasVal:
		case name == "dataset_drift" && !hasVal:
			r.DatasetDrift = true
		case name == "prediction_drift" && !hasVal:
			r.PredictionDrift = true
		case name == "rmse_change" && hasVal:
			r.RMSEChange = x
		case name == "missing" && hasVal:
			r.MissingShare = x
		case name == "dead_letters" && hasVal:
			r.DeadLetterRate = x
		default:
			return r, tripcast.FieldError("alert_rules", "%q: use dataset_drift, prediction_drift, rmse_change=X, missing=Y or dead_letters=Z", item)
		}
	}
	return r, nil
}
