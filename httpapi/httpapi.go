// Package httpapi is tripcast's JSON API over HTTP: predictions (one ride or
// a batch, and the course's web service), the served model, health,
// readiness and Prometheus metrics.
//
// Routes:
//
//	POST /v1/predict          one ride event → one answer (course format)
//	POST /v1/predict/batch    JSON array (or NDJSON with Content-Type
//	                          application/x-ndjson) → JSON array, in input
//	                          order, of answers or {"error","field","index"}
//	POST /predict             the course's web service: {"PULocationID",
//	                          "DOLocationID", "trip_distance"} →
//	                          {"duration", "model_version"}
//	GET  /v1/models/champion  the served model: name, version, loaded_at
//	GET  /healthz             200 while the process runs
//	GET  /readyz              200 with a model loaded, else 503 (see Check)
//	GET  /metrics             Prometheus exposition of the given registry
//
// The code is split by resource, as miniflux does: predict_handlers.go
// (/v1/predict and its batch), course_handlers.go (/predict),
// model_handlers.go, health_handlers.go, metrics.go, and response.go, the
// one builder of JSON answers and errors. Errors are {"error": message,
// "field": field} with the status of the one table in statusOf; internal
// errors are logged in full and shown as "internal error".
package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
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
	// DefaultBatchBudgetBytes bounds the request bodies of the batches being
	// worked on at once: one full-size batch, or many small ones. A batch
	// costs about 17 times its body in memory while it is answered (the
	// body, the outcomes, the log records, the answer), so the default
	// keeps batch work near 600 MB at most.
	DefaultBatchBudgetBytes  = DefaultMaxBatchBodyBytes
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultReadyTimeout      = 2 * time.Second
)

// Config configures a Server. Zero values take the defaults.
type Config struct {
	Listen            string // host:port; default 127.0.0.1:8080
	MaxBodyBytes      int64  // POST /v1/predict and /predict body limit (413 beyond)
	MaxBatchBodyBytes int64  // POST /v1/predict/batch body limit (413 beyond)
	MaxBatchItems     int    // rides per batch (413 beyond)
	// BatchBudgetBytes bounds the sum of the body sizes of the batch
	// requests being worked on at once; a batch that does not fit is
	// refused at once with 429 and Retry-After. A body of unknown length
	// (chunked) counts as MaxBatchBodyBytes; a batch alone always fits.
	BatchBudgetBytes  int64
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// PredictionLog gets every prediction made (source "http") before it is
	// answered; Log only (buffered). When Log fails the request fails (503)
	// rather than answering an unlogged prediction. nil: not logged.
	PredictionLog tripcast.PredictionLog
	// Champion returns the version serving should be on (the registry's
	// champion alias), for /readyz to say when the served model is another
	// one. nil: not reported.
	Champion func(ctx context.Context) (version string, err error)
	// Checks are more readiness checks /readyz runs and reports by name
	// (a stream consumer's health, for instance).
	Checks []Check
	// ReadyTimeout bounds the time /readyz gives Champion and Checks.
	ReadyTimeout time.Duration
	// Now is the clock of received/predicted times. nil: time.Now.
	Now func() time.Time
}

func (c *Config) defaults() {
	setDefault(&c.Listen, DefaultListen)
	setDefault(&c.MaxBodyBytes, DefaultMaxBodyBytes)
	setDefault(&c.MaxBatchBodyBytes, DefaultMaxBatchBodyBytes)
	setDefault(&c.MaxBatchItems, DefaultMaxBatchItems)
	setDefault(&c.BatchBudgetBytes, DefaultBatchBudgetBytes)
	setDefault(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDefault(&c.ReadTimeout, DefaultReadTimeout)
	setDefault(&c.WriteTimeout, DefaultWriteTimeout)
	setDefault(&c.IdleTimeout, DefaultIdleTimeout)
	setDefault(&c.ReadyTimeout, DefaultReadyTimeout)
	if c.Now == nil {
		c.Now = time.Now
	}
}

// setDefault sets *v to def when it is zero (or negative).
func setDefault[T int | int64 | time.Duration | string](v *T, def T) {
	var zero T
	if *v <= zero {
		*v = def
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
	cfg    Config
	pred   *serve.Predictor
	log    *slog.Logger
	srv    *http.Server
	mux    *http.ServeMux
	m      *metrics
	budget *budget
	// allow is each route's path and the method it takes, for 405 answers.
	allow map[string]string

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
	for i, c := range cfg.Checks {
		if c.Name == "" || c.Check == nil {
			return nil, tripcast.FieldError("checks", "check %d needs a name and a function", i)
		}
	}
	b := newBudget(cfg.BatchBudgetBytes)
	m, err := newMetrics(reg, b.inUse)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, pred: pred, log: logger, mux: http.NewServeMux(), m: m, budget: b, allow: map[string]string{}}

	s.route(http.MethodPost, "/v1/predict", s.handlePredict)
	s.route(http.MethodPost, "/v1/predict/batch", s.handleBatch)
	s.route(http.MethodPost, "/predict", s.handleCoursePredict)
	s.route(http.MethodGet, "/v1/models/champion", s.handleChampion)
	s.route(http.MethodGet, "/healthz", s.handleHealth)
	s.route(http.MethodGet, "/readyz", s.handleReady)
	s.route(http.MethodGet, "/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelError), Registry: reg,
	}).ServeHTTP)
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

// route registers h for method and path, and remembers the pair for 405
// answers.
func (s *Server) route(method, path string, h http.HandlerFunc) {
	s.mux.HandleFunc(method+" "+path, h)
	s.allow[path] = method
}

// ServeHTTP serves the API with metrics: it is the whole handler, usable
// without listening (httptest, embedding in another server).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	s.m.inFlight.Inc()
	defer s.m.inFlight.Dec() // also when a handler panics
	rec := statusRecorder{ResponseWriter: w}
	s.mux.ServeHTTP(&rec, r)
	s.m.observe(r.Pattern, rec.code, time.Since(start))
}

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

// handleUnmatched answers requests no route takes, in JSON: 405 for a known
// path with the wrong method, else 404.
func (s *Server) handleUnmatched(w http.ResponseWriter, r *http.Request) {
	if m, ok := s.allow[r.URL.Path]; ok {
		w.Header().Set("Allow", m)
		s.writeErrorStatus(w, r, http.StatusMethodNotAllowed,
			tripcast.Errorf(tripcast.EINVALID, "method %s not allowed on %s, use %s", r.Method, r.URL.Path, m))
		return
	}
	s.writeError(w, r, tripcast.Errorf(tripcast.ENOTFOUND, "no route %s %s", r.Method, r.URL.Path))
}
