// Package serve is tripcast's prediction core, shared by every way of
// serving (HTTP, stream consumers, Lambda, batch): ride event decoding and
// validation, the Predictor that serves the champion model with atomic
// swaps, the answer's wire format, and the serving metrics.
package serve

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"tripcast"
)

// Snapshot is the model being served and when it was loaded. A Snapshot
// never changes: a swap installs a new one, so everything computed from one
// Snapshot comes from one model version.
type Snapshot struct {
	Model    tripcast.Model
	LoadedAt time.Time
}

// Predict answers for one ride. A model error, or a NaN or infinite
// prediction, is an EINTERNAL error (the ride passed validation, so the
// caller cannot fix it; the cause is wrapped for the logs): the caller
// never gets a made-up value.
func (s *Snapshot) Predict(r tripcast.Ride) (tripcast.Prediction, error) {
	y, err := s.Model.Predict(r)
	if err != nil {
		return tripcast.Prediction{}, &tripcast.Error{Code: tripcast.EINTERNAL, Message: "internal error",
			Err: fmt.Errorf("predict ride %s with %s version %s: %w", r.ID, s.Model.Name(), s.Model.Version(), err)}
	}
	if math.IsNaN(y) || math.IsInf(y, 0) {
		return tripcast.Prediction{}, &tripcast.Error{Code: tripcast.EINTERNAL, Message: "internal error",
			Err: fmt.Errorf("model %s version %s predicted %v for ride %s", s.Model.Name(), s.Model.Version(), y, r.ID)}
	}
	return tripcast.Prediction{RideID: r.ID, RideIDNumeric: r.IDNumeric, Model: s.Model.Name(), Version: s.Model.Version(), RideDuration: y}, nil
}

// PredictBatch answers every ride with this one model: out[i] and errs[i]
// are ride i's answer or error. It panics when the lengths differ.
func (s *Snapshot) PredictBatch(rides []tripcast.Ride, out []tripcast.Prediction, errs []error) {
	if len(out) != len(rides) || len(errs) != len(rides) {
		panic(fmt.Sprintf("serve: PredictBatch lengths %d, %d, %d differ", len(rides), len(out), len(errs)))
	}
	for i := range rides {
		out[i], errs[i] = s.Predict(rides[i])
	}
}

// FeatureSpecVersion returns the model's feature spec version, or "" when
// the model does not tell.
func (s *Snapshot) FeatureSpecVersion() string {
	if f, ok := s.Model.(tripcast.FeatureSpecVersioner); ok {
		return f.FeatureSpecVersion()
	}
	return ""
}

// Options configure a Predictor.
type Options struct {
	Logger  *slog.Logger     // nil: discard
	Metrics *Metrics         // nil: no metrics
	Now     func() time.Time // nil: time.Now
}

// Predictor serves the current model. The model sits behind an atomic
// pointer: Predict loads it once per call (PredictBatch once per batch), so
// a Swap never fails a request or mixes versions in one answer, and costs
// readers nothing. Safe for concurrent use.
type Predictor struct {
	cur     atomic.Pointer[Snapshot]
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time
}

// New returns a Predictor with no model: it answers EUNAVAILABLE until Swap
// or Follow installs one.
func New(o Options) *Predictor {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Predictor{log: o.Logger, metrics: o.Metrics, now: o.Now}
}

// Metrics returns the metrics given to New (nil when none), for the
// adapters to count what they receive, predict and dead-letter.
func (p *Predictor) Metrics() *Metrics { return p.metrics }

// Swap installs m as the served model and returns the previous snapshot
// (nil when none). Requests already running finish on the model they
// started with.
func (p *Predictor) Swap(m tripcast.Model) *Snapshot {
	s := &Snapshot{Model: m, LoadedAt: p.now()}
	old := p.cur.Swap(s)
	p.metrics.swapped(old, s)
	from := ""
	if old != nil {
		from = old.Model.Version()
	}
	p.log.Info("serving model", "name", m.Name(), "version", m.Version(), "previous", from)
	return old
}

// Snapshot returns the model being served, or nil when none is loaded.
func (p *Predictor) Snapshot() *Snapshot { return p.cur.Load() }

var errNoModel = tripcast.Errorf(tripcast.EUNAVAILABLE, "no model loaded")

// Predict answers for one ride with the current model. EUNAVAILABLE when no
// model is loaded; see Snapshot.Predict for the other errors.
func (p *Predictor) Predict(ctx context.Context, r tripcast.Ride) (tripcast.Prediction, error) {
	s := p.cur.Load()
	if s == nil {
		return tripcast.Prediction{}, errNoModel
	}
	return s.Predict(r)
}

// PredictBatch answers every ride with one model snapshot (no batch mixes
// versions) and returns that snapshot; out[i] and errs[i] are ride i's
// answer or error. EUNAVAILABLE (and nothing written) when no model is
// loaded. It panics when the lengths differ.
func (p *Predictor) PredictBatch(ctx context.Context, rides []tripcast.Ride, out []tripcast.Prediction, errs []error) (*Snapshot, error) {
	s := p.cur.Load()
	if s == nil {
		return nil, errNoModel
	}
	s.PredictBatch(rides, out, errs)
	return s, nil
}

// Refresh asks src for the champion version and, when it differs from the
// served one, loads it and swaps it in. On any error the served model stays
// as it was (an artifact failing its sha256 check is never served). It
// reports whether it swapped.
func (p *Predictor) Refresh(ctx context.Context, src tripcast.ModelSource) (bool, error) {
	v, err := src.Champion(ctx)
	if err != nil {
		return false, fmt.Errorf("find champion: %w", err)
	}
	if cur := p.cur.Load(); cur != nil && cur.Model.Version() == v {
		return false, nil
	}
	m, err := src.Load(ctx, v)
	if err != nil {
		p.metrics.loadFailed()
		return false, fmt.Errorf("load model version %s: %w", v, err)
	}
	if m.Version() != v {
		p.metrics.loadFailed()
		return false, tripcast.Errorf(tripcast.EINTERNAL, "load model version %s: got version %s", v, m.Version())
	}
	p.Swap(m)
	return true, nil
}

// Follow keeps the Predictor on src's champion: it refreshes at once, then
// every interval, until ctx is done (then it returns nil). A failed refresh
// is logged (once per distinct error, then at debug level) and retried at
// the next tick; the previous model keeps serving meanwhile.
func (p *Predictor) Follow(ctx context.Context, src tripcast.ModelSource, every time.Duration) error {
	if every <= 0 {
		return tripcast.FieldError("every", "must be positive, got %v", every)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	var lastErr string
	for {
		if _, err := p.Refresh(ctx, src); err != nil && ctx.Err() == nil {
			level := slog.LevelError
			if tripcast.ErrorCode(err) == tripcast.ENOTFOUND {
				level = slog.LevelWarn // no champion yet: normal before the first promotion
			}
			if err.Error() == lastErr {
				level = slog.LevelDebug
			}
			lastErr = err.Error()
			served := ""
			if s := p.cur.Load(); s != nil {
				served = s.Model.Version()
			}
			p.log.Log(ctx, level, "model refresh failed; keeping the served model", "err", err, "served", served)
		} else if err == nil {
			lastErr = ""
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
