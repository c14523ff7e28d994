// Package consume is tripcast's stream prediction consumer: it reads ride
// events from a tripcast.Stream (NATS JetStream or Kinesis) and hands each
// batch to serve.BatchHandler, the event-batch core it shares with the
// Lambda handler (predict with one model snapshot, log durably, publish
// once, dead-letter what can never get a prediction). The consumer runs
// the read loops, waits for a model, counts, watches the stream lag and
// reports when it stalls (Healthy).
//
// Accounting: a batch is acknowledged (its checkpoint advanced) only after
// the core handled all of it; any failure makes the engine deliver the
// batch again, and redelivery never duplicates a prediction (see
// serve.BatchHandler.Handle).
package consume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"tripcast"
	"tripcast/serve"
)

// Default consumer settings (stream names are tripcast.RideEventsStream,
// tripcast.PredictionsStream and tripcast.DeadLetterStream).
const (
	DefaultConsumer = "tripcast_predict"
	// DefaultMaxDeliver is how many times a batch whose events failed for
	// a reason that might pass (the model failed) is tried before those
	// events are dead-lettered.
	DefaultMaxDeliver = serve.DefaultMaxDeliver
	// DefaultStallAfter is how long every batch may fail before the
	// consumer reports itself stalled (Healthy).
	DefaultStallAfter = time.Minute
)

// Config configures a Consumer. Zero values take the defaults.
type Config struct {
	Input      string // stream of ride events; default tripcast.RideEventsStream
	Output     string // stream predictions are published to; default tripcast.PredictionsStream
	DeadLetter string // stream of events that got no prediction; default tripcast.DeadLetterStream
	Consumer   string // durable consumer name; default DefaultConsumer
	// MaxDeliver: an event the model failed on (EINTERNAL), or a batch
	// arriving while no model is loaded, is retried (the handler returns
	// an error, the engine redelivers) until it has been delivered
	// MaxDeliver times; then it is dead-lettered with the reason. Failures
	// to log or publish are retried forever: they are the infrastructure's,
	// not the event's. Default DefaultMaxDeliver.
	MaxDeliver int
	// Workers is how many Consume loops share the consumer: NATS spreads
	// batches over them, so one can fetch and ack while another writes
	// (messages of one key may then be handled out of order). Must be 1
	// on Kinesis, which already handles shards in parallel. Default 1.
	Workers int
	// Source is the prediction source recorded in the log; default: what
	// the stream tells (a Sourcer), else tripcast.SourceNATS. Workers must
	// be 1 when it is tripcast.SourceKinesis.
	Source string
	// WaitModel is how often Run checks for a model before it starts
	// consuming (events are not read while no model is loaded). Default
	// 100 ms.
	WaitModel time.Duration
	// LagEvery is how often the stream lag gauge is refreshed, when the
	// engine tells it (NATS). Default 5 s.
	LagEvery time.Duration
	// ScanWindow bounds how far back the output stream is read to find a
	// prediction the log held already (see serve.BatchHandler.Handle): a crashed
	// attempt's predictions are seconds to minutes old and are looked for
	// from their logging time; one logged earlier than ScanWindow ago (a
	// consumer down for longer) is published again without looking. The
	// stream reads back about 380,000 messages/s here, so at 50,000
	// events/s the default 2 minutes (the duplicate window JetStream would
	// otherwise keep) reads in 16 s, within AckWait. Default 2 minutes.
	ScanWindow time.Duration
	// StallAfter: when every handler call has failed for this long (a batch
	// that cannot make progress: the log, output or dead-letter stream
	// refusing it), the consumer logs an error, sets the gauge
	// tripcast_stream_stalled and Healthy returns the stall. The batch is
	// still retried (the engine backs off up to 5 s). Default
	// DefaultStallAfter.
	StallAfter time.Duration
	// Registerer, when set, gets the consumer's own metrics (redeliveries
	// and handler failures); the event accounting goes to the predictor's
	// serve.Metrics.
	Registerer prometheus.Registerer
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults(s tripcast.Stream) {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&c.Input, tripcast.RideEventsStream)
	def(&c.Output, tripcast.PredictionsStream)
	def(&c.DeadLetter, tripcast.DeadLetterStream)
	def(&c.Consumer, DefaultConsumer)
	if c.Source == "" {
		c.Source = tripcast.SourceNATS
		if sr, ok := s.(Sourcer); ok {
			c.Source = sr.Source()
		}
	}
	if c.Workers <= 0 {
		c.Workers = 1
	}
	if c.WaitModel <= 0 {
		c.WaitModel = 100 * time.Millisecond
	}
	if c.LagEvery <= 0 {
		c.LagEvery = 5 * time.Second
	}
	if c.StallAfter <= 0 {
		c.StallAfter = DefaultStallAfter
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Stats are a Consumer's plain counters, for reports and tests. Events are
// counted once their batch is acknowledged, so Received == Predicted +
// DeadLettered always holds; an event delivered again (after a crash or a
// failed batch) is counted again.
type Stats struct {
	Received         int64 // events in acknowledged batches
	Predicted        int64 // of those, predicted, logged and published
	AlreadyPublished int64 // of Predicted: not published again (found published by an earlier attempt, or repeating an event of its batch)
	DeadLettered     int64 // of those, written to the dead-letter stream
	Redelivered      int64 // events seen with Delivered > 1
	Batches          int64 // batches acknowledged
	Failures         int64 // handler calls that returned an error (batch retried)
	Scans            int64 // output stream read-backs, for predictions an earlier attempt logged
	Lag              int64 // events waiting for the consumer at the last check (-1: unknown)
}

// Sourcer is implemented by a stream that tells which prediction source
// its events are (a tripcast.Source* constant), so that the consumer need
// not know the engine's type.
type Sourcer interface {
	Source() string
}

// Consumer predicts the ride events of one input stream. Create it with
// New and start it with Run.
type Consumer struct {
	cfg     Config
	s       tripcast.Stream
	p       *serve.Predictor
	core    *serve.BatchHandler
	log     *slog.Logger
	metrics *serve.Metrics

	redelivered prometheus.Counter
	failures    prometheus.Counter
	alreadyPub  prometheus.Counter
	stalled     prometheus.Gauge

	received, predicted, deadLettered, redeliveredN, batches, failuresN, lag, already, scans atomic.Int64

	stall stall
}

// New returns a Consumer reading cfg.Input from s, predicting with p (which
// must be given a model, by Swap or Follow, for Run to start), logging to
// plog. It fails (EINVALID) on a missing argument or a bad name, or when
// cfg.Registerer already holds the consumer's metrics.
func New(cfg Config, s tripcast.Stream, p *serve.Predictor, plog tripcast.PredictionLog) (*Consumer, error) {
	switch {
	case s == nil:
		return nil, tripcast.FieldError("stream", "is nil")
	case p == nil:
		return nil, tripcast.FieldError("predictor", "is nil")
	case plog == nil:
		return nil, tripcast.FieldError("prediction_log", "is nil")
	}
	cfg.setDefaults(s)
	for _, n := range []struct{ field, name string }{{"input", cfg.Input}, {"output", cfg.Output},
		{"dead_letter", cfg.DeadLetter}, {"consumer", cfg.Consumer}} {
		if !validName(n.name) {
			return nil, tripcast.FieldError(n.field, "%q is not a valid name: use 1 to 64 characters from A-Z a-z 0-9 _ -", n.name)
		}
	}
	if cfg.Source == tripcast.SourceKinesis && cfg.Workers > 1 {
		return nil, tripcast.FieldError("workers", "must be 1 on Kinesis (it reads shards in parallel already; two loops would both read every shard), got %d", cfg.Workers)
	}
	if cfg.Input == cfg.Output || cfg.Input == cfg.DeadLetter || cfg.Output == cfg.DeadLetter {
		return nil, tripcast.FieldError("output", "input, output and dead-letter streams must differ (got %s, %s, %s)", cfg.Input, cfg.Output, cfg.DeadLetter)
	}
	c := &Consumer{cfg: cfg, s: s, p: p, metrics: p.Metrics(),
		log: cfg.Logger.With("component", "consume", "input", cfg.Input, "consumer", cfg.Consumer)}
	c.lag.Store(-1)
	var err error
	c.core, err = serve.NewBatchHandler(serve.BatchConfig{Input: cfg.Input, Output: cfg.Output, DeadLetter: cfg.DeadLetter,
		Source: cfg.Source, MaxDeliver: cfg.MaxDeliver, ScanWindow: cfg.ScanWindow, Logger: c.log, Now: cfg.Now}, p, s, plog)
	if err != nil {
		return nil, err
	}
	bc := c.core.Config() // the core's defaults
	c.cfg.MaxDeliver, c.cfg.ScanWindow = bc.MaxDeliver, bc.ScanWindow
	if cfg.Registerer != nil {
		c.redelivered = prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tripcast_stream_redelivered_total", Help: "Ride events the stream delivered more than once (after a failed batch or a crash).",
			ConstLabels: prometheus.Labels{"stream": cfg.Input, "consumer": cfg.Consumer}})
		c.failures = prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tripcast_stream_batch_failures_total", Help: "Stream batches whose handling failed and will be delivered again.",
			ConstLabels: prometheus.Labels{"stream": cfg.Input, "consumer": cfg.Consumer}})
		c.alreadyPub = prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tripcast_stream_already_published_total", Help: "Predictions not published again: found in the output stream (an earlier attempt logged and published them), or repeating an event of their batch.",
			ConstLabels: prometheus.Labels{"stream": cfg.Input, "consumer": cfg.Consumer}})
		c.stalled = prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tripcast_stream_stalled", Help: "1 while every batch of the consumer has failed for longer than its stall limit (see /readyz), else 0.",
			ConstLabels: prometheus.Labels{"stream": cfg.Input, "consumer": cfg.Consumer}})
		for _, m := range []prometheus.Collector{c.redelivered, c.failures, c.alreadyPub, c.stalled} {
			if err := cfg.Registerer.Register(m); err != nil {
				return nil, tripcast.FieldError("registerer", "register consumer metrics: %v", err)
			}
		}
	}
	return c, nil
}

// validName reports whether name is a valid stream or consumer name (the
// common subset of the engines': [A-Za-z0-9_-]{1,64}).
func validName(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Config returns the effective configuration (defaults filled in).
func (c *Consumer) Config() Config { return c.cfg }

// Stats returns the counters so far.
func (c *Consumer) Stats() Stats {
	return Stats{Received: c.received.Load(), Predicted: c.predicted.Load(), DeadLettered: c.deadLettered.Load(),
		AlreadyPublished: c.already.Load(), Redelivered: c.redeliveredN.Load(), Batches: c.batches.Load(), Failures: c.failuresN.Load(), Scans: c.scans.Load(), Lag: c.lag.Load()}
}

// pender is implemented by engines that tell a consumer's lag (*stream.NATS).
type pender interface {
	Pending(ctx context.Context, stream, consumer string) (uint64, error)
}

// Run creates the three streams if needed, waits until the predictor has a
// model, then consumes until ctx is done (returning nil) or the stream
// fails for good (returning its error).
func (c *Consumer) Run(ctx context.Context) error {
	for _, name := range []string{c.cfg.Input, c.cfg.Output, c.cfg.DeadLetter} {
		if err := c.s.EnsureStream(ctx, name); err != nil {
			if ctx.Err() != nil {
				return nil // stopped while starting: a shutdown, not a failure
			}
			return fmt.Errorf("ensure stream %s: %w", name, err)
		}
	}
	if !c.waitModel(ctx) {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	if pd, ok := c.s.(pender); ok {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.watchLag(ctx, pd)
		}()
	}
	errs := make([]error, c.cfg.Workers)
	for i := range c.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if errs[i] = c.s.Consume(ctx, c.cfg.Input, c.cfg.Consumer, c.Handle); errs[i] != nil {
				cancel() // one loop failing for good stops the others
			}
		}()
	}
	c.log.Info("consuming ride events", "output", c.cfg.Output, "dead_letter", c.cfg.DeadLetter, "workers", c.cfg.Workers)
	wg.Wait()
	st := c.Stats()
	c.log.Info("consumer stopped", "received", st.Received, "predicted", st.Predicted, "dead_lettered", st.DeadLettered,
		"redelivered", st.Redelivered)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("consume %s: %w", c.cfg.Input, err)
	}
	return nil
}

// waitModel returns true once the predictor has a model, false if ctx is
// done first.
func (c *Consumer) waitModel(ctx context.Context) bool {
	if c.p.Snapshot() != nil {
		return true
	}
	c.log.Info("waiting for a model before consuming")
	t := time.NewTicker(c.cfg.WaitModel)
	defer t.Stop()
	for c.p.Snapshot() == nil {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

// watchLag refreshes the lag gauge until ctx is done.
func (c *Consumer) watchLag(ctx context.Context, pd pender) {
	t := time.NewTicker(c.cfg.LagEvery)
	defer t.Stop()
	for {
		n, err := pd.Pending(ctx, c.cfg.Input, c.cfg.Consumer)
		if err == nil {
			c.lag.Store(int64(n))
			if c.metrics != nil {
				c.metrics.StreamLag.WithLabelValues(c.cfg.Input, c.cfg.Consumer).Set(float64(n))
			}
		} else if ctx.Err() == nil && tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
			c.log.Debug("stream lag unknown", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Handle is the stream handler (Run passes it to Stream.Consume; exported
// for adapters that receive batches themselves): serve.BatchHandler.Handle
// on the batch, counted. It returns nil only when every event of the batch
// is predicted, logged and published, or dead-lettered, so that the batch
// may be acknowledged; otherwise an error (the batch comes again).
func (c *Consumer) Handle(ctx context.Context, batch []tripcast.Message) error {
	var res serve.BatchResult
	if err := c.core.Handle(ctx, batch, &res); err != nil {
		c.failed(batch, err)
		return err
	}
	c.succeeded()
	c.received.Add(int64(res.Received))
	c.predicted.Add(int64(res.Predicted))
	c.deadLettered.Add(int64(res.DeadLettered))
	c.scans.Add(int64(res.Scans))
	c.batches.Add(1)
	if res.AlreadyPublished > 0 {
		c.already.Add(int64(res.AlreadyPublished))
		if c.alreadyPub != nil {
			c.alreadyPub.Add(float64(res.AlreadyPublished))
		}
	}
	if res.Redelivered > 0 {
		c.redeliveredN.Add(int64(res.Redelivered))
		if c.redelivered != nil {
			c.redelivered.Add(float64(res.Redelivered))
		}
	}
	return nil
}

// stall is the state of a run of handler failures.
type stall struct {
	mu      sync.Mutex
	since   time.Time // first failure of the run; zero: the last call succeeded
	n       int       // failures in the run
	first   string    // the failing batch's first message ID
	last    error     // the last failure
	stalled bool      // reported (logged, gauge set)
}

// failed records a handler failure: the batch will come again.
func (c *Consumer) failed(batch []tripcast.Message, err error) {
	c.failuresN.Add(1)
	if c.failures != nil {
		c.failures.Inc()
	}
	now := c.cfg.Now()
	st := &c.stall
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.since.IsZero() {
		st.since = now
	}
	st.n++
	st.first, st.last = batch[0].ID, err
	c.checkStall(now)
}

// checkStall reports whether the run of failures is a stall, and reports
// it (an error log line, the gauge) the first time. c.stall.mu is held.
func (c *Consumer) checkStall(now time.Time) bool {
	st := &c.stall
	if st.since.IsZero() || st.n < 2 || now.Sub(st.since) < c.cfg.StallAfter {
		return false
	}
	if !st.stalled {
		st.stalled = true
		if c.stalled != nil {
			c.stalled.Set(1)
		}
		c.log.Error("stream consumer stalled: no batch handled", "since", st.since, "failures", st.n,
			"first_id", st.first, "err", st.last)
	}
	return true
}

// succeeded ends a run of handler failures.
func (c *Consumer) succeeded() {
	st := &c.stall
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.since.IsZero() {
		return
	}
	if st.stalled {
		c.log.Info("stream consumer recovered", "stalled_since", st.since, "failures", st.n)
		if c.stalled != nil {
			c.stalled.Set(0)
		}
	}
	c.stall.since, c.stall.n, c.stall.first, c.stall.last, c.stall.stalled = time.Time{}, 0, "", nil, false
}

// Healthy returns nil while the consumer makes progress, and an
// EUNAVAILABLE error describing the stall when every handler call has
// failed for Config.StallAfter or longer (at least twice): the batch, how
// many attempts since when, and the last error. Readiness checks call it.
func (c *Consumer) Healthy() error {
	st := &c.stall
	st.mu.Lock()
	defer st.mu.Unlock()
	if !c.checkStall(c.cfg.Now()) {
		return nil
	}
	return &tripcast.Error{Code: tripcast.EUNAVAILABLE, Err: st.last, Message: fmt.Sprintf(
		"stream consumer %s of %s stalled: the batch at %s failed %d times in a row since %s",
		c.cfg.Consumer, c.cfg.Input, st.first, st.n, st.since.UTC().Format(time.RFC3339))}
}

// String describes the consumer for logs.
func (c *Consumer) String() string {
	return "consumer " + c.cfg.Consumer + " of " + c.cfg.Input + " (max deliver " + strconv.Itoa(c.cfg.MaxDeliver) + ")"
}
