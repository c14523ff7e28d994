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

// CounterRate returns a Runner.DeadLetterRate over the counters of g: the
// increase of the counter family num (summed over its labels) divided by
// the increase of den since the previous call, in this process (nil on the
// first call, when den did not grow, or when g cannot be read). With
// tripcast_dead_letters_total over tripcast_events_received_total it is the
// dead-letter rate of the serving process since its last report.
func CounterRate(g prometheus.Gatherer, num, den string) func(Window) *float64 {
	var last [2]float64
	first := true
	return func(Window) *float64 {
		mfs, err := g.Gather()
		if err != nil {
			return nil
		}
		var now [2]float64
		for _, mf := range mfs {
			for i, name := range []string{num, den} {
				if mf.GetName() == name {
					for _, m := range mf.GetMetric() {
						now[i] += m.GetCounter().GetValue()
					}
				}
			}
		}
		prev := last
		last = now
		if first {
			first = false
			return nil
		}
		d := now[1] - prev[1]
		if d <= 0 {
			return nil
		}
		rate := (now[0] - prev[0]) / d
		return &rate
	}
}
