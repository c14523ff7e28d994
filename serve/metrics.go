package serve

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"tripcast"
)

// Metrics are the serving metrics shared by every adapter (HTTP, stream,
// Lambda): the served model, and per-source event accounting. Create one per
// registry with NewMetrics, give it to New, and let the adapters count with
// the exported vectors (source is one of the tripcast.Source* constants).
type Metrics struct {
	// Received counts ride events received, by source.
	Received *prometheus.CounterVec
	// Predicted counts predictions made, by source.
	Predicted *prometheus.CounterVec
	// Failed counts events that got no prediction, by source and error
	// code (invalid, unavailable, internal...).
	Failed *prometheus.CounterVec
	// DeadLetters counts events moved to the dead-letter stream, by source
	// and reason (an error code or a field name: keep it a small set).
	DeadLetters *prometheus.CounterVec
	// StreamLag is the number of events waiting in a stream for a
	// consumer, by stream and consumer.
	StreamLag *prometheus.GaugeVec

	modelInfo    *prometheus.GaugeVec
	modelLoaded  prometheus.Gauge
	swaps        prometheus.Counter
	loadFailures prometheus.Counter
}

// NewMetrics creates the serving metrics and registers them with reg (not
// the default registry). It fails when they are already registered there.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tripcast_events_received_total", Help: "Ride events received, by source.",
		}, []string{"source"}),
		Predicted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tripcast_predictions_total", Help: "Predictions made, by source.",
		}, []string{"source"}),
		Failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tripcast_prediction_failures_total", Help: "Ride events that got no prediction, by source and error code.",
		}, []string{"source", "code"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tripcast_dead_letters_total", Help: "Ride events moved to the dead-letter stream, by source and reason.",
		}, []string{"source", "reason"}),
		StreamLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tripcast_stream_lag_events", Help: "Events waiting in a stream for a consumer.",
		}, []string{"stream", "consumer"}),
		modelInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tripcast_model_info", Help: "The model version being served (value 1).",
		}, []string{"name", "version"}),
		modelLoaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tripcast_model_loaded_timestamp_seconds", Help: "When the served model was loaded (Unix seconds).",
		}),
		swaps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tripcast_model_swaps_total", Help: "Times a model version was installed.",
		}),
		loadFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tripcast_model_load_failures_total", Help: "Failed attempts to load the champion (the previous model kept serving).",
		}),
	}
	for _, c := range []prometheus.Collector{m.Received, m.Predicted, m.Failed, m.DeadLetters, m.StreamLag,
		m.modelInfo, m.modelLoaded, m.swaps, m.loadFailures} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register serving metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) swapped(old, s *Snapshot) {
	if m == nil {
		return
	}
	if old != nil {
		m.modelInfo.DeleteLabelValues(old.Model.Name(), old.Model.Version())
	}
	m.modelInfo.WithLabelValues(s.Model.Name(), s.Model.Version()).Set(1)
	m.modelLoaded.Set(float64(s.LoadedAt.UnixNano()) / 1e9)
	m.swaps.Inc()
}

func (m *Metrics) loadFailed() {
	if m != nil {
		m.loadFailures.Inc()
	}
}

// count adds received and predicted events of source, and one failure with
// err's code when err is not nil.
func (m *Metrics) count(source string, received, predicted int, err error) {
	if m == nil {
		return
	}
	if received > 0 {
		m.Received.WithLabelValues(source).Add(float64(received))
	}
	if predicted > 0 {
		m.Predicted.WithLabelValues(source).Add(float64(predicted))
	}
	if err != nil {
		m.Failed.WithLabelValues(source, tripcast.ErrorCode(err)).Inc()
	}
}
