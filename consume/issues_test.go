package consume_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tripcast"
	"tripcast/serve"
	"tripcast/sqlstore"
)

// TestConsumeHugeInvalidEvent (issue 12.1): an invalid event of 400,000
// non-UTF-8 bytes on embedded NATS is dead-lettered in a dead letter that
// fits (base64 prefix, size, sha256), and the events after it are
// predicted. Before, its dead letter (the event as a JSON string, 2.4 MB)
// exceeded the 1 MiB message limit and was retried forever: nothing was
// predicted any more.
func TestConsumeHugeInvalidEvent(t *testing.T) {
	pl := newPipeline(t, engines[0], false, 0, nil)
	pl.start(t)
	_, trips := realModel(t)
	huge := []byte(strings.Repeat("\xff", 400000))
	evs := [][]byte{huge}
	for i := range 20 {
		evs = append(evs, validEvent(trips, "h", i))
	}
	pl.publish(t, evs)
	waitFor(t, "every event", func() bool { return pl.c.Stats().Received >= int64(len(evs)) })
	if st := pl.c.Stats(); st.Predicted != 20 || st.DeadLettered != 1 {
		t.Errorf("got stats %+v, want 20 predicted and 1 dead-lettered", st)
	}
	waitFor(t, "the dead letter", func() bool { return pl.deads.len() == 1 })
	m := pl.deads.all()[0]
	var d tripcast.DeadLetter
	if err := json.Unmarshal(m.Data, &d); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(huge)
	if d.Code != tripcast.EINVALID || d.Event != nil || !d.EventTruncated || d.EventSize != len(huge) ||
		d.EventSHA256 != hex.EncodeToString(sum[:]) || string(d.EventBase64) != string(huge[:tripcast.MaxDeadLetterEvent]) {
		t.Errorf("got dead letter code %s, size %d, truncated %v, %d bytes kept, want the first %d bytes, size %d and sha256 of the event",
			d.Code, d.EventSize, d.EventTruncated, len(d.EventBase64), tripcast.MaxDeadLetterEvent, len(huge))
	}
	if len(m.Data) > 128<<10 {
		t.Errorf("dead letter is %d bytes, want it bounded (about 4/3 of %d)", len(m.Data), tripcast.MaxDeadLetterEvent)
	}
	if err := pl.c.Healthy(); err != nil {
		t.Errorf("Healthy: %v, want nil", err)
	}
}

// refusingDeadLetters refuses every publication to the dead-letter stream
// while refuse is set, as an unreachable or full stream would.
type refusingDeadLetters struct {
	flakyOutput
	dlq    string
	refuse atomic.Bool
}

func (r *refusingDeadLetters) PublishBatch(ctx context.Context, name string, msgs []tripcast.Message) error {
	if name == r.dlq && r.refuse.Load() {
		return tripcast.Errorf(tripcast.EUNAVAILABLE, "injected: dead-letter stream refuses messages")
	}
	return r.Stream.PublishBatch(ctx, name, msgs)
}

// TestConsumeStallVisible (issue 12.1): a batch that cannot make progress
// (its dead letter refused) makes Healthy report the stall, with the batch
// and the cause, and sets tripcast_stream_stalled, until it goes through.
func TestConsumeStallVisible(t *testing.T) {
	var ref *refusingDeadLetters
	e := engines[0]
	e.stallAfter = 300 * time.Millisecond
	open := e.open
	e.open = func(t *testing.T, db *sqlstore.DB) tripcast.Stream {
		ref = &refusingDeadLetters{flakyOutput: flakyOutput{Stream: open(t, db)}}
		ref.refuse.Store(true)
		return ref
	}
	pl := newPipeline(t, e, false, 0, nil)
	ref.dlq = pl.dlq
	pl.start(t)
	pl.publish(t, [][]byte{[]byte(`not json`)})
	waitFor(t, "the stall to be reported", func() bool { return pl.c.Healthy() != nil })
	err := pl.c.Healthy()
	if tripcast.ErrorCode(err) != tripcast.EUNAVAILABLE || !strings.Contains(err.Error(), "dead-letter stream refuses") ||
		!strings.Contains(err.Error(), "stalled") {
		t.Errorf("Healthy: got %v, want EUNAVAILABLE naming the stall and its cause", err)
	}
	if got := gaugeValue(t, pl, "tripcast_stream_stalled"); got != 1 {
		t.Errorf("tripcast_stream_stalled: got %v, want 1", got)
	}
	ref.refuse.Store(false)
	waitFor(t, "the dead letter", func() bool { return pl.deads.len() == 1 })
	waitFor(t, "the recovery", func() bool { return pl.c.Healthy() == nil })
	if got := gaugeValue(t, pl, "tripcast_stream_stalled"); got != 0 {
		t.Errorf("tripcast_stream_stalled: got %v, want 0", got)
	}
}

// gaugeValue reads a gauge of the pipeline's registry.
func gaugeValue(t *testing.T, pl *pipeline, name string) float64 {
	t.Helper()
	mfs, err := pl.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// TestConsumeReusedRideID (issue 12.4): every delivered event ends as its
// own prediction. An event fetched but not acknowledged comes back (a
// redelivery) after a later event with the same ride_id but other inputs
// was predicted and published; and a new event reuses the ride_id with
// other inputs again. Before, both were taken for "already published" (the
// log held ride_id and version) and got no prediction and no dead letter.
func TestConsumeReusedRideID(t *testing.T) {
	pl := newPipeline(t, engines[0], false, 0, nil)
	ctx := testCtx(t)
	ev := func(dist float64) []byte {
		return fmt.Appendf(nil, `{"ride_id": "re1", "PULocationID": 130, "DOLocationID": 205, "trip_distance": %v}`, dist)
	}
	handle := func(id string, delivered int, data []byte) {
		t.Helper()
		if err := pl.c.Handle(ctx, []tripcast.Message{{Stream: pl.in, Key: "re1", ID: id, Delivered: delivered, Data: data}}); err != nil {
			t.Fatal(err)
		}
	}
	handle("2", 1, ev(12)) // the later event, handled first
	handle("1", 2, ev(1))  // the earlier one, redelivered after AckWait
	handle("3", 1, ev(25)) // the producer reuses the ride_id once more
	handle("1", 3, ev(1))  // a redelivery of one already published
	handle("4", 1, ev(12)) // an identical repeat of the first
	waitFor(t, "the predictions", func() bool { return pl.outputs.len() >= 3 })
	seen := map[float64]int{}
	for _, m := range pl.outputs.all() {
		p, err := serve.ParsePrediction(m.Data)
		if err != nil || p.RideID != "re1" {
			t.Fatalf("output %s: %v", m.Data, err)
		}
		seen[p.RideDuration]++
	}
	if len(seen) != 3 {
		t.Errorf("got %d distinct predictions for ride re1 (%v), want 3: one per distinct event", len(seen), seen)
	}
	for y, n := range seen {
		if n != 1 {
			t.Errorf("prediction %v published %d times, want once", y, n)
		}
	}
	if st := pl.c.Stats(); st.Predicted != 5 || st.AlreadyPublished != 2 || st.DeadLettered != 0 || st.Scans != 1 {
		t.Errorf("got stats %+v, want 5 predicted, 2 not published again (the redelivery, found by 1 read-back, and the identical repeat, a first delivery, without one)", st)
	}
	// The log records what was answered: a row per distinct request.
	if n, err := pl.db.CountPredictions(ctx, sqlstore.PredictionFilter{RideID: "re1"}); err != nil || n != 3 {
		t.Errorf("SQL log: got %d rows for ride re1 (%v), want 3", n, err)
	}
}

// TestConsumeNoRideID (issue 11.3): an event without ride_id gets
// "<input>:<stream position>", stable across redeliveries: a batch that
// published and then failed comes again and publishes nothing twice.
func TestConsumeNoRideID(t *testing.T) {
	var flaky *flakyOutput
	e := engines[0]
	open := e.open
	e.open = func(t *testing.T, db *sqlstore.DB) tripcast.Stream {
		flaky = &flakyOutput{Stream: open(t, db), after: true}
		return flaky
	}
	pl := newPipeline(t, e, false, 0, nil)
	flaky.output = pl.out
	pl.start(t)
	_, trips := realModel(t)
	const n = 10
	evs := make([][]byte, n)
	for i := range evs {
		evs[i] = fmt.Appendf(nil, `{"ride": {"PULocationID": %d, "DOLocationID": %d, "trip_distance": %v}}`,
			trips.PULocationID[i], trips.DOLocationID[i], trips.TripDistance[i])
	}
	pl.publish(t, evs)
	waitFor(t, "every event", func() bool { return pl.c.Stats().Received >= n })
	if st := pl.c.Stats(); st.Failures != 1 || st.Redelivered == 0 || st.Predicted != n {
		t.Errorf("got stats %+v, want one failed batch redelivered and %d predicted", st, n)
	}
	waitFor(t, "the predictions", func() bool { return pl.outputs.len() >= n })
	keys := map[string]bool{}
	for _, m := range pl.outputs.all() {
		p, err := serve.ParsePrediction(m.Data)
		if err != nil || p.RideID != m.Key || !strings.HasPrefix(p.RideID, pl.in+":") || p.RideIDNumeric {
			t.Fatalf("output %s (key %s): want a ride_id %s:<position> as a string, %v", m.Data, m.Key, pl.in, err)
		}
		keys[p.RideID] = true
	}
	if len(keys) != n || pl.outputs.len() != n {
		t.Errorf("got %d messages for %d ride_ids, want %d of each", pl.outputs.len(), len(keys), n)
	}
	recs, err := pl.db.GetPredictions(testCtx(t), pl.in+":1")
	if err != nil || len(recs) != 1 {
		t.Errorf("SQL log for %s:1: got %+v (%v), want one record", pl.in, recs, err)
	}
}

// TestConsumeClientEvents (issue 11.1, 11.2): the events of the clients
// tripcast replaces, on every engine. The seed's simulator sends zone IDs as
// strings and a pickup time without a zone; the course sends a numeric
// ride_id, which comes back as a number. Both are predicted; a zone given as
// a non-numeric string is dead-lettered with the field and the reason.
func TestConsumeClientEvents(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			pl := newPipeline(t, e, false, 0, nil)
			pl.start(t)
			evs := [][]byte{
				[]byte(`{"ride_id": "ride_1796398521264_3190", "PULocationID": "254", "DOLocationID": "227", "trip_distance": 26.93, "pickup_datetime": "2026-12-04T15:35:21.265562"}`),
				[]byte(`{"ride_id": 256, "ride": {"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}}`),
				[]byte(`{"ride_id": "bad", "PULocationID": "abc", "DOLocationID": "227", "trip_distance": 1}`),
			}
			pl.publish(t, evs)
			waitFor(t, "the predictions", func() bool { return pl.outputs.len() >= 2 })
			waitFor(t, "the dead letter", func() bool { return pl.deads.len() >= 1 })
			got := map[string]string{}
			for _, m := range pl.outputs.all() {
				var a struct {
					Prediction struct {
						RideDuration float64         `json:"ride_duration"`
						RideID       json.RawMessage `json:"ride_id"`
					} `json:"prediction"`
				}
				if err := json.Unmarshal(m.Data, &a); err != nil || a.Prediction.RideDuration <= 0 {
					t.Fatalf("output %s: %v", m.Data, err)
				}
				got[m.Key] = string(a.Prediction.RideID)
			}
			if got["ride_1796398521264_3190"] != `"ride_1796398521264_3190"` || got["256"] != `256` {
				t.Errorf("got ride_ids %v, want the seed's as a string and the course's 256 as a number", got)
			}
			var d tripcast.DeadLetter
			if err := json.Unmarshal(pl.deads.all()[0].Data, &d); err != nil {
				t.Fatal(err)
			}
			if d.Field != "PULocationID" || !strings.Contains(d.Reason, `got string "abc"`) {
				t.Errorf("got dead letter field %q reason %q, want PULocationID and the string it got", d.Field, d.Reason)
			}
		})
	}
}
