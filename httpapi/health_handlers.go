package httpapi

import (
	"context"
	"fmt"
	"net/http"

	"tripcast"
)

// Check is one readiness check /readyz runs besides the served model (a
// stream consumer's health, for instance).
type Check struct {
	Name string // how the answer names it, e.g. "consumer"
	// Check returns nil when healthy, else why not. It gets the context of
	// /readyz, bounded by Config.ReadyTimeout.
	Check func(ctx context.Context) error
	// Critical checks make /readyz answer 503 when they fail (take this
	// replica out of the load balancer); the others answer 200 with status
	// "degraded" and the reason.
	Critical bool
}

// Readiness is the answer of GET /readyz.
//
//   - 503, status "unready": no model is loaded (error says so), or a
//     critical check failed.
//   - 200, status "degraded": a model serves, but not the champion (the
//     champion's artifact failed to load, for instance: tampered or
//     missing), the champion cannot be read, or a non-critical check
//     failed. warnings says what, such as "serving version 4 while champion
//     is 5". The replica stays in the load balancer: it answers with the
//     last good model, which is better than no answer.
//   - 200, status "ready": otherwise.
type Readiness struct {
	Error    string            `json:"error,omitempty"`
	Model    string            `json:"model,omitempty"`
	Status   string            `json:"status"`
	Version  string            `json:"version,omitempty"`  // the served version
	Champion string            `json:"champion,omitempty"` // the registry's champion (Config.Champion)
	Checks   map[string]string `json:"checks,omitempty"`   // name → "ok" or why not
	Warnings []string          `json:"warnings,omitempty"`
}

// Readiness statuses.
const (
	StatusReady    = "ready"
	StatusDegraded = "degraded"
	StatusUnready  = "unready"
)

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	v, rev := tripcast.Version()
	s.writeValue(w, r, http.StatusOK, map[string]string{"status": "ok", "version": v, "revision": rev})
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ReadyTimeout)
	defer cancel()
	rd := s.readiness(ctx)
	status := http.StatusOK
	if rd.Status == StatusUnready {
		status = http.StatusServiceUnavailable
	}
	s.writeValue(w, r, status, rd)
}

// readiness runs the checks and says how ready the server is.
func (s *Server) readiness(ctx context.Context) Readiness {
	var rd Readiness
	critical := false
	if len(s.cfg.Checks) > 0 {
		rd.Checks = make(map[string]string, len(s.cfg.Checks))
	}
	for _, c := range s.cfg.Checks {
		if err := c.Check(ctx); err != nil {
			rd.Checks[c.Name] = err.Error()
			rd.Warnings = append(rd.Warnings, fmt.Sprintf("%s: %v", c.Name, err))
			critical = critical || c.Critical
			continue
		}
		rd.Checks[c.Name] = "ok"
	}
	snap := s.pred.Snapshot()
	if snap != nil {
		rd.Model, rd.Version = snap.Model.Name(), snap.Model.Version()
	}
	if s.cfg.Champion != nil {
		champ, err := s.cfg.Champion(ctx)
		switch {
		case err != nil:
			rd.Warnings = append(rd.Warnings, fmt.Sprintf("cannot read the champion: %s", tripcast.ErrorMessage(err)))
		case snap != nil && champ != rd.Version:
			rd.Warnings = append(rd.Warnings, fmt.Sprintf("serving version %s while champion is %s", rd.Version, champ))
		}
		rd.Champion = champ
	}
	switch {
	case snap == nil:
		rd.Status, rd.Error = StatusUnready, "no model loaded"
	case critical:
		rd.Status = StatusUnready
	case len(rd.Warnings) > 0:
		rd.Status = StatusDegraded
	default:
		rd.Status = StatusReady
	}
	return rd
}
