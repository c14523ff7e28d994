package consume_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"tripcast"
	"tripcast/blob"
	"tripcast/consume"
	"tripcast/predlog"
	"tripcast/serve"
	"tripcast/sqlstore"
	"tripcast/stream"
)

// pipeline is a consumer under test with everything it writes to.
type pipeline struct {
	s              tripcast.Stream
	db             *sqlstore.DB
	parquet        *predlog.Writer
	blobs          tripcast.BlobStore
	p              *serve.Predictor
	metrics        *serve.Metrics
	reg            *prometheus.Registry
	c              *consume.Consumer
	in, out, dlq   string
	outputs, deads *collector
	done           chan error
	cancel         context.CancelFunc
}

// newPipeline wires a consumer on engine e: SQL and parquet prediction
// logs, the real model (unless noModel), collectors on the output and
// dead-letter streams. plogWrap, when set, wraps the prediction log.
func newPipeline(t *testing.T, e engine, noModel bool, maxDeliver int, plogWrap func(tripcast.PredictionLog) tripcast.PredictionLog) *pipeline {
	t.Helper()
	pl := &pipeline{db: freshDB(t)}
	pl.s = e.open(t, pl.db)
	pl.in, pl.out, pl.dlq = names(t, pl.s)
	ctx := testCtx(t)
	for _, n := range []string{pl.in, pl.out, pl.dlq} {
		if err := pl.s.EnsureStream(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if pl.blobs, err = blob.NewFile(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	pl.parquet = predlog.New(pl.blobs, predlog.Options{Logger: testLogger(t)})
	t.Cleanup(func() { pl.parquet.Close() })
	reg := prometheus.NewRegistry()
	pl.reg = reg
	if pl.metrics, err = serve.NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	pl.p = serve.New(serve.Options{Logger: testLogger(t), Metrics: pl.metrics})
	if !noModel {
		art, _ := realModel(t)
		pl.p.Swap(art)
	}
	var plog tripcast.PredictionLog = predlog.Multi(pl.db.PredictionLog(), pl.parquet)
	if plogWrap != nil {
		plog = plogWrap(plog)
	}
	pl.c, err = consume.New(consume.Config{Input: pl.in, Output: pl.out, DeadLetter: pl.dlq, Consumer: "predict",
		Source: e.source, ScanWindow: e.scanWindow, StallAfter: e.stallAfter, MaxDeliver: maxDeliver, WaitModel: 20 * time.Millisecond, Registerer: reg, Logger: testLogger(t)}, pl.s, pl.p, plog)
	if err != nil {
		t.Fatal(err)
	}
	pl.outputs, pl.deads = collect(t, pl.s, pl.out), collect(t, pl.s, pl.dlq)
	return pl
}

// start runs the consumer until the test ends.
func (pl *pipeline) start(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pl.cancel, pl.done = cancel, make(chan error, 1)
	go func() { pl.done <- pl.c.Run(ctx) }()
	t.Cleanup(func() { pl.stop(t) })
}

// stop stops the consumer (once).
func (pl *pipeline) stop(t *testing.T) {
	if pl.cancel == nil {
		return
	}
	pl.cancel()
	if err := <-pl.done; err != nil {
		t.Errorf("Run: %v", err)
	}
	pl.cancel = nil
}

// publish publishes events to the input stream, keyed by index.
func (pl *pipeline) publish(t *testing.T, events [][]byte) {
	t.Helper()
	msgs := make([]tripcast.Message, len(events))
	for i, ev := range events {
		msgs[i] = tripcast.Message{Key: fmt.Sprint("k", i), Data: ev}
	}
	if err := pl.s.PublishBatch(testCtx(t), pl.in, msgs); err != nil {
		t.Fatal(err)
	}
}

// mix returns n valid events (ride ids prefix0..) interleaved with every
// invalid event.
func mix(t *testing.T, prefix string, n int) [][]byte {
	_, trips := realModel(t)
	var evs [][]byte
	for i := range n {
		evs = append(evs, validEvent(trips, prefix, i))
		if j := i % 40; i/40 < 1 && j < len(invalidEvents) {
			evs = append(evs, []byte(invalidEvents[j].data))
		}
	}
	return evs
}

// checkAccounting asserts that n distinct rides were predicted exactly once
// in the SQL log, the parquet log and the output stream (in the course's
// format, with the model's exact answer), and that every invalid event
// sits in the dead-letter stream naming its field.
func (pl *pipeline) checkAccounting(t *testing.T, prefix string, n int, dedupOutput bool) {
	t.Helper()
	ctx := testCtx(t)
	art, trips := realModel(t)
	if got, err := pl.db.CountPredictions(ctx, sqlstore.PredictionFilter{}); err != nil || got != int64(n) {
		t.Errorf("SQL log: got %d predictions (%v), want %d", got, err, n)
	}
	// The model's own answer, for every ride.
	want := map[string]float64{}
	for i := range n {
		r, err := serve.DecodeEvent(validEvent(trips, prefix, i))
		if err != nil {
			t.Fatal(err)
		}
		if want[r.ID], err = art.Predict(r); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range []int{0, 1, n / 2, n - 1} {
		id := fmt.Sprint(prefix, i)
		recs, err := pl.db.GetPredictions(ctx, id)
		if err != nil || len(recs) != 1 {
			t.Fatalf("ride %s: got %d records (%v), want 1", id, len(recs), err)
		}
		if r := recs[0]; r.Prediction != want[id] || r.Version != "1" || r.Source != tripcast.SourceNATS && r.Source != tripcast.SourceKinesis {
			t.Errorf("ride %s: got %+v, want prediction %v by version 1", id, r, want[id])
		}
		if i%2 == 1 && recs[0].PickupTime.IsZero() {
			t.Errorf("ride %s (flat format): got no pickup time, want %v", id, trips.PickupTime(i))
		}
	}
	waitFor(t, "every output message", func() bool { return pl.outputs.len() >= n })
	seen := map[string]int{}
	for _, m := range pl.outputs.all() {
		p, err := serve.ParsePrediction(m.Data)
		if err != nil {
			t.Fatalf("output %q: %v", m.Data, err)
		}
		if p.Model != tripcast.DefaultModelName || p.Version != "1" || p.RideDuration != want[p.RideID] || m.Key != p.RideID {
			t.Errorf("output %q (key %q): want model %s version 1 duration %v keyed by ride_id", m.Data, m.Key, tripcast.DefaultModelName, want[p.RideID])
		}
		seen[p.RideID]++
	}
	if len(seen) != n {
		t.Errorf("output: got %d distinct rides, want %d", len(seen), n)
	}
	if got := pl.outputs.len(); dedupOutput && got != n {
		t.Errorf("output: got %d messages, want %d (one per ride)", got, n)
	}
	// Dead letters: each invalid event once, with its field and bytes.
	waitFor(t, "every dead letter", func() bool { return pl.deads.len() >= len(invalidEvents) })
	var gotFields, wantFields []string
	for _, m := range pl.deads.all() {
		var d tripcast.DeadLetter
		if err := json.Unmarshal(m.Data, &d); err != nil {
			t.Fatalf("dead letter %q: %v", m.Data, err)
		}
		if d.Code != tripcast.EINVALID || d.Reason == "" || d.Stream != pl.in || d.StreamID == "" || d.Source != pl.c.Config().Source {
			t.Errorf("dead letter %s: want code invalid, a reason, stream %s, a stream_id and source %s", m.Data, pl.in, pl.c.Config().Source)
		}
		orig := string(d.Event)
		if d.Field == "" { // not JSON: kept as base64
			orig = string(d.EventBase64)
		}
		if sum := sha256.Sum256([]byte(orig)); d.EventSize != len(orig) || d.EventSHA256 != hex.EncodeToString(sum[:]) || d.EventTruncated {
			t.Errorf("dead letter %s: event size and sha256 do not describe the event", m.Data)
		}
		found := false
		for _, ie := range invalidEvents {
			if ie.data == orig {
				found = true
			}
		}
		if !found {
			t.Errorf("dead letter %s: got event %q, want one of the invalid events", m.Data, orig)
		}
		gotFields = append(gotFields, d.Field)
	}
	for _, ie := range invalidEvents {
		wantFields = append(wantFields, ie.field)
	}
	sort.Strings(gotFields)
	sort.Strings(wantFields)
	if fmt.Sprint(gotFields) != fmt.Sprint(wantFields) {
		t.Errorf("dead letter fields: got %q, want %q", gotFields, wantFields)
	}
}

func TestConsume(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Run("OK", func(t *testing.T) {
				const n = 600
				pl := newPipeline(t, e, false, 0, nil)
				pl.start(t)
				evs := mix(t, "r", n)
				pl.publish(t, evs)
				waitFor(t, "every event", func() bool { return pl.c.Stats().Received >= int64(len(evs)) })
				pl.checkAccounting(t, "r", n, e.dedupOutput)
				st := pl.c.Stats()
				if st.Received != st.Predicted+st.DeadLettered || st.Predicted != n || st.DeadLettered != int64(len(invalidEvents)) {
					t.Errorf("got stats %+v, want received = predicted (%d) + dead-lettered (%d)", st, n, len(invalidEvents))
				}
				if got := testutil.ToFloat64(pl.metrics.DeadLetters.WithLabelValues(pl.c.Config().Source, "trip_distance")); got != 2 {
					t.Errorf("dead letters with reason trip_distance: got %v, want 2", got)
				}

				// Duplicates published again (a producer retrying): no new
				// prediction anywhere.
				pl.publish(t, evs[:200])
				waitFor(t, "the duplicates", func() bool { return pl.c.Stats().Received >= int64(len(evs)+200) })
				if got, _ := pl.db.CountPredictions(testCtx(t), sqlstore.PredictionFilter{}); got != n {
					t.Errorf("after duplicates: got %d predictions in the SQL log, want %d", got, n)
				}
				pl.stop(t)
				if e.dedupOutput {
					time.Sleep(300 * time.Millisecond) // any stray output would be in by now
					if got := pl.outputs.len(); got != n {
						t.Errorf("after duplicates: got %d output messages, want %d", got, n)
					}
				}
				// The parquet log holds every prediction (at least once: it
				// does not deduplicate; the SQL log does).
				if err := pl.parquet.Flush(testCtx(t)); err != nil {
					t.Fatal(err)
				}
				recs, err := predlog.Read(testCtx(t), pl.blobs, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				distinct := map[string]bool{}
				for _, r := range recs {
					distinct[r.RideID] = true
				}
				if len(distinct) != n {
					t.Errorf("parquet log: got %d distinct rides, want %d", len(distinct), n)
				}
			})
		})
	}
}

// failingFlush makes the first Flush fail after the records were written,
// as a crash between logging and acknowledging would: the batch comes again.
type failingFlush struct {
	tripcast.PredictionLog
	failed atomic.Bool
}

func (f *failingFlush) Flush(ctx context.Context) error {
	if err := f.PredictionLog.Flush(ctx); err != nil {
		return err
	}
	if f.failed.CompareAndSwap(false, true) {
		return tripcast.Errorf(tripcast.EUNAVAILABLE, "injected flush failure")
	}
	return nil
}

// TestConsumeRedelivered: a batch handled up to its log write, then failed,
// comes again; no prediction is duplicated.
func TestConsumeRedelivered(t *testing.T) {
	const n = 300
	pl := newPipeline(t, engines[0], false, 0, func(l tripcast.PredictionLog) tripcast.PredictionLog {
		return &failingFlush{PredictionLog: l}
	})
	pl.start(t)
	evs := mix(t, "d", n)
	pl.publish(t, evs)
	waitFor(t, "every event", func() bool { return pl.c.Stats().Received >= int64(len(evs)) })
	pl.checkAccounting(t, "d", n, true)
	st := pl.c.Stats()
	if st.Failures != 1 || st.Redelivered == 0 || st.Received != int64(len(evs)) {
		t.Errorf("got stats %+v, want 1 failure, redelivered events, %d received", st, len(evs))
	}
}

// flakyOutput fails the first PublishBatch to the output stream: before
// publishing anything (a crash between logging and publishing), or after
// publishing all of it (a crash between publishing and acknowledging). It
// forwards what the consumer and the test helpers look for beyond
// tripcast.Stream: Scan and DeleteStream.
type flakyOutput struct {
	tripcast.Stream
	output string
	after  bool
	failed atomic.Bool
}

func (f *flakyOutput) PublishBatch(ctx context.Context, name string, msgs []tripcast.Message) error {
	if name != f.output || !f.failed.CompareAndSwap(false, true) {
		return f.Stream.PublishBatch(ctx, name, msgs)
	}
	if f.after {
		if err := f.Stream.PublishBatch(ctx, name, msgs); err != nil {
			return err
		}
	}
	return tripcast.Errorf(tripcast.EUNAVAILABLE, "injected failure (after publishing: %v)", f.after)
}

// Scan reads the wrapped stream back (every engine here is a Scanner).
func (f *flakyOutput) Scan(ctx context.Context, name string, since time.Time, fn func(tripcast.Message) error) error {
	return f.Stream.(tripcast.Scanner).Scan(ctx, name, since, fn)
}

// DeleteStream deletes a stream of the wrapped engine (names' cleanup).
func (f *flakyOutput) DeleteStream(ctx context.Context, name string) error {
	return f.Stream.(deleter).DeleteStream(ctx, name)
}

// TestConsumeCrashWindow: a batch whose predictions were logged, and then
// published or not, comes again: the consumer publishes exactly the ones
// its output stream lacks (the log tells which were logged before; the
// output stream is read back for those), with no duplicate-detection IDs.
// Events repeated by the producer, inside a batch or later, get no second
// prediction either. On every engine: Kinesis too reads its output back.
func TestConsumeCrashWindow(t *testing.T) {
	for _, after := range []bool{false, true} {
		for _, e := range engines {
			t.Run(fmt.Sprintf("%s/published=%v", e.name, after), func(t *testing.T) {
				const n = 300
				var (
					flaky      *flakyOutput
					wantSource = tripcast.SourceNATS
				)
				// The wrapper hides the engine's type from consume.New,
				// which picks the source from it: give it explicitly.
				if e.name == "kinesis" {
					wantSource = tripcast.SourceKinesis
				}
				pl := newPipeline(t, engine{name: e.name, source: wantSource, open: func(t *testing.T, db *sqlstore.DB) tripcast.Stream {
					inner := e.open(t, db)
					if _, ok := inner.(tripcast.Scanner); !ok {
						t.Fatalf("engine %s: %T cannot be read back (no Scan)", e.name, inner)
					}
					if _, ok := inner.(*stream.Kinesis); ok != (wantSource == tripcast.SourceKinesis) {
						t.Fatalf("engine %s: got a %T, want source %s", e.name, inner, wantSource)
					}
					flaky = &flakyOutput{Stream: inner, after: after}
					return flaky
				}}, false, 0, nil)
				flaky.output = pl.out
				pl.start(t)
				_, trips := realModel(t)
				valid := func(i int) []byte { return validEvent(trips, "w", i) }
				// Repeated by the producer: ride n-1 right after itself (one
				// batch), ride 0 in a later batch, then rides 7, 9 and 7.
				evs := append(mix(t, "w", n), valid(n-1), valid(0))
				pl.publish(t, evs)
				waitFor(t, "the first events", func() bool { return pl.c.Stats().Received >= int64(len(evs)) })
				pl.publish(t, [][]byte{valid(7), valid(9), valid(7)})
				const repeats = 5
				want := int64(len(evs) + 3)
				waitFor(t, "every event", func() bool { return pl.c.Stats().Received >= want })
				pl.checkAccounting(t, "w", n, true)
				st := pl.c.Stats()
				if st.Failures != 1 || st.Redelivered == 0 || st.Received != want || st.Predicted != n+repeats {
					t.Errorf("got stats %+v, want 1 failure, redelivered events, %d received, %d predicted", st, want, n+repeats)
				}
				// Found published: the repeats, and the failed batch's
				// predictions when it had published them.
				if after && st.AlreadyPublished <= repeats || !after && st.AlreadyPublished != repeats {
					t.Errorf("got %d predictions found published already, want %s", st.AlreadyPublished,
						map[bool]string{true: "the failed batch's and the 5 repeats", false: "the 5 repeats"}[after])
				}
				// Read back for the failed batch (its retry is a redelivery)
				// and for the producer's later repeats.
				if st.Scans < 1 {
					t.Errorf("got %d read-backs of the output, want at least 1 (the retried batch)", st.Scans)
				}
				for _, m := range pl.outputs.all() {
					if m.ID == "" {
						t.Fatalf("output message without its stream position: %+v", m)
					}
				}
				if got := pl.c.Config().Source; got != wantSource {
					t.Errorf("consumer source: got %q, want %q", got, wantSource)
				}
				recs, err := pl.db.GetPredictions(testCtx(t), "w0")
				if err != nil || len(recs) != 1 || recs[0].Source != wantSource {
					t.Errorf("ride w0: got records %+v (%v), want one with source %s", recs, err, wantSource)
				}
			})
		}
	}
}

// TestConsumeRepeat: a ride the producer sends again later, identical (a
// first delivery on NATS), is predicted and logged once and not published
// again, without reading the output back: the log holds the identical
// request from the same source, and the message that logged it publishes it.
func TestConsumeRepeat(t *testing.T) {
	pl := newPipeline(t, engines[0], false, 0, nil)
	pl.start(t)
	_, trips := realModel(t)
	ev := validEvent(trips, "rp", 0)
	pl.publish(t, [][]byte{ev})
	waitFor(t, "the first prediction", func() bool { return pl.outputs.len() == 1 })
	pl.publish(t, [][]byte{ev, ev})
	waitFor(t, "the repeats", func() bool { return pl.c.Stats().Received == 3 })
	time.Sleep(300 * time.Millisecond) // any stray output would be in by now
	if n := pl.outputs.len(); n != 1 {
		t.Errorf("got %d output messages, want 1", n)
	}
	if st := pl.c.Stats(); st.AlreadyPublished != 2 || st.Predicted != 3 || st.Scans != 0 {
		t.Errorf("got stats %+v, want 3 predicted, 2 not published again, without a read-back", st)
	}
	if got := counterValue(t, pl.reg, "tripcast_stream_already_published_total"); got != 2 {
		t.Errorf("tripcast_stream_already_published_total: got %v, want 2", got)
	}
	if n, err := pl.db.CountPredictions(testCtx(t), sqlstore.PredictionFilter{}); err != nil || n != 1 {
		t.Errorf("SQL log: got %d rows (%v), want 1", n, err)
	}

	// A ride answered over HTTP first (logged, never published to the
	// stream) still gets its prediction published when its event comes.
	r, err := serve.DecodeEvent(validEvent(trips, "rp", 1))
	if err != nil {
		t.Fatal(err)
	}
	web := tripcast.NewPredictionRecord(r, tripcast.Prediction{RideID: r.ID, Model: tripcast.DefaultModelName, Version: "1", RideDuration: 9},
		time.Now(), time.Now(), tripcast.SourceHTTP)
	if _, err := pl.db.LogPredictions(testCtx(t), []tripcast.PredictionRecord{web}); err != nil {
		t.Fatal(err)
	}
	pl.publish(t, [][]byte{validEvent(trips, "rp", 1)})
	waitFor(t, "the stream's prediction of the HTTP-answered ride", func() bool { return pl.outputs.len() == 2 })
	if st := pl.c.Stats(); st.AlreadyPublished != 2 {
		t.Errorf("got stats %+v, want still 2 not published again", st)
	}
}

// TestConsumeScanWindow: a batch that published its predictions and then
// failed comes again after ScanWindow: its predictions, logged longer ago
// than that, are published again without reading the output back (the
// documented bound: two messages for the ride).
func TestConsumeScanWindow(t *testing.T) {
	e := engines[0]
	var flaky *flakyOutput
	pl := newPipeline(t, engine{name: e.name, scanWindow: 50 * time.Millisecond, open: func(t *testing.T, db *sqlstore.DB) tripcast.Stream {
		flaky = &flakyOutput{Stream: e.open(t, db), after: true}
		return flaky
	}}, false, 0, nil)
	flaky.output = pl.out
	pl.start(t)
	_, trips := realModel(t)
	pl.publish(t, [][]byte{validEvent(trips, "sw", 0)})
	waitFor(t, "the retried batch", func() bool { return pl.c.Stats().Received == 1 })
	waitFor(t, "both publications", func() bool { return pl.outputs.len() == 2 })
	if st := pl.c.Stats(); st.Failures != 1 || st.AlreadyPublished != 0 || st.Scans != 0 {
		t.Errorf("got stats %+v, want 1 failure, published again without a read-back", st)
	}
	if n, err := pl.db.CountPredictions(testCtx(t), sqlstore.PredictionFilter{}); err != nil || n != 1 {
		t.Errorf("SQL log: got %d rows (%v), want 1", n, err)
	}
}

// counterValue returns the value of the counter name in reg (its only
// series), failing the test when there is none.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s in the registry", name)
	return 0
}

// TestConsumeNoModel: nothing is consumed before a model is loaded, and
// everything once it is.
func TestConsumeNoModel(t *testing.T) {
	const n = 100
	pl := newPipeline(t, engines[0], true, 0, nil)
	pl.start(t)
	evs := mix(t, "m", n)
	pl.publish(t, evs)
	time.Sleep(300 * time.Millisecond)
	if st := pl.c.Stats(); st.Received != 0 || st.Failures != 0 {
		t.Fatalf("without a model: got stats %+v, want nothing consumed", st)
	}
	art, _ := realModel(t)
	pl.p.Swap(art)
	waitFor(t, "every event", func() bool { return pl.c.Stats().Received >= int64(len(evs)) })
	pl.checkAccounting(t, "m", n, true)
}

// TestConsumeStoppedWhileStarting: a consumer stopped before it has
// created its streams returns nil (a shutdown), and consumed nothing.
func TestConsumeStoppedWhileStarting(t *testing.T) {
	pl := newPipeline(t, engines[0], false, 0, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := pl.c.Run(ctx); err != nil {
		t.Fatalf("Run on a stopped context: %v, want nil", err)
	}
	if st := pl.c.Stats(); st.Received != 0 {
		t.Fatalf("got stats %+v, want nothing received", st)
	}
}

// brokenModel fails on one ride, as a model bug would.
type brokenModel struct {
	tripcast.Model
	bad string
}

func (b brokenModel) Predict(r tripcast.Ride) (float64, error) {
	if r.ID == b.bad {
		return 0, errors.New("tree walk failed")
	}
	return b.Model.Predict(r)
}

// TestConsumeMaxDeliver: an event the model fails on is retried, then
// dead-lettered with code internal once delivered MaxDeliver times; the
// rest of its batch is predicted.
func TestConsumeMaxDeliver(t *testing.T) {
	const n = 50
	pl := newPipeline(t, engines[0], true, 3, nil)
	art, trips := realModel(t)
	pl.p.Swap(brokenModel{Model: art, bad: "x7"})
	pl.start(t)
	evs := make([][]byte, n)
	for i := range evs {
		evs[i] = validEvent(trips, "x", i)
	}
	pl.publish(t, evs)
	waitFor(t, "every event", func() bool { return pl.c.Stats().Received >= n })
	st := pl.c.Stats()
	if st.Predicted != n-1 || st.DeadLettered != 1 || st.Failures != 2 {
		t.Errorf("got stats %+v, want %d predicted, 1 dead-lettered after 2 failures", st, n-1)
	}
	waitFor(t, "the dead letter", func() bool { return pl.deads.len() == 1 })
	var d tripcast.DeadLetter
	if err := json.Unmarshal(pl.deads.all()[0].Data, &d); err != nil {
		t.Fatal(err)
	}
	if d.Code != tripcast.EINTERNAL || d.Delivered != 3 || string(d.Event) != string(evs[7]) {
		t.Errorf("got dead letter %+v, want code internal, delivered 3, the event of ride x7", d)
	}
	if got, _ := pl.db.CountPredictions(testCtx(t), sqlstore.PredictionFilter{}); got != n-1 {
		t.Errorf("got %d predictions, want %d", got, n-1)
	}
}

func TestNew(t *testing.T) {
	s := engines[0].open(t, nil)
	p := serve.New(serve.Options{})
	db := freshDB(t)
	t.Run("OK", func(t *testing.T) {
		c, err := consume.New(consume.Config{}, s, p, db.PredictionLog())
		if err != nil {
			t.Fatal(err)
		}
		cfg := c.Config()
		if cfg.Input != "ride_events" || cfg.Output != "ride_predictions" || cfg.DeadLetter != "ride_events_dlq" || cfg.Source != tripcast.SourceNATS {
			t.Errorf("got config %+v, want the course's stream names and source nats", cfg)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, c := range []struct {
			cfg   consume.Config
			field string
		}{
			{consume.Config{Input: "ride.events"}, "input"},
			{consume.Config{Consumer: "a b"}, "consumer"},
			{consume.Config{Output: "ride_events"}, "output"},
		} {
			_, err := consume.New(c.cfg, s, p, db.PredictionLog())
			if tripcast.ErrorCode(err) != tripcast.EINVALID || tripcast.ErrorField(err) != c.field {
				t.Errorf("%+v: got %v, want %s on field %s", c.cfg, err, tripcast.EINVALID, c.field)
			}
		}
		if _, err := consume.New(consume.Config{}, s, nil, db.PredictionLog()); tripcast.ErrorField(err) != "predictor" {
			t.Errorf("nil predictor: got %v, want an error on field predictor", err)
		}
	})
}
