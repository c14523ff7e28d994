package monitoring

import (
	"time"

	"tripcast"
)

// Window is a report's time window of predictions, [Start, End).
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// windowFormat names windows in blob keys: sortable, no ":" (file stores
// on any system).
const windowFormat = "20060102T150405Z"

// Key returns the window's name in blob keys, start_end in UTC.
func (w Window) Key() string {
	return w.Start.UTC().Format(windowFormat) + "_" + w.End.UTC().Format(windowFormat)
}

// Query returns the prediction log query of the window for model and
// version ("" for any).
func (w Window) Query(model, version string) tripcast.PredictionQuery {
	return tripcast.PredictionQuery{From: w.Start, To: w.End, Model: model, Version: version}
}

// Windows splits [since, until) into windows of step, the last one cut at
// until (a month's daily backfill is one call). EINVALID when until is not
// after since or step is not positive.
func Windows(since, until time.Time, step time.Duration) ([]Window, error) {
	switch {
	case step <= 0:
		return nil, tripcast.FieldError("window", "must be positive, got %v", step)
	case !until.After(since):
		return nil, tripcast.FieldError("until", "%s is not after since (%s)", until.Format(time.RFC3339), since.Format(time.RFC3339))
	case until.Sub(since)/step > 100000:
		return nil, tripcast.FieldError("window", "%v splits %s..%s into more than 100,000 windows", step, since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	var ws []Window
	for s := since; s.Before(until); s = s.Add(step) {
		e := s.Add(step)
		if e.After(until) {
			e = until
		}
		ws = append(ws, Window{Start: s, End: e})
	}
	return ws, nil
}

// LastWindow returns the last complete window of length step before now,
// aligned to step since the Unix epoch (hours on the hour, days at
// midnight UTC).
func LastWindow(now time.Time, step time.Duration) Window {
	end := now.UTC().Truncate(step)
	return Window{Start: end.Add(-step), End: end}
}
