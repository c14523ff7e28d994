package monitoring

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"tripcast"
)

// The names of a stored report's files under ReportPrefix.
const (
	ReportJSON = "report.json"
	ReportHTML = "report.html"
)

// ReportPrefix returns the blob key prefix of a model's report for a
// window: monitoring/<model>/<window>/.
func ReportPrefix(model string, w Window) string {
	return "monitoring/" + model + "/" + w.Key() + "/"
}

// Store keeps reports: JSON and HTML in the blob store, the summary figures
// in the time series and on the gauges.
type Store struct {
	Blobs  tripcast.BlobStore     // nil: reports are not stored
	Series tripcast.MonitorSeries // nil: no time series
	Gauges *Gauges                // nil: no gauges
}

// Save stores d (and its HTML page, drawn with ref) under
// ReportPrefix, and figs in the time series and on the gauges. It returns
// the URIs written.
func (s *Store) Save(ctx context.Context, d *Document, ref *Reference, figs []tripcast.MonitorFigure) ([]string, error) {
	var uris []string
	if s.Blobs != nil {
		prefix := ReportPrefix(d.Model, d.Window)
		var js, page bytes.Buffer
		enc := json.NewEncoder(&js)
		enc.SetIndent("", "  ")
		if err := enc.Encode(d); err != nil {
			return nil, fmt.Errorf("encode report: %w", err)
		}
		if err := WriteHTML(&page, d, ref); err != nil {
			return nil, err
		}
		for name, buf := range map[string]*bytes.Buffer{ReportJSON: &js, ReportHTML: &page} {
			if _, err := s.Blobs.Put(ctx, prefix+name, buf); err != nil {
				return nil, fmt.Errorf("store report %s: %w", s.Blobs.URI(prefix+name), err)
			}
			uris = append(uris, s.Blobs.URI(prefix+name))
		}
	}
	if s.Series != nil {
		if err := s.Series.PutMonitorFigures(ctx, figs); err != nil {
			return uris, err
		}
	}
	s.Gauges.Set(figs)
	return uris, nil
}
