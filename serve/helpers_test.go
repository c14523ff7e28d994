package serve_test

import (
	"context"
	"strconv"
	"sync"

	"tripcast"
)

// linearModel is a real, deterministic model of our own Model interface:
// duration = Intercept + Slope * trip_distance minutes. It stands in for the
// trained models (package model) in these tests.
type linearModel struct {
	Ver       string
	Intercept float64
	Slope     float64
}

func (m *linearModel) Predict(r tripcast.Ride) (float64, error) {
	return m.Intercept + m.Slope*r.TripDistance, nil
}
func (m *linearModel) Name() string    { return tripcast.DefaultModelName }
func (m *linearModel) Version() string { return m.Ver }

// newLinear returns version v: 2 + v*1.5*distance, so every version gives a
// different, checkable answer.
func newLinear(v int) *linearModel {
	return &linearModel{Ver: strconv.Itoa(v), Intercept: 2, Slope: 1.5 * float64(v)}
}

// want returns what version v of newLinear predicts for r.
func want(v int, r tripcast.Ride) float64 { return 2 + 1.5*float64(v)*r.TripDistance }

// source is a ModelSource over an in-memory set of versions; a version in
// corrupt fails to load, as an artifact failing its sha256 check does.
type source struct {
	mu       sync.Mutex
	champion string
	corrupt  map[string]bool
	loads    int
}

func (s *source) set(v string) { s.mu.Lock(); s.champion = v; s.mu.Unlock() }

func (s *source) Champion(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.champion == "" {
		return "", tripcast.Errorf(tripcast.ENOTFOUND, "alias champion not set")
	}
	return s.champion, nil
}

func (s *source) Load(ctx context.Context, v string) (tripcast.Model, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads++
	if s.corrupt[v] {
		return nil, tripcast.Errorf(tripcast.EINVALID, "artifact of version %s: sha256 mismatch", v)
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return nil, tripcast.Errorf(tripcast.ENOTFOUND, "version %s not found", v)
	}
	return newLinear(n), nil
}
