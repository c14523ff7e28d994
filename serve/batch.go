package serve

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"tripcast"
)

// Batch defaults.
const (
	// DefaultMaxDeliver is how many times an event the model failed on (or
	// a batch arriving while no model is loaded) is delivered before it is
	// dead-lettered.
	DefaultMaxDeliver = 10
	// DefaultScanWindow is how far back the output stream is read for a
	// prediction an earlier attempt logged (see BatchConfig.ScanWindow).
	DefaultScanWindow = 2 * time.Minute
	// maxReason bounds a dead letter's reason, so that a dead letter always
	// fits a stream message whatever error text it carries.
	maxReason = 1024
)

// BatchConfig configures a BatchHandler. Zero values take the defaults.
type BatchConfig struct {
	// Input is the input stream's name: dead letters name it, and a ride
	// event without a ride_id gets Input + ":" + Message.ID. "": each
	// message's Stream.
	Input string
	// Output is the stream predictions are published to; default
	// tripcast.PredictionsStream.
	Output string
	// DeadLetter is the stream dead letters are published to; default
	// tripcast.DeadLetterStream.
	DeadLetter string
	// Source is the prediction source logged and counted (a
	// tripcast.Source* constant); default tripcast.SourceNATS.
	Source string
	// MaxDeliver: an event the model failed on (EINTERNAL), or a batch
	// arriving while no model is loaded, fails the batch (it comes again)
	// until it has been delivered MaxDeliver times; then it is
	// dead-lettered. A message whose delivery count is unknown
	// (Delivered 0: Lambda) is dead-lettered at once when the model failed
	// on it and retried while no model is loaded. Default DefaultMaxDeliver.
	MaxDeliver int
	// ScanWindow bounds how far back the output stream is read to find a
	// prediction the log held already: one logged earlier than ScanWindow
	// ago is published again without looking. Default DefaultScanWindow.
	ScanWindow time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// BatchHandler is the one event-batch core of the stream adapters (the
// stream consumer on NATS or Kinesis, the Lambda handler): it turns a batch
// of ride events into predictions that are logged and published exactly
// once, and dead letters. Create it with NewBatchHandler. Safe for
// concurrent use (for batches of different keys).
type BatchHandler struct {
	cfg  BatchConfig
	p    *Predictor
	s    tripcast.Stream        // nil: nothing published
	scan tripcast.Scanner       // s read back; nil: predictions carry IDs
	plog tripcast.PredictionLog // nil: nothing logged
	log  *slog.Logger
	pool sync.Pool // *batchWork
}

// NewBatchHandler returns a BatchHandler predicting with p, logging to plog
// and publishing to s. plog nil logs nothing and s nil publishes nothing
// (a dry run such as Lambda's TEST_RUN). When plog is a tripcast.PriorLog
// and s a tripcast.Scanner, idempotency is the log's (see Handle);
// otherwise each prediction carries the message ID ride_id@version, which
// NATS deduplicates within its duplicate window. EINVALID when p is nil.
func NewBatchHandler(cfg BatchConfig, p *Predictor, s tripcast.Stream, plog tripcast.PredictionLog) (*BatchHandler, error) {
	if p == nil {
		return nil, tripcast.FieldError("predictor", "is nil")
	}
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&cfg.Output, tripcast.PredictionsStream)
	def(&cfg.DeadLetter, tripcast.DeadLetterStream)
	def(&cfg.Source, tripcast.SourceNATS)
	if cfg.MaxDeliver <= 0 {
		cfg.MaxDeliver = DefaultMaxDeliver
	}
	if cfg.ScanWindow <= 0 {
		cfg.ScanWindow = DefaultScanWindow
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &BatchHandler{cfg: cfg, p: p, s: s, plog: plog, log: cfg.Logger}
	if s != nil {
		h.scan, _ = s.(tripcast.Scanner)
	}
	h.pool.New = func() any { return new(batchWork) }
	return h, nil
}

// Config returns the effective configuration (defaults filled in).
func (h *BatchHandler) Config() BatchConfig { return h.cfg }

// BatchResult is what Handle made of a batch.
type BatchResult struct {
	Received         int // events in the batch
	Predicted        int // predicted, logged and published (or found published)
	AlreadyPublished int // of Predicted: not published again (see Handle)
	DeadLettered     int // written to the dead-letter stream (none without a stream)
	Redelivered      int // events with Delivered > 1
	Scans            int // output stream read-backs (0 or 1)
	// KeepItems, set by the caller before Handle, asks for Items.
	KeepItems bool
	// Items holds, when KeepItems is set and Handle returned nil, one item
	// per message of the batch, in order.
	Items []BatchItem
}

// BatchItem is what became of one message of a batch.
type BatchItem struct {
	Prediction []byte               // the answer in the course's format; nil when dead-lettered
	Dead       *tripcast.DeadLetter // why it got no prediction; nil when predicted (Event fields unset)
}

// batchWork holds one Handle call's buffers, reused across batches.
type batchWork struct {
	events   [][]byte
	outcomes []Outcome
	recs     []tripcast.PredictionRecord
	out      []tripcast.Message
	ends     []int // end offset in buf of each output message
	buf      []byte
	dead     []tripcast.Message
	deadIdx  []int       // batch index of each dead letter
	prior    []time.Time // per record: when the log held it already (zero: new)
	first    []bool      // per record: its message is a first delivery (Delivered 1)
}

// Handle handles one batch: it decodes and validates every event (an event
// without a ride_id gets one derived from its stream and Message.ID, the
// same on every redelivery), predicts the valid ones with one model
// snapshot, logs the predictions durably (Log, Flush), publishes them keyed
// by ride_id, and publishes a tripcast.DeadLetter for every event that can
// never get a prediction. It returns nil only when all of that is done: the
// whole batch may then be acknowledged. Otherwise it returns an error and
// the whole batch must come again (nothing is lost; what was done is not
// duplicated): when no model is loaded or the model failed on an event
// (until MaxDeliver, see BatchConfig), and whenever logging or publishing
// fails. res (not nil) is filled when it returns nil.
//
// Idempotency: the log (a tripcast.PriorLog) tells which predictions it
// held already for the same ride_id, model, version, inputs and source;
// new ones are published at once (a ride_id reused with other inputs is
// new). One held already is not published again when an identical
// prediction is published with it in the batch, or when its message is a
// first delivery (a producer repeat: the event that logged it publishes
// it, on its delivery or its redelivery), or when it is found in the
// output stream, read back from the earliest logging time of such
// predictions; it is published when not found, or when it was logged more
// than ScanWindow ago. So every event ends as its own published prediction
// or a dead letter (an identical repeat shares its twin's), and a
// redelivery never duplicates one.
func (h *BatchHandler) Handle(ctx context.Context, batch []tripcast.Message, res *BatchResult) error {
	keep := res.KeepItems
	*res = BatchResult{KeepItems: keep, Items: res.Items[:0]}
	if len(batch) == 0 {
		return nil
	}
	w := h.pool.Get().(*batchWork)
	defer h.pool.Put(w)
	received := h.cfg.Now()

	w.events = w.events[:0]
	for i := range batch {
		w.events = append(w.events, batch[i].Data)
		if batch[i].Delivered > 1 {
			res.Redelivered++
		}
	}
	w.outcomes = slices.Grow(w.outcomes[:0], len(batch))[:len(batch)]
	w.recs, w.out, w.ends, w.buf, w.dead, w.deadIdx = w.recs[:0], w.out[:0], w.ends[:0], w.buf[:0], w.dead[:0], w.deadIdx[:0]
	w.first = w.first[:0]

	_, perr := h.p.predictEvents(ctx, w.events, func(i int) string { return h.derivedRideID(&batch[i]) },
		received, h.cfg.Source, w.outcomes)
	for i := range batch {
		m := &batch[i]
		err := perr
		if err == nil {
			err = w.outcomes[i].Err
		}
		if err == nil {
			o := &w.outcomes[i]
			w.recs = append(w.recs, o.Record)
			w.first = append(w.first, m.Delivered == 1)
			w.buf = AppendPrediction(w.buf, o.Prediction)
			w.ends = append(w.ends, len(w.buf))
			w.out = append(w.out, tripcast.Message{Key: o.Prediction.RideID})
			continue
		}
		if !h.giveUp(m, err) {
			// No model, or the model failed on a valid ride: maybe the next
			// attempt (or the next model) succeeds. Nothing was written.
			return fmt.Errorf("predict event %s (delivery %d of %d before dead-lettering): %w", m.ID, m.Delivered, h.cfg.MaxDeliver, err)
		}
		d := h.deadLetter(m, err, received)
		data, derr := EncodeDeadLetter(&d)
		if derr != nil {
			return derr
		}
		id := ""
		if m.ID != "" {
			id = "dlq:" + d.Stream + ":" + m.ID
		}
		w.dead = append(w.dead, tripcast.Message{Key: m.Key, Data: data, ID: id})
		w.deadIdx = append(w.deadIdx, i)
	}
	start := 0
	for i := range w.out {
		w.out[i].Data = w.buf[start:w.ends[i]:w.ends[i]]
		start = w.ends[i]
	}

	// Durable first, then visible, then acknowledged.
	if len(w.recs) > 0 {
		if err := h.logAndPublish(ctx, w, res); err != nil {
			return err
		}
	}
	if len(w.dead) > 0 && h.s != nil {
		if err := h.s.PublishBatch(ctx, h.cfg.DeadLetter, w.dead); err != nil {
			return fmt.Errorf("publish %d dead letters to %s: %w", len(w.dead), h.cfg.DeadLetter, err)
		}
	}
	res.Received, res.Predicted = len(batch), len(w.recs)
	if h.s != nil {
		h.countDead(batch, w, perr)
		res.DeadLettered = len(w.dead)
	}
	if res.KeepItems {
		h.items(batch, w, perr, received, res)
	}
	return nil
}

// giveUp reports whether m, which failed with err, is dead-lettered now.
func (h *BatchHandler) giveUp(m *tripcast.Message, err error) bool {
	code := tripcast.ErrorCode(err)
	switch {
	case code == tripcast.EINVALID:
		return true // the event itself is bad
	case m.Delivered <= 0:
		return code != tripcast.EUNAVAILABLE // count unknown: the model failing is final, no model is not
	default:
		return m.Delivered >= h.cfg.MaxDeliver
	}
}

// inputOf is the name of the stream m was read from.
func (h *BatchHandler) inputOf(m *tripcast.Message) string {
	if h.cfg.Input != "" {
		return h.cfg.Input
	}
	return m.Stream
}

// derivedRideID is the ride_id of an event of m that carried none: its
// stream and position, stable across redeliveries; a sha256 of them when
// that is longer than MaxRideIDLen.
func (h *BatchHandler) derivedRideID(m *tripcast.Message) string {
	id := h.inputOf(m) + ":" + m.ID
	if len(id) > MaxRideIDLen || ValidRideID(id) != nil {
		sum := sha256.Sum256([]byte(id))
		id = "sha256:" + hex.EncodeToString(sum[:])
	}
	return id
}

// deadLetter describes m, which failed with err, as a dead letter.
func (h *BatchHandler) deadLetter(m *tripcast.Message, err error, at time.Time) tripcast.DeadLetter {
	d := tripcast.DeadLetter{Code: tripcast.ErrorCode(err), Field: tripcast.ErrorField(err), Source: h.cfg.Source,
		Stream: h.inputOf(m), StreamID: m.ID, Key: m.Key, Delivered: m.Delivered, At: at.UTC()}
	if d.Code == tripcast.EINVALID {
		d.Reason = tripcast.ErrorMessage(err)
	} else {
		d.Reason = err.Error()
	}
	if len(d.Reason) > maxReason {
		d.Reason = truncateUTF8(d.Reason, maxReason) + "…"
	}
	SetDeadLetterEvent(&d, m.Data)
	return d
}

// truncateUTF8 returns s cut to at most n bytes, not inside a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// SetDeadLetterEvent sets d's event fields from the original event: Event
// holds it byte for byte when it is valid UTF-8 JSON of at most
// tripcast.MaxDeadLetterEvent bytes; otherwise EventBase64 holds its first
// MaxDeadLetterEvent bytes (EventTruncated when that is not all of it).
// EventSize and EventSHA256 always describe the whole event.
func SetDeadLetterEvent(d *tripcast.DeadLetter, event []byte) {
	sum := sha256.Sum256(event)
	d.EventSize, d.EventSHA256 = len(event), hex.EncodeToString(sum[:])
	d.Event, d.EventBase64, d.EventTruncated = nil, nil, false
	if len(event) <= tripcast.MaxDeadLetterEvent && utf8.Valid(event) && json.Valid(event) {
		d.Event = json.RawMessage(event)
		return
	}
	n := min(len(event), tripcast.MaxDeadLetterEvent)
	d.EventBase64, d.EventTruncated = event[:n], n < len(event)
}

// EncodeDeadLetter returns d as JSON, with d.Event exactly as it is (json.Marshal
// would compact it).
func EncodeDeadLetter(d *tripcast.DeadLetter) ([]byte, error) {
	c := *d
	c.Event = nil
	data, err := json.Marshal(&c)
	if err != nil {
		return nil, fmt.Errorf("encode dead letter: %w", err)
	}
	if len(d.Event) == 0 {
		return data, nil
	}
	data = append(data[:len(data)-1], `,"event":`...)
	data = append(data, d.Event...)
	return append(data, '}'), nil
}

// reasonLabel is the dead-letter metric's reason: the field when there is
// one (a small set), else the error code.
func reasonLabel(err error) string {
	if f := tripcast.ErrorField(err); f != "" {
		return f
	}
	return tripcast.ErrorCode(err)
}

// eventErr is the error of event i of a handled batch (nil: predicted).
func eventErr(w *batchWork, i int, perr error) error {
	if perr != nil {
		return perr
	}
	return w.outcomes[i].Err
}

// countDead counts and logs the dead letters of a handled batch.
func (h *BatchHandler) countDead(batch []tripcast.Message, w *batchWork, perr error) {
	for _, i := range w.deadIdx {
		err := eventErr(w, i, perr)
		h.log.Debug("dead-lettered event", "id", batch[i].ID, "code", tripcast.ErrorCode(err), "field", tripcast.ErrorField(err), "err", err)
		if h.p.metrics != nil {
			h.p.metrics.DeadLetters.WithLabelValues(h.cfg.Source, reasonLabel(err)).Inc()
		}
	}
}

// items fills res.Items for a handled batch.
func (h *BatchHandler) items(batch []tripcast.Message, w *batchWork, perr error, at time.Time, res *BatchResult) {
	res.Items = slices.Grow(res.Items[:0], len(batch))[:len(batch)]
	k := 0
	for i := range batch {
		if err := eventErr(w, i, perr); err != nil {
			d := h.deadLetter(&batch[i], err, at)
			d.Event, d.EventBase64 = nil, nil
			res.Items[i] = BatchItem{Dead: &d}
			continue
		}
		res.Items[i] = BatchItem{Prediction: slices.Clone(w.out[k].Data)}
		k++
	}
}

// logAndPublish logs w's predictions durably, then publishes those not
// published already (see Handle), and counts them in res.
func (h *BatchHandler) logAndPublish(ctx context.Context, w *batchWork, res *BatchResult) error {
	pl, ok := h.plog.(tripcast.PriorLog)
	prior := ok && h.scan != nil
	switch {
	case prior:
		w.prior = slices.Grow(w.prior[:0], len(w.recs))[:len(w.recs)]
		if err := pl.LogPrior(ctx, w.recs, w.prior); err != nil {
			return fmt.Errorf("log %d predictions: %w", len(w.recs), err)
		}
	case h.plog != nil:
		if err := h.plog.Log(ctx, w.recs); err != nil {
			return fmt.Errorf("log %d predictions: %w", len(w.recs), err)
		}
	}
	if h.plog != nil {
		if err := h.plog.Flush(ctx); err != nil {
			return fmt.Errorf("flush prediction log: %w", err)
		}
	}
	if h.s == nil {
		return nil
	}
	out := w.out
	if !prior {
		for i := range w.out {
			w.out[i].ID = w.recs[i].RideID + "@" + w.recs[i].Version
		}
	} else if slices.ContainsFunc(w.prior, func(t time.Time) bool { return !t.IsZero() }) {
		var err error
		if out, err = h.unpublished(ctx, w, res); err != nil {
			return err
		}
	}
	if err := h.s.PublishBatch(ctx, h.cfg.Output, out); err != nil {
		return fmt.Errorf("publish %d predictions to %s: %w", len(out), h.cfg.Output, err)
	}
	res.AlreadyPublished = len(w.out) - len(out)
	return nil
}

// scanSlack widens the search for a published prediction back from the
// time it was logged: the output stream's clock (the NATS server's) may be
// behind the consumer's.
const scanSlack = 2 * time.Second

// unpublished returns w's output messages without those that must not be
// published again. The log holds a prediction already (w.prior) only for an
// identical request (ride_id, model, version, inputs and source), so an
// event reusing a ride_id with other inputs is never taken for published.
// One held already is:
//   - dropped when an identical new prediction of the batch is published;
//   - dropped without looking when its message is a first delivery
//     (Delivered 1: no run before this one handled this message, see
//     tripcast.Message; Lambda's 0 is unknown): the producer sent the same
//     ride again, and the message that logged it publishes it, on its own
//     delivery or, if that run crashed first, its redelivery (which looks);
//   - published again without looking when it was logged more than
//     ScanWindow ago (its earlier publication, if any, is older);
//   - otherwise looked for in the output stream, read back once from the
//     earliest such logging time, and dropped when found there.
func (h *BatchHandler) unpublished(ctx context.Context, w *batchWork, res *BatchResult) ([]tripcast.Message, error) {
	fresh := make(map[string]bool)
	for i, t := range w.prior {
		if t.IsZero() {
			fresh[string(w.out[i].Data)] = true
		}
	}
	drop := make([]bool, len(w.out))
	want := make(map[string]bool) // looked for: true once found in the output
	rides := make(map[string]bool)
	var since time.Time
	oldest := h.cfg.Now().Add(-h.cfg.ScanWindow)
	for i, t := range w.prior {
		if t.IsZero() {
			continue
		}
		data := string(w.out[i].Data)
		switch {
		case fresh[data], w.first[i]:
			drop[i] = true
		case t.Before(oldest):
			// published again below
		default:
			want[data] = false
			rides[w.out[i].Key] = true
			if since.IsZero() || t.Before(since) {
				since = t
			}
		}
	}
	if len(want) > 0 {
		t0 := time.Now()
		scanned := 0
		err := h.scan.Scan(ctx, h.cfg.Output, since.Add(-scanSlack), func(m tripcast.Message) error {
			scanned++
			if m.Key != "" && !rides[m.Key] {
				return nil
			}
			if _, ok := want[string(m.Data)]; ok {
				want[string(m.Data)] = true
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("look for %d predictions logged already in %s: %w", len(want), h.cfg.Output, err)
		}
		res.Scans++
		h.log.Info("looked for predictions logged by an earlier attempt", "logged", len(want),
			"scanned", scanned, "since", since, "took", time.Since(t0))
	}
	out := make([]tripcast.Message, 0, len(w.out))
	sent := fresh // what this batch publishes, once each
	for i, t := range w.prior {
		data := string(w.out[i].Data)
		switch {
		case t.IsZero():
		case drop[i] || want[data] || sent[data]:
			continue
		default:
			sent[data] = true
		}
		out = append(out, w.out[i])
	}
	return out, nil
}
