package httpapi

import (
	"net/http"
	"time"

	"tripcast"
)

// Champion is the answer of GET /v1/models/champion.
type Champion struct {
	Name               string    `json:"name"`
	Version            string    `json:"version"`
	LoadedAt           time.Time `json:"loaded_at"`
	FeatureSpecVersion string    `json:"feature_spec_version,omitempty"`
}

func (s *Server) handleChampion(w http.ResponseWriter, r *http.Request) {
	snap := s.pred.Snapshot()
	if snap == nil {
		s.writeError(w, r, tripcast.Errorf(tripcast.EUNAVAILABLE, "no model loaded"))
		return
	}
	s.writeValue(w, r, http.StatusOK, Champion{Name: snap.Model.Name(), Version: snap.Model.Version(),
		LoadedAt: snap.LoadedAt.UTC(), FeatureSpecVersion: snap.FeatureSpecVersion()})
}
