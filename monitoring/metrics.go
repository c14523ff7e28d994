package monitoring

import (
	"github.com/prometheus/client_golang/prometheus"

	"tripcast"
)

// Gauges are the tripcast_monitor_<figure> gauges (labels model, version):
// the figures of the last window reported by this process.
type Gauges struct {
	vecs map[string]*prometheus.GaugeVec
}

// NewGauges registers one gauge per figure name (FigureNames) with reg.
func NewGauges(reg prometheus.Registerer) *Gauges {
	g := &Gauges{vecs: make(map[string]*prometheus.GaugeVec, len(FigureNames))}
	for _, name := range FigureNames {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tripcast_monitor_" + name,
			Help: "Monitoring figure " + name + " of the last reported window."}, []string{"model", "version"})
		reg.MustRegister(v)
		g.vecs[name] = v
	}
	return g
}

// Set sets the gauges of figs (a nil Gauges does nothing).
func (g *Gauges) Set(figs []tripcast.MonitorFigure) {
	if g == nil {
		return
	}
	for _, f := range figs {
		if v, ok := g.vecs[f.Name]; ok {
			v.WithLabelValues(f.Model, f.Version).Set(f.Value)
		}
	}
}
