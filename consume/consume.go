// Package consume is tripcast's stream prediction consumer: it reads ride
// events from a tripcast.Stream (NATS JetStream or Kinesis), predicts them
// in batches with the serve package's Predictor, logs every prediction
// durably, publishes it to the output stream and moves events that can never
// get a prediction to a dead-letter stream, with their reason.
//
// Accounting: a batch is acknowledged (its checkpoint advanced) only after
// each of its events is either predicted, logged (Log then Flush) and
// published, or written to the dead-letter stream. Any failure before that
// makes the engine deliver the batch again; predictions are idempotent by
// ride_id and model version: the SQL log skips a logged pair and tells
// which it held already, and those are published only when the output
// stream, read back, lacks them (see logAndPublish), so redelivery never
// duplicates one.
package consume

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"tripcast"
	"tripcast/serve"
	"tripcast/stream"
)

// Default consumer settings (stream names are tripcast.RideEventsStream,
// tripcast.PredictionsStream and tripcast.DeadLetterStream).
const (
	DefaultConsumer = "tripcast_predict"
	// DefaultMaxDeliver is how many times a batch whose events failed for
	// a reason that might pass (the model failed) is tried before those
	// events are dead-lettered.
	DefaultMaxDeliver = 10
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
	// Source is the prediction source recorded in the log; default
	// tripcast.SourceKinesis for a *stream.Kinesis, else SourceNATS.
	Source string
	// WaitModel is how often Run checks for a model before it starts
	// consuming (events are not read while no model is loaded). Default
	// 100 ms.
	WaitModel time.Duration
	// LagEvery is how often the stream lag gauge is refreshed, when the
	// engine tells it (NATS). Default 5 s.
	LagEvery time.Duration
	// ScanWindow bounds how far back the output stream is read to find a
	// prediction the log held already (see unpublished): a crashed
	// attempt's predictions are seconds to minutes old and are looked for
	// from their logging time; one logged earlier than ScanWindow ago (a
	// consumer down for longer) is published again without looking. The
	// stream reads back about 380,000 messages/s here, so at 50,000
	// events/s the default 2 minutes (the duplicate window JetStream would
	// otherwise keep) reads in 16 s, within AckWait. Default 2 minutes.
	ScanWindow time.Duration
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
		if _, ok := s.(*stream.Kinesis); ok {
			c.Source = tripcast.SourceKinesis
		}
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = DefaultMaxDeliver
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
	if c.ScanWindow <= 0 {
		c.ScanWindow = 2 * time.Minute
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

// Consumer predicts the ride events of one input stream. Create it with
// New and start it with Run.
type Consumer struct {
	cfg     Config
	s       tripcast.Stream
	p       *serve.Predictor
	plog    tripcast.PredictionLog
	log     *slog.Logger
	metrics *serve.Metrics

	redelivered prometheus.Counter
	failures    prometheus.Counter
	alreadyPub  prometheus.Counter

	received, predicted, deadLettered, redeliveredN, batches, failuresN, lag, already atomic.Int64

	scan  tripcast.Scanner // the output stream read back; nil: publish with IDs
	scans atomic.Int64     // output stream read-backs

	pool sync.Pool // *work
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
	if _, ok := s.(*stream.Kinesis); ok && cfg.Workers > 1 {
		return nil, tripcast.FieldError("workers", "must be 1 on Kinesis (it reads shards in parallel already; two loops would both read every shard), got %d", cfg.Workers)
	}
	if cfg.Input == cfg.Output || cfg.Input == cfg.DeadLetter || cfg.Output == cfg.DeadLetter {
		return nil, tripcast.FieldError("output", "input, output and dead-letter streams must differ (got %s, %s, %s)", cfg.Input, cfg.Output, cfg.DeadLetter)
	}
	c := &Consumer{cfg: cfg, s: s, p: p, plog: plog, metrics: p.Metrics(),
		log: cfg.Logger.With("component", "consume", "input", cfg.Input, "consumer", cfg.Consumer)}
	c.lag.Store(-1)
	c.scan, _ = s.(tripcast.Scanner)
	c.pool.New = func() any { return new(work) }
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
		for _, m := range []prometheus.Collector{c.redelivered, c.failures, c.alreadyPub} {
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

// work holds one handler call's buffers, reused across batches.
type work struct {
	events    [][]byte
	outcomes  []serve.Outcome
	recs      []tripcast.PredictionRecord
	out       []tripcast.Message
	ends      []int // end offset in buf of each output message
	buf       []byte
	dead      []tripcast.Message
	prior     []time.Time // per record: when the log held it already (zero: new)
	delivered []int       // per record: its event's Message.Delivered
}

// DeadLetter is the JSON written to the dead-letter stream for an event
// that got no prediction.
type DeadLetter struct {
	Reason string `json:"reason"`          // why, for people: "missing", "must be in 1..265, got 0"…
	Field  string `json:"field,omitempty"` // the offending field, when there is one
	Code   string `json:"code"`            // the tripcast error code: invalid, internal, unavailable
	// Event is the original event, byte for byte when it was valid JSON,
	// else as a JSON string holding its bytes.
	Event     json.RawMessage `json:"event"`
	Stream    string          `json:"stream"`    // the input stream
	StreamID  string          `json:"stream_id"` // the event's position there (Message.ID)
	Key       string          `json:"key,omitempty"`
	Delivered int             `json:"delivered"`
	At        time.Time       `json:"at"`
}

// deadHead is a DeadLetter without its event, for encoding.
type deadHead struct {
	Reason    string    `json:"reason"`
	Field     string    `json:"field,omitempty"`
	Code      string    `json:"code"`
	Stream    string    `json:"stream"`
	StreamID  string    `json:"stream_id"`
	Key       string    `json:"key,omitempty"`
	Delivered int       `json:"delivered"`
	At        time.Time `json:"at"`
}

// deadLetter builds the dead-letter message of m, which failed with err.
func (c *Consumer) deadLetter(m *tripcast.Message, err error, at time.Time) (tripcast.Message, error) {
	d := DeadLetter{Code: tripcast.ErrorCode(err), Field: tripcast.ErrorField(err), Stream: c.cfg.Input, StreamID: m.ID,
		Key: m.Key, Delivered: m.Delivered, At: at.UTC()}
	if d.Code == tripcast.EINVALID {
		d.Reason = tripcast.ErrorMessage(err)
	} else {
		d.Reason = err.Error()
	}
	// json.Marshal would compact a RawMessage: the event is appended after
	// the other fields instead, exactly as it came.
	data, merr := json.Marshal(deadHead{Reason: d.Reason, Field: d.Field, Code: d.Code, Stream: d.Stream,
		StreamID: d.StreamID, Key: d.Key, Delivered: d.Delivered, At: d.At})
	if merr != nil {
		return tripcast.Message{}, fmt.Errorf("encode dead letter: %w", merr)
	}
	data = append(data[:len(data)-1], `,"event":`...)
	if json.Valid(m.Data) {
		data = append(data, m.Data...)
	} else {
		data = serve.AppendString(data, string(m.Data))
	}
	data = append(data, '}')
	id := ""
	if m.ID != "" {
		id = "dlq:" + c.cfg.Input + ":" + m.ID
	}
	return tripcast.Message{Key: m.Key, Data: data, ID: id}, nil
}

// reasonLabel is the dead-letter metric's reason: the field when there is
// one (a small set), else the error code.
func reasonLabel(err error) string {
	if f := tripcast.ErrorField(err); f != "" {
		return f
	}
	return tripcast.ErrorCode(err)
}

// Handle is the stream handler (Run passes it to Stream.Consume; exported
// for adapters that receive batches themselves). It predicts the batch on
// one model snapshot, logs and flushes the predictions, publishes them
// (key ride_id; see logAndPublish) and dead-letters the events that cannot
// get one; it returns nil only when all of that is done, so that the batch
// may be acknowledged. It returns an error (the batch comes again) when no
// model is loaded or the model failed on an event, until the batch was
// delivered MaxDeliver times, and whenever logging or publishing fails.
func (c *Consumer) Handle(ctx context.Context, batch []tripcast.Message) error {
	if err := c.handle(ctx, batch); err != nil {
		c.failuresN.Add(1)
		if c.failures != nil {
			c.failures.Inc()
		}
		return err
	}
	return nil
}

func (c *Consumer) handle(ctx context.Context, batch []tripcast.Message) error {
	if len(batch) == 0 {
		return nil
	}
	w := c.pool.Get().(*work)
	defer c.pool.Put(w)
	received := c.cfg.Now()

	w.events = w.events[:0]
	redelivered := 0
	for i := range batch {
		w.events = append(w.events, batch[i].Data)
		if batch[i].Delivered > 1 {
			redelivered++
		}
	}
	if cap(w.outcomes) < len(batch) {
		w.outcomes = make([]serve.Outcome, len(batch))
	}
	w.outcomes = w.outcomes[:len(batch)]
	w.recs, w.out, w.ends, w.buf, w.dead, w.delivered = w.recs[:0], w.out[:0], w.ends[:0], w.buf[:0], w.dead[:0], w.delivered[:0]

	_, perr := c.p.PredictEvents(ctx, w.events, received, c.cfg.Source, w.outcomes)
	for i := range batch {
		m := &batch[i]
		err := perr
		if err == nil {
			err = w.outcomes[i].Err
		}
		if err == nil {
			o := &w.outcomes[i]
			w.recs = append(w.recs, o.Record)
			w.delivered = append(w.delivered, m.Delivered)
			w.buf = serve.AppendPrediction(w.buf, o.Prediction)
			w.ends = append(w.ends, len(w.buf))
			w.out = append(w.out, tripcast.Message{Key: o.Prediction.RideID})
			continue
		}
		if tripcast.ErrorCode(err) != tripcast.EINVALID && m.Delivered < c.cfg.MaxDeliver {
			// No model, or the model failed on a valid ride: maybe the next
			// attempt (or the next model) succeeds. Nothing was written.
			return fmt.Errorf("predict event %s (delivery %d of %d before dead-lettering): %w", m.ID, m.Delivered, c.cfg.MaxDeliver, err)
		}
		d, derr := c.deadLetter(m, err, received)
		if derr != nil {
			return derr
		}
		w.dead = append(w.dead, d)
	}
	start := 0
	for i := range w.out {
		w.out[i].Data = w.buf[start:w.ends[i]:w.ends[i]]
		start = w.ends[i]
	}

	// Durable first, then visible, then acknowledged.
	already := 0
	if len(w.recs) > 0 {
		var err error
		if already, err = c.logAndPublish(ctx, w); err != nil {
			return err
		}
	}
	if len(w.dead) > 0 {
		if err := c.s.PublishBatch(ctx, c.cfg.DeadLetter, w.dead); err != nil {
			return fmt.Errorf("publish %d dead letters to %s: %w", len(w.dead), c.cfg.DeadLetter, err)
		}
		c.countDead(batch, w.outcomes, perr)
	}

	c.received.Add(int64(len(batch)))
	c.predicted.Add(int64(len(w.recs)))
	if already > 0 {
		c.already.Add(int64(already))
		if c.alreadyPub != nil {
			c.alreadyPub.Add(float64(already))
		}
	}
	c.deadLettered.Add(int64(len(w.dead)))
	c.batches.Add(1)
	if redelivered > 0 {
		c.redeliveredN.Add(int64(redelivered))
		if c.redelivered != nil {
			c.redelivered.Add(float64(redelivered))
		}
	}
	return nil
}

// logAndPublish logs w's predictions durably, then publishes them, and
// returns how many it found published already. With a log that tells which
// records it held (tripcast.PriorLog) and an output stream that can be read
// back (tripcast.Scanner), a new record is published at once, and a record
// held already (an earlier attempt logged it, and may have published it) is
// published only if the output stream lacks it. Otherwise each prediction
// carries the ID ride_id@version, which NATS deduplicates within its
// stream's duplicate window.
func (c *Consumer) logAndPublish(ctx context.Context, w *work) (already int, err error) {
	pl, ok := c.plog.(tripcast.PriorLog)
	if !ok || c.scan == nil {
		for i := range w.out {
			w.out[i].ID = w.recs[i].RideID + "@" + w.recs[i].Version
		}
		if err := c.plog.Log(ctx, w.recs); err != nil {
			return 0, fmt.Errorf("log %d predictions: %w", len(w.recs), err)
		}
	} else {
		w.prior = slices.Grow(w.prior[:0], len(w.recs))[:len(w.recs)]
		if err := pl.LogPrior(ctx, w.recs, w.prior); err != nil {
			return 0, fmt.Errorf("log %d predictions: %w", len(w.recs), err)
		}
	}
	if err := c.plog.Flush(ctx); err != nil {
		return 0, fmt.Errorf("flush prediction log: %w", err)
	}
	out := w.out
	if ok && c.scan != nil && slices.ContainsFunc(w.prior, func(t time.Time) bool { return !t.IsZero() }) {
		if out, err = c.unpublished(ctx, w); err != nil {
			return 0, err
		}
	}
	if err := c.s.PublishBatch(ctx, c.cfg.Output, out); err != nil {
		return 0, fmt.Errorf("publish %d predictions to %s: %w", len(out), c.cfg.Output, err)
	}
	return len(w.out) - len(out), nil
}

// scanSlack widens the search for a published prediction back from the
// time it was logged: the output stream's clock (the NATS server's) may be
// behind the consumer's.
const scanSlack = 2 * time.Second

// unpublished returns w's output messages without those that must not be
// published again. A record the log held already (w.prior) is:
//   - dropped when it repeats a new record of the batch (published with it);
//   - dropped when its event is delivered for the first time (Delivered 1:
//     no run before this one handled it; see tripcast.Message): the
//     producer sent the ride again, and the event that logged it first
//     publishes it, on its own delivery or redelivery;
//   - otherwise (a redelivered event) looked for in the output stream, read
//     back from the earliest such logging time, and dropped when found
//     there: a redelivery after a crash reads back about AckWait of output
//     (NATS) or the output since the crashed run's batch (Kinesis), once;
//   - published again without looking when it was logged more than
//     Config.ScanWindow ago (its earlier publication, if any, is older).
func (c *Consumer) unpublished(ctx context.Context, w *work) ([]tripcast.Message, error) {
	type key struct{ ride, version string }
	fresh := make(map[key]bool)
	for i, t := range w.prior {
		if t.IsZero() {
			fresh[key{w.recs[i].RideID, w.recs[i].Version}] = true
		}
	}
	drop := make([]bool, len(w.out))
	want := make(map[key]bool) // looked for: true once found in the output
	rides := make(map[string]bool)
	var since time.Time
	oldest := c.cfg.Now().Add(-c.cfg.ScanWindow)
	for i, t := range w.prior {
		if t.IsZero() {
			continue
		}
		k := key{w.recs[i].RideID, w.recs[i].Version}
		switch {
		case fresh[k]:
			drop[i] = true
		case w.delivered[i] <= 1:
			drop[i] = true
		case t.Before(oldest):
			// published again below
		default:
			want[k] = false
			rides[k.ride] = true
			if since.IsZero() || t.Before(since) {
				since = t
			}
		}
	}
	if len(want) > 0 {
		t0 := time.Now()
		scanned := 0
		err := c.scan.Scan(ctx, c.cfg.Output, since.Add(-scanSlack), func(m tripcast.Message) error {
			scanned++
			if m.Key != "" && !rides[m.Key] {
				return nil
			}
			p, err := serve.ParsePrediction(m.Data)
			if err != nil {
				return nil // not a prediction of ours
			}
			if _, ok := want[key{p.RideID, p.Version}]; ok {
				want[key{p.RideID, p.Version}] = true
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("look for %d predictions logged already in %s: %w", len(want), c.cfg.Output, err)
		}
		c.scans.Add(1)
		c.log.Info("looked for predictions logged by an earlier attempt", "logged", len(want),
			"scanned", scanned, "since", since, "took", time.Since(t0))
	}
	out := make([]tripcast.Message, 0, len(w.out))
	for i, t := range w.prior {
		if t.IsZero() || !drop[i] && !want[key{w.recs[i].RideID, w.recs[i].Version}] {
			out = append(out, w.out[i])
		}
	}
	return out, nil
}

// countDead counts the dead letters of a handled batch by reason.
func (c *Consumer) countDead(batch []tripcast.Message, outcomes []serve.Outcome, perr error) {
	for i := range batch {
		err := perr
		if err == nil {
			err = outcomes[i].Err
		}
		if err == nil {
			continue
		}
		c.log.Debug("dead-lettered event", "id", batch[i].ID, "code", tripcast.ErrorCode(err), "field", tripcast.ErrorField(err), "err", err)
		if c.metrics != nil {
			c.metrics.DeadLetters.WithLabelValues(c.cfg.Source, reasonLabel(err)).Inc()
		}
	}
}

// String describes the consumer for logs.
func (c *Consumer) String() string {
	return "consumer " + c.cfg.Consumer + " of " + c.cfg.Input + " (max deliver " + strconv.Itoa(c.cfg.MaxDeliver) + ")"
}
