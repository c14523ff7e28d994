package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"tripcast"
	"tripcast/consume"
	"tripcast/httpapi"
	"tripcast/model"
	"tripcast/predlog"
	"tripcast/serve"
	"tripcast/sqlstore"
)

// serving is what every way of serving shares in one process: one metrics
// registry, one predictor following the registry's champion, and one
// prediction log.
type serving struct {
	reg     *prometheus.Registry
	metrics *serve.Metrics
	pred    *serve.Predictor
	source  tripcast.ModelSource
	// plog is the request path's prediction log: a write-ahead spool in
	// front of the metadata database and parquet files, both buffered.
	plog tripcast.PredictionLog
	// sql and parquet are the two logs, for the stream consumer.
	sql     tripcast.PredictionLog
	parquet *predlog.Writer
	// sinks are the opt-in logs of prediction_sinks, buffered.
	sinks []tripcast.PredictionLog
	// checks are more readiness checks /readyz reports (a stream
	// consumer's health, for instance): append before httpServer.
	checks []httpapi.Check
}

// streamLog is the stream consumer's prediction log: the metadata database
// written before each acknowledgement, parquet in the background (or also
// before each acknowledgement with parquetSync, at one file per batch).
func (s *serving) streamLog(parquetSync bool) tripcast.PredictionLog {
	if parquetSync {
		return predlog.Multi(append([]tripcast.PredictionLog{s.sql, s.parquet}, s.sinks...)...)
	}
	return consume.Tee(s.sql, append([]tripcast.PredictionLog{s.parquet}, s.sinks...)...)
}

// serving builds the shared serving core (once per process).
func (a *app) serving(ctx context.Context) (*serving, error) {
	if a.srv != nil {
		return a.srv, nil
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m, err := serve.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	tr, err := a.tracker(ctx, true)
	if err != nil {
		return nil, err
	}
	store, err := a.blobStore(ctx)
	if err != nil {
		return nil, err
	}
	db, err := a.store(ctx)
	if err != nil {
		return nil, err
	}
	// The prediction log: rows in the metadata database and parquet files
	// in the blob store, both buffered for the request path; a stream
	// consumer flushes both before it acknowledges a batch.
	pw := predlog.New(store, predlog.Options{Logger: a.log})
	sw := predlog.Buffered(db.PredictionLog(), predlog.Options{Logger: a.log, FlushInterval: time.Second})
	a.onClose(pw.Close) // closers run in reverse: these before the stores'
	a.onClose(sw.Close)
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "tripcast_prediction_log_rejected_total",
		Help: "Prediction records the metadata database refused (such as a NUL in a PostgreSQL text), set aside from the SQL log."},
		func() float64 { return float64(db.RejectedPredictions()) }))
	sinks, err := a.predictionSinks(store)
	if err != nil {
		return nil, err
	}
	spool, err := a.spool(reg, predlog.Multi(append([]tripcast.PredictionLog{sw, pw}, sinks...)...))
	if err != nil {
		return nil, err
	}
	s := &serving{
		reg: reg, metrics: m,
		pred:   serve.New(serve.Options{Logger: a.log, Metrics: m}),
		source: model.NewRegistrySource(tr, a.cfg.ModelName),
		plog:   spool,
		sql:    db.PredictionLog(), parquet: pw, sinks: sinks,
	}
	// Answers wait in the spool while a log cannot be written: the replica
	// still answers durably, so a failing log degrades readiness.
	s.checks = append(s.checks, httpapi.Check{Name: "prediction_log", Check: func(context.Context) error { return spool.CheckLog() }})
	a.srv = s
	return s, nil
}

// follow loads the champion now (when there is one) and keeps following it
// in the background until ctx ends.
func (s *serving) follow(ctx context.Context, a *app, every time.Duration) {
	if _, err := s.pred.Refresh(ctx, s.source); err != nil {
		a.log.Warn("no model loaded yet", "err", err)
	}
	go func() {
		if err := s.pred.Follow(ctx, s.source, every); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error("following the champion stopped", "err", err)
		}
	}()
}

// compactLog starts the prediction log's compactor in the background
// (predlog.RunCompactor: every compact_every, finished hours merged into
// one file each, by one of the processes sharing the metadata database at a
// time) unless compact_every is 0. It stops when ctx ends or the app
// closes, before the stores do.
func (s *serving) compactLog(ctx context.Context, a *app) error {
	every, err := time.ParseDuration(a.cfg.CompactEvery)
	if err != nil || every < 0 {
		return tripcast.FieldError("compact_every", "%q is not a duration such as 10m (0 turns compaction off)", a.cfg.CompactEvery)
	}
	if every == 0 {
		return nil
	}
	db, store, err := a.logStores(ctx)
	if err != nil {
		return err
	}
	holder := leaseHolder("serving")
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := predlog.RunCompactor(ctx, store, db, holder, predlog.CompactorOptions{Every: every, Logger: a.log}); err != nil {
			a.log.Error("prediction log compactor stopped", "err", err)
		}
	}()
	a.onClose(func() error {
		cancel()
		<-done
		return nil
	})
	return nil
}

// logStores opens the metadata database (the compaction lease) and the
// blob store (the parquet prediction log).
func (a *app) logStores(ctx context.Context) (*sqlstore.DB, tripcast.BlobStore, error) {
	db, err := a.store(ctx)
	if err != nil {
		return nil, nil, err
	}
	store, err := a.blobStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	return db, store, nil
}

// leaseHolder names this process as a lease holder: role, host, pid and a
// random suffix (two processes never share a name).
func leaseHolder(role string) string {
	host, _ := os.Hostname()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:]) // crypto/rand.Read never fails
	return fmt.Sprintf("%s:%s:%d:%x", role, host, os.Getpid(), rnd)
}

// httpServer starts the HTTP API on the listen setting; it stops when ctx
// ends. The returned channel yields the server's error.
func (s *serving) httpServer(ctx context.Context, a *app) (*httpapi.Server, <-chan error, error) {
	srv, err := httpapi.New(httpapi.Config{Listen: a.cfg.Listen, PredictionLog: s.plog,
		Champion: s.source.Champion, Checks: s.checks}, s.pred, a.log, s.reg)
	if err != nil {
		return nil, nil, err
	}
	errc := make(chan error, 1)
	go func() {
		err := srv.ListenAndServe()
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return srv, errc, nil
}

// defaultFollow is how often servers check the champion alias.
const defaultFollow = 2 * time.Second

func newServeCmd(a *app) *cobra.Command {
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the champion model over HTTP (stateless: run as many as you like)",
		Long: `Serve predictions over HTTP on --listen (default 127.0.0.1:8080):
POST /v1/predict, POST /v1/predict/batch, POST /predict (the course's web
service), GET /v1/models/champion, /healthz, /readyz, /metrics. The server follows the registry's champion alias and swaps
models atomically; every prediction goes to the prediction log.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			s, err := a.serving(ctx)
			if err != nil {
				return err
			}
			s.follow(ctx, a, every)
			if err := s.compactLog(ctx, a); err != nil {
				return err
			}
			if err := s.monitorLog(ctx, a); err != nil {
				return err
			}
			_, errc, err := s.httpServer(ctx, a)
			if err != nil {
				return err
			}
			a.log.Info("serving", "listen", a.cfg.Listen, "model", a.cfg.ModelName)
			if err := <-errc; err != nil {
				return fmt.Errorf("http server: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&every, "follow-every", defaultFollow, "how often to check the champion alias")
	return cmd
}
