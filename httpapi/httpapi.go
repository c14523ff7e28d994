// Package httpapi is tripcast's JSON API over HTTP: predictions (one ride or
// a batch), the served model, health, readiness and Prometheus metrics.
//
// Routes:
//
//	POST /v1/predict          one ride event → one answer (course format)
//	POST /v1/predict/batch    JSON array (or NDJSON with Content-Type
//	                          application/x-ndjson) → JSON array, in input
//	                          order, of answers or {"error","field","index"}
//	GET  /v1/models/champion  the served model: name, version, loaded_at
//	GET  /healthz             200 while the process runs
//	GET  /readyz              200 with a model loaded, else 503
//	GET  /metrics             Prometheus exposition of the given registry
//
// Errors are {"error": message, "field": field} with the status of the one
// table in statusOf; internal errors are logged in full and shown as
// "internal error".
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"tripcast"
	"tripcast/serve"
)

// Defaults of Config.
const (
	DefaultListen            = "127.0.0.1:8080"
	DefaultMaxBodyBytes      = 1 << 20  // one ride
	DefaultMaxBatchBodyBytes = 32 << 20 // a batch
	DefaultMaxBatchItems     = 100_000
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
)

// Config configures a Server. Zero values take the defaults.
type Config struct {
	Listen            string // host:port; default 127.0.0.1:8080
	MaxBodyBytes      int64  // POST /v1/predict body limit (413 beyond)
	MaxBatchBodyBytes int64  // POST /v1/predict/batch body limit (413 beyond)
	MaxBatchItems     int    // rides per batch (413 beyond)
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// PredictionLog gets every prediction made (source "http") before it is
	// answered; Log only (buffered). When Log fails the request fails (503)
	// rather than answering an unlogged prediction. nil: not logged.
	PredictionLog tripcast.PredictionLog
	// Now is the clock of received/predicted times. nil: time.Now.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxBatchBodyBytes <= 0 {
		c.MaxBatchBodyBytes = DefaultMaxBatchBodyBytes
	}
	if c.MaxBatchItems <= 0 {
		c.MaxBatchItems = DefaultMaxBatchItems
	}
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Registry is where the server registers its metrics and what /metrics
// exposes: a *prometheus.Registry (never the default one).
type Registry interface {
	prometheus.Registerer
	prometheus.Gatherer
}

// Server is the HTTP API. New → Serve (or ListenAndServe) → Shutdown.
type Server struct {
	cfg  Config
	pred *serve.Predictor
	log  *slog.Logger
	srv  *http.Server
	mux  *http.ServeMux

	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge

	mu sync.Mutex
	ln net.Listener
}

// New returns a Server answering with pred, logging to logger (nil:
// discard) and registering its metrics with reg. It fails when the metrics
// are already registered in reg.
func New(cfg Config, pred *serve.Predictor, logger *slog.Logger, reg Registry) (*Server, error) {
	cfg.defaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if pred == nil || reg == nil {
		return nil, tripcast.Errorf(tripcast.EINVALID, "httpapi: predictor and registry are required")
	}
	s := &Server{cfg: cfg, pred: pred, log: logger, mux: http.NewServeMux()}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tripcast_http_requests_total", Help: "HTTP requests, by route and status code.",
	}, []string{"route", "code"})
	s.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tripcast_http_request_duration_seconds",
		Help:    "HTTP request latency (handler time), by route and status code.",
		Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "code"})
	s.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tripcast_http_requests_in_flight", Help: "HTTP requests being served.",
	})
	for _, c := range []prometheus.Collector{s.requests, s.duration, s.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register HTTP metrics: %w", err)
		}
	}

	s.mux.HandleFunc("POST /v1/predict", s.handlePredict)
	s.mux.HandleFunc("POST /v1/predict/batch", s.handleBatch)
	s.mux.HandleFunc("GET /v1/models/champion", s.handleChampion)
	s.mux.HandleFunc("GET /healthz", s.handleHealth)
	s.mux.HandleFunc("GET /readyz", s.handleReady)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelError), Registry: reg,
	}))
	s.mux.HandleFunc("/", s.handleUnmatched)

	s.srv = &http.Server{
		Addr:              cfg.Listen,
		Handler:           s,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// ServeHTTP serves the API with metrics: it is the whole handler, usable
// without listening (httptest, embedding in another server).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.inFlight.Inc()
	defer s.inFlight.Dec() // also when a handler panics
	rec := statusRecorder{ResponseWriter: w}
	s.mux.ServeHTTP(&rec, r)
	route := r.Pattern // set by the mux: "POST /v1/predict"
	if route == "" || route == "/" {
		route = "unmatched"
	}
	if rec.code == 0 {
		rec.code = http.StatusOK
	}
	code := codeLabel(rec.code)
	s.requests.WithLabelValues(route, code).Inc()
	s.duration.WithLabelValues(route, code).Observe(time.Since(start).Seconds())
}

// codeLabel avoids strconv for the common statuses.
func codeLabel(code int) string {
	switch code {
	case 200:
		return "200"
	case 400:
		return "400"
	case 404:
		return "404"
	case 405:
		return "405"
	case 413:
		return "413"
	case 500:
		return "500"
	case 503:
		return "503"
	}
	return strconv.Itoa(code)
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// ListenAndServe listens on Config.Listen and serves until Shutdown (then it
// returns nil).
func (s *Server) ListenAndServe() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return &tripcast.Error{Code: tripcast.EUNAVAILABLE, Message: "cannot listen on " + s.cfg.Listen, Err: err}
	}
	return s.Serve(ln)
}

// Serve serves on ln until Shutdown (then it returns nil).
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	s.log.Info("HTTP API listening", "addr", "http://"+ln.Addr().String())
	if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve HTTP on %s: %w", ln.Addr(), err)
	}
	return nil
}

// Addr returns the address being served, or nil before Serve.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Shutdown stops accepting connections and waits for the requests being
// served, until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("shut down HTTP API: %w", err)
	}
	return nil
}

// statusOf is THE table from error codes to HTTP statuses.
func statusOf(code string) int {
	switch code {
	case tripcast.EINVALID:
		return http.StatusBadRequest
	case tripcast.ENOTFOUND:
		return http.StatusNotFound
	case tripcast.ECONFLICT:
		return http.StatusConflict
	case tripcast.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case tripcast.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

var (
	jsonType = []string{"application/json"}
	noSniff  = []string{"nosniff"}
	bufPool  = sync.Pool{New: func() any { return new(bytes.Buffer) }}
)

// maxPooled is the largest buffer kept for reuse: a big batch's buffer is
// left to the garbage collector rather than held forever.
const maxPooled = 1 << 20

func getBuf() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

func putBuf(b *bytes.Buffer) {
	if b.Cap() <= maxPooled {
		b.Reset()
		bufPool.Put(b)
	}
}

// appendError appends {"error":...,"field":...[,"index":i]} for err,
// logging internal errors in full.
func (s *Server) appendError(dst []byte, r *http.Request, err error, index int) []byte {
	code := tripcast.ErrorCode(err)
	if code == tripcast.EINTERNAL {
		s.log.Error("internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	dst = append(dst, `{"error":`...)
	dst = serve.AppendString(dst, tripcast.ErrorMessage(err))
	if f := tripcast.ErrorField(err); f != "" {
		dst = append(dst, `,"field":`...)
		dst = serve.AppendString(dst, f)
	}
	if index >= 0 {
		dst = append(dst, `,"index":`...)
		dst = strconv.AppendInt(dst, int64(index), 10)
	}
	return append(dst, '}')
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	s.writeJSON(w, statusOf(tripcast.ErrorCode(err)), s.appendError(nil, r, err, -1))
}

func (s *Server) writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonType
	h["X-Content-Type-Options"] = noSniff
	w.WriteHeader(status)
	w.Write(body)
}

// readBody reads the request body into buf, up to limit bytes. It answers
// 413 (and returns false) beyond the limit, 400 on a read error.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, buf *bytes.Buffer, limit int64) bool {
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	if err == nil {
		return true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		s.writeJSON(w, http.StatusRequestEntityTooLarge, s.appendError(nil, r,
			tripcast.FieldError("body", "request body is over the limit of %d bytes", limit), -1))
		return false
	}
	s.writeError(w, r, &tripcast.Error{Code: tripcast.EINVALID, Field: "body", Message: "cannot read request body", Err: err})
	return false
}

// logPredictions hands recs to the prediction log.
func (s *Server) logPredictions(ctx context.Context, recs []tripcast.PredictionRecord) error {
	if s.cfg.PredictionLog == nil || len(recs) == 0 {
		return nil
	}
	if err := s.cfg.PredictionLog.Log(ctx, recs); err != nil {
		if tripcast.ErrorCode(err) != tripcast.EUNAVAILABLE {
			return fmt.Errorf("log %d predictions: %w", len(recs), err)
		}
		return err
	}
	return nil
}

func (s *Server) handlePredict(w http.ResponseWriter, r *http.Request) {
	received := s.cfg.Now()
	buf := getBuf()
	defer putBuf(buf)
	if !s.readBody(w, r, buf, s.cfg.MaxBodyBytes) {
		return
	}
	var out [1]serve.Outcome
	ev := [1][]byte{buf.Bytes()}
	if _, err := s.pred.PredictEvents(r.Context(), ev[:], received, tripcast.SourceHTTP, out[:]); err != nil {
		s.writeError(w, r, err)
		return
	}
	if out[0].Err != nil {
		s.writeError(w, r, out[0].Err)
		return
	}
	if err := s.logPredictions(r.Context(), []tripcast.PredictionRecord{out[0].Record}); err != nil {
		s.writeError(w, r, err)
		return
	}
	buf.Reset()
	s.writeJSON(w, http.StatusOK, serve.AppendPrediction(buf.AvailableBuffer(), out[0].Prediction))
}

// isNDJSON reports whether the request declares newline-delimited JSON.
func isNDJSON(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/x-ndjson" || mt == "application/ndjson" || mt == "application/jsonl")
}

// handleBatch answers a batch. The status is 200 whenever the batch itself
// could be read (even when some or all items failed): each item of the
// answer array is either a prediction or {"error","field","index"}, in input
// order. The whole request fails only when the body is over its limits or is
// not a JSON array (400), or when no model is loaded (503). All items are
// predicted with one model version.
func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request) {
	received := s.cfg.Now()
	buf := getBuf()
	defer putBuf(buf)
	if !s.readBody(w, r, buf, s.cfg.MaxBatchBodyBytes) {
		return
	}
	var items [][]byte
	if isNDJSON(r) {
		items = serve.SplitLines(buf.Bytes())
	} else {
		var err error
		if items, err = serve.SplitArray(buf.Bytes()); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	if len(items) > s.cfg.MaxBatchItems {
		s.writeJSON(w, http.StatusRequestEntityTooLarge, s.appendError(nil, r,
			tripcast.FieldError("body", "batch of %d rides is over the limit of %d", len(items), s.cfg.MaxBatchItems), -1))
		return
	}
	out := make([]serve.Outcome, len(items))
	if len(items) > 0 {
		if _, err := s.pred.PredictEvents(r.Context(), items, received, tripcast.SourceHTTP, out); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	recs := make([]tripcast.PredictionRecord, 0, len(items))
	for i := range out {
		if out[i].Err == nil {
			recs = append(recs, out[i].Record)
		}
	}
	if err := s.logPredictions(r.Context(), recs); err != nil {
		s.writeError(w, r, err)
		return
	}

	body := buf.AvailableBuffer()[:0] // the request bytes are no longer needed
	if cap(body) < 128*len(items) {
		body = make([]byte, 0, 128*len(items)+2)
	}
	body = append(body, '[')
	for i := range out {
		if i > 0 {
			body = append(body, ',')
		}
		if out[i].Err != nil {
			body = s.appendError(body, r, out[i].Err, i)
		} else {
			body = serve.AppendPrediction(body, out[i].Prediction)
		}
	}
	body = append(body, ']')
	s.writeJSON(w, http.StatusOK, body)
}

// methods are the API's paths and the method each takes, for 405 answers.
var methods = map[string]string{
	"/v1/predict": http.MethodPost, "/v1/predict/batch": http.MethodPost, "/v1/models/champion": http.MethodGet,
	"/healthz": http.MethodGet, "/readyz": http.MethodGet, "/metrics": http.MethodGet,
}

// handleUnmatched answers requests no route takes, in JSON: 405 for a known
// path with the wrong method, else 404.
func (s *Server) handleUnmatched(w http.ResponseWriter, r *http.Request) {
	if m, ok := methods[r.URL.Path]; ok {
		w.Header().Set("Allow", m)
		s.writeJSON(w, http.StatusMethodNotAllowed, s.appendError(nil, r,
			tripcast.Errorf(tripcast.EINVALID, "method %s not allowed on %s, use %s", r.Method, r.URL.Path, m), -1))
		return
	}
	s.writeError(w, r, tripcast.Errorf(tripcast.ENOTFOUND, "no route %s %s", r.Method, r.URL.Path))
}

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
	body, _ := json.Marshal(Champion{Name: snap.Model.Name(), Version: snap.Model.Version(),
		LoadedAt: snap.LoadedAt.UTC(), FeatureSpecVersion: snap.FeatureSpecVersion()})
	s.writeJSON(w, http.StatusOK, body)
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	v, rev := tripcast.Version()
	body, _ := json.Marshal(map[string]string{"status": "ok", "version": v, "revision": rev})
	s.writeJSON(w, http.StatusOK, body)
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	snap := s.pred.Snapshot()
	if snap == nil {
		s.writeError(w, r, tripcast.Errorf(tripcast.EUNAVAILABLE, "no model loaded"))
		return
	}
	body, _ := json.Marshal(map[string]string{"status": "ready", "model": snap.Model.Name(), "version": snap.Model.Version()})
	s.writeJSON(w, http.StatusOK, body)
}
