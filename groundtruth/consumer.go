package groundtruth

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"tripcast"
	"tripcast/serve"
)

// DefaultConsumer is the durable consumer name of the ground-truth
// consumer (distinct from the prediction consumer's: each sees every
// message of its own stream).
const DefaultConsumer = "tripcast_truth"

// Config configures a Consumer. Zero values take the defaults.
type Config struct {
	Input      string // stream of ride_completed events; default tripcast.RideCompletedStream
	DeadLetter string // stream of events that cannot be read; default tripcast.DeadLetterStream
	Consumer   string // durable consumer name; default DefaultConsumer
	// Source is the dead letters' source (a tripcast.Source* constant: the
	// engine the events were read from); default tripcast.SourceNATS.
	Source string
	// Registerer, when set, gets the consumer's metrics.
	Registerer prometheus.Registerer
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock (a completion's ReceivedAt); nil is time.Now.
	Now func() time.Time
}

// Stats are a Consumer's counters. Events are counted once their batch is
// acknowledged: Received == Stored + Duplicates + DeadLettered.
type Stats struct {
	Received     int64 `json:"received"`      // events in handled batches
	Stored       int64 `json:"stored"`        // completions stored (the first of their ride)
	Duplicates   int64 `json:"duplicates"`    // completions of a ride stored already (redelivered or sent twice)
	Unmatched    int64 `json:"unmatched"`     // of Stored: no prediction of the ride was logged when it arrived
	DeadLettered int64 `json:"dead_lettered"` // events that are not valid completions
	Failures     int64 `json:"failures"`      // batches that failed (and come again)
}

// Consumer reads ride_completed events from a stream and stores them in a
// tripcast.CompletionStore: valid ones once per ride_id, invalid ones as
// dead letters with their reason. Create it with New, run it with Run, or
// hand it batches with Handle. Safe for concurrent use.
type Consumer struct {
	cfg   Config
	s     tripcast.Stream
	store tripcast.CompletionStore
	log   *slog.Logger

	received, stored, duplicates, unmatched, deadLettered, failures atomic.Int64

	m struct {
		received, stored, duplicates, unmatched prometheus.Counter
		dead                                    *prometheus.CounterVec
	}
}

// New returns a Consumer reading cfg.Input from s into store. EINVALID on
// a missing argument, or when cfg.Registerer holds the metrics already.
func New(cfg Config, s tripcast.Stream, store tripcast.CompletionStore) (*Consumer, error) {
	switch {
	case s == nil:
		return nil, tripcast.FieldError("stream", "is nil")
	case store == nil:
		return nil, tripcast.FieldError("store", "is nil")
	}
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&cfg.Input, tripcast.RideCompletedStream)
	def(&cfg.DeadLetter, tripcast.DeadLetterStream)
	def(&cfg.Consumer, DefaultConsumer)
	def(&cfg.Source, tripcast.SourceNATS)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Consumer{cfg: cfg, s: s, store: store, log: cfg.Logger}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "tripcast_ground_truth_" + name, Help: help})
	}
	c.m.received = counter("received_total", "ride_completed events in handled batches.")
	c.m.stored = counter("stored_total", "Completions stored (the first of their ride_id).")
	c.m.duplicates = counter("duplicates_total", "Completions of a ride_id stored already (not stored again).")
	c.m.unmatched = counter("unmatched_total", "Completions stored for a ride with no logged prediction when they arrived.")
	c.m.dead = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tripcast_ground_truth_dead_letters_total",
		Help: "ride_completed events moved to the dead-letter stream, by reason (the field, or the error code)."}, []string{"reason"})
	if cfg.Registerer != nil {
		for _, col := range []prometheus.Collector{c.m.received, c.m.stored, c.m.duplicates, c.m.unmatched, c.m.dead} {
			if err := cfg.Registerer.Register(col); err != nil {
				return nil, tripcast.Errorf(tripcast.EINVALID, "register ground truth metrics: %v", err)
			}
		}
	}
	return c, nil
}

// Config returns the effective configuration (defaults filled in).
func (c *Consumer) Config() Config { return c.cfg }

// Stats returns the counters so far.
func (c *Consumer) Stats() Stats {
	return Stats{Received: c.received.Load(), Stored: c.stored.Load(), Duplicates: c.duplicates.Load(),
		Unmatched: c.unmatched.Load(), DeadLettered: c.deadLettered.Load(), Failures: c.failures.Load()}
}

// Run creates the input and dead-letter streams if needed and consumes the
// input until ctx ends (then it returns nil), or the engine fails for good.
func (c *Consumer) Run(ctx context.Context) error {
	for _, name := range []string{c.cfg.Input, c.cfg.DeadLetter} {
		if err := c.s.EnsureStream(ctx, name); err != nil {
			return fmt.Errorf("ground truth: %w", err)
		}
	}
	c.log.Info("consuming ground truth", "stream", c.cfg.Input, "consumer", c.cfg.Consumer)
	err := c.s.Consume(ctx, c.cfg.Input, c.cfg.Consumer, func(ctx context.Context, batch []tripcast.Message) error {
		if err := c.Handle(ctx, batch); err != nil {
			c.failures.Add(1)
			c.log.Warn("ground truth batch failed (it comes again)", "events", len(batch), "err", err)
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ground truth: consume %s: %w", c.cfg.Input, err)
	}
	return nil
}

// Handle handles one batch: it decodes every event, publishes a
// tripcast.DeadLetter for each that is not a valid completion, stores the
// others (a ride's first completion wins; a completion of a ride stored
// already, such as a redelivered one, is counted as a duplicate) and
// counts those whose ride has no logged prediction yet (unmatched: they are
// stored all the same, and join a prediction logged later). It returns nil
// only once all of that is done; on error nothing is counted and the batch
// must come again (the dead letters carry an ID, so NATS drops a second
// copy of them within its duplicate window).
func (c *Consumer) Handle(ctx context.Context, batch []tripcast.Message) error {
	if len(batch) == 0 {
		return nil
	}
	now := c.cfg.Now().UTC()
	recs := make([]tripcast.Completion, 0, len(batch))
	var dead []tripcast.Message
	var reasons []string
	for i := range batch {
		m := &batch[i]
		rc, err := Decode(m.Data)
		if err == nil {
			recs = append(recs, tripcast.Completion{RideCompleted: rc, ReceivedAt: now, Stream: c.inputOf(m), StreamID: m.ID})
			continue
		}
		d := tripcast.DeadLetter{Reason: tripcast.ErrorMessage(err), Field: tripcast.ErrorField(err), Code: tripcast.ErrorCode(err),
			Source: c.cfg.Source, Stream: c.inputOf(m), StreamID: m.ID, Key: m.Key, Delivered: m.Delivered, At: now}
		serve.SetDeadLetterEvent(&d, m.Data)
		data, err := serve.EncodeDeadLetter(&d)
		if err != nil {
			return err
		}
		id := ""
		if m.ID != "" {
			id = "dlq:" + d.Stream + ":" + m.ID
		}
		dead = append(dead, tripcast.Message{Key: m.Key, Data: data, ID: id})
		reason := d.Field
		if reason == "" {
			reason = d.Code
		}
		reasons = append(reasons, reason)
		c.log.Debug("dead-lettered ride_completed event", "id", m.ID, "field", d.Field, "reason", d.Reason)
	}
	if len(dead) > 0 {
		if err := c.s.PublishBatch(ctx, c.cfg.DeadLetter, dead); err != nil {
			return fmt.Errorf("publish %d dead letters to %s: %w", len(dead), c.cfg.DeadLetter, err)
		}
	}
	added := make([]bool, len(recs))
	if err := c.store.AddCompletions(ctx, recs, added); err != nil {
		return fmt.Errorf("store %d completions: %w", len(recs), err)
	}
	var ids []string
	for i := range recs {
		if added[i] {
			ids = append(ids, recs[i].RideID)
		}
	}
	found := make([]bool, len(ids))
	if err := c.store.PredictedRides(ctx, ids, found); err != nil {
		return fmt.Errorf("look up the predictions of %d completed rides: %w", len(ids), err)
	}
	unmatched := 0
	for i, ok := range found {
		if !ok {
			unmatched++
			c.log.Debug("completion of a ride with no logged prediction", "ride_id", ids[i])
		}
	}
	dups := len(recs) - len(ids)
	c.received.Add(int64(len(batch)))
	c.stored.Add(int64(len(ids)))
	c.duplicates.Add(int64(dups))
	c.unmatched.Add(int64(unmatched))
	c.deadLettered.Add(int64(len(dead)))
	c.m.received.Add(float64(len(batch)))
	c.m.stored.Add(float64(len(ids)))
	c.m.duplicates.Add(float64(dups))
	c.m.unmatched.Add(float64(unmatched))
	for _, r := range reasons {
		c.m.dead.WithLabelValues(r).Inc()
	}
	return nil
}

// inputOf is the name of the stream m was read from.
func (c *Consumer) inputOf(m *tripcast.Message) string {
	if m.Stream != "" {
		return m.Stream
	}
	return c.cfg.Input
}
