package lambda_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"tripcast"
	"tripcast/gbdt"
	"tripcast/internal/kinesisevent"
	"tripcast/internal/testfiles"
	"tripcast/lambda"
	"tripcast/serve"
	"tripcast/sqlstore/sqlstoretest"
	"tripcast/stream"
)

// xgbModel is a real model: XGBoost 1.7's 100 trees trained on green 2021-01
// (features PULocationID, DOLocationID, trip_distance, pickup hour, weekday
// Monday=0), predicted by tripcast/gbdt. A ride without a pickup time has
// hour and weekday missing.
type xgbModel struct {
	m       *gbdt.Model
	version string
}

func mustLoadModel(tb testing.TB, version string) *xgbModel {
	tb.Helper()
	m, err := gbdt.LoadFile(testfiles.Fixture(tb, "xgboost-1.7-depth6/model.json"))
	if err != nil {
		tb.Fatal(err)
	}
	return &xgbModel{m: m, version: version}
}

func (x *xgbModel) Predict(r tripcast.Ride) (float64, error) {
	h, w := float32(math.NaN()), float32(math.NaN())
	if !r.PickupTime.IsZero() {
		h, w = float32(r.PickupTime.Hour()), float32((int(r.PickupTime.Weekday())+6)%7)
	}
	return float64(x.m.Predict([]float32{float32(r.PULocationID), float32(r.DOLocationID), float32(r.TripDistance), h, w})), nil
}
func (x *xgbModel) Name() string    { return tripcast.DefaultModelName }
func (x *xgbModel) Version() string { return x.version }

// memLog is an in-memory tripcast.PredictionLog (the parquet log is another
// package's); failing makes Flush fail as an unreachable store would.
type memLog struct {
	mu      sync.Mutex
	pending []tripcast.PredictionRecord
	durable []tripcast.PredictionRecord
	failing bool
}

func (l *memLog) Log(_ context.Context, recs []tripcast.PredictionRecord) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = append(l.pending, recs...)
	return nil
}

func (l *memLog) Flush(context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failing {
		return tripcast.Errorf(tripcast.EUNAVAILABLE, "prediction log store unreachable")
	}
	l.durable = append(l.durable, l.pending...)
	l.pending = nil
	return nil
}

func (l *memLog) records() []tripcast.PredictionRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.durable)
}

// courseRide is the ride of the course's Lambda test event (test_docker.py).
const courseRide = `{
        "ride": {
            "PULocationID": 130,
            "DOLocationID": 205,
            "trip_distance": 3.66
        }, 
        "ride_id": 256
    }`

// seq is the sequence number kinesisevent.Course gives record i.
func seq(i int) string {
	return fmt.Sprintf("4963008166608487929058118563032477039860870488080252%04d", i)
}

func decodeEvent(t *testing.T, payload []byte) events.KinesisEvent {
	t.Helper()
	var ev events.KinesisEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// env is a handler on a real embedded NATS JetStream with a real model.
type env struct {
	stream *stream.NATS
	log    *memLog
	pred   *serve.Predictor
	model  *xgbModel
	h      *lambda.Handler
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError + 1}))
}

func mustOpenEnv(t *testing.T, withModel bool) *env {
	t.Helper()
	ctx := context.Background()
	st, err := stream.OpenEmbedded(ctx, t.TempDir(), "", stream.NATSOptions{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, name := range []string{tripcast.PredictionsStream, tripcast.DeadLetterStream} {
		if err := st.EnsureStream(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{stream: st, log: &memLog{}, pred: serve.New(serve.Options{Logger: testLogger(t)}), model: mustLoadModel(t, "Test123")}
	if withModel {
		e.pred.Swap(e.model)
	}
	e.h, err = lambda.New(e.pred, lambda.Options{Output: st, Log: e.log, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// readUntil consumes name until a message with key "end" (published by the
// caller after everything else) and returns the messages before it.
func readUntil(t *testing.T, st tripcast.Stream, name string) []tripcast.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := st.Publish(ctx, name, "end", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	var got []tripcast.Message
	done := false
	err := st.Consume(cctx, name, "lambdatest", func(_ context.Context, batch []tripcast.Message) error {
		for _, m := range batch {
			if done {
				break
			}
			if m.Key == "end" {
				done = true
				stop()
				break
			}
			got = append(got, tripcast.Message{Key: m.Key, Data: slices.Clone(m.Data)})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !done {
		t.Fatalf("consume %s: end marker not seen", name)
	}
	return got
}

func TestHandle(t *testing.T) {
	ctx := context.Background()

	t.Run("OKCourseEvent", func(t *testing.T) {
		e := mustOpenEnv(t, true)
		out, err := e.h.InvokeJSON(ctx, kinesisevent.Course(courseRide))
		if err != nil {
			t.Fatal(err)
		}
		y, _ := e.model.Predict(tripcast.Ride{PULocationID: 130, DOLocationID: 205, TripDistance: 3.66})
		pred := string(serve.MarshalPrediction(tripcast.Prediction{RideID: "256", RideIDNumeric: true, Model: tripcast.DefaultModelName, Version: "Test123", RideDuration: y}))
		want := `{"predictions":[` + pred + `]}` // nothing else: the course compares the whole answer
		if string(out) != want {
			t.Fatalf("got %s, want %s", out, want)
		}
		// The course's expected shape, decoded as a Python client would.
		var resp struct {
			Predictions []struct {
				Model      string `json:"model"`
				Version    string `json:"version"`
				Prediction struct {
					RideDuration float64     `json:"ride_duration"`
					RideID       json.Number `json:"ride_id"` // a number, as it came
				} `json:"prediction"`
			} `json:"predictions"`
		}
		if err := json.Unmarshal(out, &resp); err != nil {
			t.Fatal(err)
		}
		if p := resp.Predictions[0]; p.Model != "ride_duration_prediction_model" || p.Version != "Test123" ||
			p.Prediction.RideID != "256" || !(p.Prediction.RideDuration > 5 && p.Prediction.RideDuration < 60) {
			t.Errorf("got prediction %+v, want ride 256 of version Test123 with a plausible duration", p)
		}
		got := readUntil(t, e.stream, tripcast.PredictionsStream)
		if len(got) != 1 || got[0].Key != "256" || string(got[0].Data) != pred {
			t.Fatalf("got %d messages on %s (%v), want one keyed 256: %s", len(got), tripcast.PredictionsStream, got, pred)
		}
		recs := e.log.records()
		if len(recs) != 1 || recs[0].RideID != "256" || recs[0].Source != tripcast.SourceLambda || recs[0].Prediction != y ||
			recs[0].Version != "Test123" || recs[0].PULocationID != 130 {
			t.Fatalf("got log records %+v, want ride 256 predicted %v by Test123 from lambda", recs, y)
		}
	})

	t.Run("OKSeedSimulatorEvent", func(t *testing.T) {
		// The seed's simulator: zones as strings, a pickup time without a zone.
		e := mustOpenEnv(t, true)
		out, err := e.h.InvokeJSON(ctx, kinesisevent.Course(`{"ride_id": "ride_1796398521264_3190", "PULocationID": "254", "DOLocationID": "227", "trip_distance": 26.93, "pickup_datetime": "2026-12-04T15:35:21.265562"}`))
		if err != nil {
			t.Fatal(err)
		}
		pickup, _ := serve.ParseTime("2026-12-04T15:35:21.265562")
		y, _ := e.model.Predict(tripcast.Ride{PULocationID: 254, DOLocationID: 227, TripDistance: 26.93, PickupTime: pickup})
		pred := string(serve.MarshalPrediction(tripcast.Prediction{RideID: "ride_1796398521264_3190", Model: tripcast.DefaultModelName, Version: "Test123", RideDuration: y}))
		if want := `{"predictions":[` + pred + `]}`; string(out) != want {
			t.Fatalf("got %s, want %s", out, want)
		}
	})

	t.Run("OKBadRecordsDeadLettered", func(t *testing.T) {
		e := mustOpenEnv(t, true)
		payloads := []string{
			`{"ride_id": "a", "ride": {"PULocationID": 43, "DOLocationID": 151, "trip_distance": 1.01, "pickup_datetime": "2021-01-01T00:15:56"}}`,
			`{"ride_id": "b", "ride": {"PULocationID": 999, "DOLocationID": 151, "trip_distance": 1.01}}`,
			`not json at all`,
			`{"ride_id": "d", "PULocationID": 74, "DOLocationID": 41, "trip_distance": 2.5}`,
			"\xff\xfe",
		}
		resp, err := e.h.Handle(ctx, decodeEvent(t, kinesisevent.Course(payloads...)))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Predictions) != 2 || len(resp.BatchItemFailures) != 0 || resp.DeadLettered != 3 || len(resp.Rejected) != 3 {
			t.Fatalf("got %+v, want 2 predictions, 3 dead letters, no retry", resp)
		}
		for k, id := range []string{"a", "d"} {
			p, err := serve.ParsePrediction(resp.Predictions[k])
			if err != nil || p.RideID != id {
				t.Errorf("prediction %d: got %+v (%v), want ride %s", k, p, err, id)
			}
		}
		wantRej := []lambda.Rejection{
			{SequenceNumber: seq(1), Code: tripcast.EINVALID, Field: "ride.PULocationID"},
			{SequenceNumber: seq(2), Code: tripcast.EINVALID},
			{SequenceNumber: seq(4), Code: tripcast.EINVALID},
		}
		for k, w := range wantRej {
			r := resp.Rejected[k]
			if r.SequenceNumber != w.SequenceNumber || r.Code != w.Code || r.Field != w.Field || r.Reason == "" {
				t.Errorf("rejection %d: got %+v, want %+v with a reason", k, r, w)
			}
		}
		dead := readUntil(t, e.stream, tripcast.DeadLetterStream)
		if len(dead) != 3 {
			t.Fatalf("got %d dead letters, want 3", len(dead))
		}
		for k, i := range []int{1, 2, 4} {
			var dl tripcast.DeadLetter
			if err := json.Unmarshal(dead[k].Data, &dl); err != nil {
				t.Fatal(err)
			}
			orig := string(dl.Event)
			if dl.EventBase64 != nil {
				orig = string(dl.EventBase64)
			}
			if orig != payloads[i] || dl.StreamID != seq(i) || !strings.HasSuffix(resp.Rejected[k].Reason, dl.Reason) ||
				dl.Source != tripcast.SourceLambda || dl.Key != fmt.Sprint(i) || dead[k].Key != fmt.Sprint(i) ||
				dl.Stream != "ride_events" || dl.EventSize != len(payloads[i]) || dl.Delivered != 0 {
				t.Errorf("dead letter %d: got %+v (key %s), want record %d's original data and reason", k, dl, dead[k].Key, i)
			}
		}
		if !strings.Contains(resp.Rejected[0].Reason, "ride.PULocationID") || !strings.Contains(resp.Rejected[0].Reason, "265") {
			t.Errorf("got reason %q, want it to name ride.PULocationID and the zone range", resp.Rejected[0].Reason)
		}
		if got := readUntil(t, e.stream, tripcast.PredictionsStream); len(got) != 2 || got[0].Key != "a" || got[1].Key != "d" {
			t.Errorf("got %v on %s, want predictions for a and d", got, tripcast.PredictionsStream)
		}
	})

	t.Run("OKRetryNotDuplicated", func(t *testing.T) {
		e := mustOpenEnv(t, true)
		ev := decodeEvent(t, kinesisevent.Course(courseRide, `{"ride_id": 257, "ride": {"PULocationID": 1, "DOLocationID": 2, "trip_distance": 0.5}}`))
		for range 2 { // Lambda delivering the same batch twice
			if resp, err := e.h.Handle(ctx, ev); err != nil || len(resp.Predictions) != 2 {
				t.Fatalf("got %+v, %v, want 2 predictions", resp, err)
			}
		}
		if got := readUntil(t, e.stream, tripcast.PredictionsStream); len(got) != 2 {
			t.Errorf("got %d predictions on the stream after a redelivery, want 2", len(got))
		}
	})

	t.Run("OKNoRideIDRetriedWithSQLLog", func(t *testing.T) {
		// A record without ride_id gets "<stream>:<sequence number>", the
		// same on Lambda's retry; with the SQL log (a tripcast.PriorLog) and
		// an output stream read back, the retry publishes nothing twice.
		e := mustOpenEnv(t, true)
		db := sqlstoretest.MustOpen(t, sqlstoretest.FreshSQLite(t))
		h, err := lambda.New(e.pred, lambda.Options{Output: e.stream, Log: db.PredictionLog(), Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		noID := `{"ride": {"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}}`
		ev := decodeEvent(t, kinesisevent.Course(noID, courseRide))
		wantID := "ride_events:" + seq(0)
		for try := range 2 {
			resp, err := h.Handle(ctx, ev)
			if err != nil || len(resp.Predictions) != 2 || len(resp.BatchItemFailures) != 0 {
				t.Fatalf("try %d: got %+v, %v, want 2 predictions", try, resp, err)
			}
			if p, err := serve.ParsePrediction(resp.Predictions[0]); err != nil || p.RideID != wantID || p.RideIDNumeric {
				t.Fatalf("try %d: got prediction %+v (%v), want ride_id %q", try, p, err, wantID)
			}
		}
		got := readUntil(t, e.stream, tripcast.PredictionsStream)
		if len(got) != 2 || got[0].Key != wantID || got[1].Key != "256" {
			t.Errorf("got %v on %s, want one prediction keyed %s and one keyed 256", got, tripcast.PredictionsStream, wantID)
		}
		if recs, err := db.GetPredictions(ctx, wantID); err != nil || len(recs) != 1 || recs[0].Source != tripcast.SourceLambda {
			t.Errorf("SQL log for %s: got %+v (%v), want one record from lambda", wantID, recs, err)
		}
	})

	t.Run("ErrOutputStreamDown", func(t *testing.T) {
		e := mustOpenEnv(t, true)
		e.stream.Close() // a real failure: the engine is gone
		resp, err := e.h.Handle(ctx, decodeEvent(t, kinesisevent.Course(courseRide, `{"ride_id": "x"}`, courseRide)))
		if err != nil {
			t.Fatal(err)
		}
		want := []events.KinesisBatchItemFailure{{ItemIdentifier: seq(0)}, {ItemIdentifier: seq(1)}, {ItemIdentifier: seq(2)}}
		if !slices.Equal(resp.BatchItemFailures, want) || len(resp.Predictions) != 0 || resp.DeadLettered != 0 {
			t.Fatalf("got %+v, want every record retried and nothing answered", resp)
		}
		// Logged before the failing publish: the retry logs again; the SQL
		// log is idempotent (this in-memory one is not).
		if n := len(e.log.records()); n != 2 {
			t.Errorf("got %d log records, want 2 (ride 256 twice, before the publish failed)", n)
		}
	})

	t.Run("ErrNoModel", func(t *testing.T) {
		e := mustOpenEnv(t, false)
		resp, err := e.h.Handle(ctx, decodeEvent(t, kinesisevent.Course(`{"ride_id": "bad"}`, courseRide, courseRide)))
		if err != nil {
			t.Fatal(err)
		}
		// The whole batch waits for a model (the invalid record is
		// dead-lettered with the others' batch).
		want := []events.KinesisBatchItemFailure{{ItemIdentifier: seq(0)}, {ItemIdentifier: seq(1)}, {ItemIdentifier: seq(2)}}
		if !slices.Equal(resp.BatchItemFailures, want) || resp.DeadLettered != 0 || len(resp.Predictions) != 0 {
			t.Fatalf("got %+v, want every record retried", resp)
		}
		if n := len(e.log.records()); n != 0 {
			t.Errorf("got %d log records, want none", n)
		}
	})

	t.Run("ErrLogDown", func(t *testing.T) {
		e := mustOpenEnv(t, true)
		e.log.failing = true
		resp, err := e.h.Handle(ctx, decodeEvent(t, kinesisevent.Course(`{"ride_id": "bad"}`, courseRide)))
		if err != nil {
			t.Fatal(err)
		}
		want := []events.KinesisBatchItemFailure{{ItemIdentifier: seq(0)}, {ItemIdentifier: seq(1)}}
		if !slices.Equal(resp.BatchItemFailures, want) || resp.DeadLettered != 0 || len(resp.Predictions) != 0 {
			t.Fatalf("got %+v, want every record retried", resp)
		}
		if got := readUntil(t, e.stream, tripcast.PredictionsStream); len(got) != 0 {
			t.Errorf("got %d predictions published, want none before they are logged", len(got))
		}
	})

	t.Run("OKTestRunNoStreams", func(t *testing.T) {
		p := serve.New(serve.Options{})
		p.Swap(mustLoadModel(t, "Test123"))
		h, err := lambda.New(p, lambda.Options{})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := h.Handle(ctx, decodeEvent(t, kinesisevent.Course(courseRide, `{"ride_id": "x"}`)))
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Predictions) != 1 || len(resp.Rejected) != 1 || resp.DeadLettered != 0 || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("got %+v, want 1 prediction and 1 rejection, nothing retried", resp)
		}
	})

	t.Run("ErrNotAnEvent", func(t *testing.T) {
		e := mustOpenEnv(t, true)
		_, err := e.h.InvokeJSON(ctx, []byte(`{"Records": "nope"}`))
		if code := tripcast.ErrorCode(err); code != tripcast.EINVALID {
			t.Fatalf("got error %v (%s), want EINVALID", err, code)
		}
	})

	t.Run("ErrStartOutsideLambda", func(t *testing.T) {
		t.Setenv(lambda.RuntimeAPIEnv, "")
		e := mustOpenEnv(t, true)
		if code := tripcast.ErrorCode(e.h.Start(ctx)); code != tripcast.EUNAVAILABLE {
			t.Fatalf("got error code %q, want EUNAVAILABLE", code)
		}
	})

	t.Run("ErrNoPredictor", func(t *testing.T) {
		if _, err := lambda.New(nil, lambda.Options{}); tripcast.ErrorField(err) != "predictor" {
			t.Fatalf("got error %v, want a predictor field error", err)
		}
	})
}

// BenchmarkHandle handles batches of 100 records (Lambda's default batch
// size) on embedded NATS with a real model.
func BenchmarkHandle(b *testing.B) {
	ctx := context.Background()
	st, err := stream.OpenEmbedded(ctx, b.TempDir(), "", stream.NATSOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.EnsureStream(ctx, tripcast.PredictionsStream); err != nil {
		b.Fatal(err)
	}
	p := serve.New(serve.Options{})
	p.Swap(mustLoadModel(b, "1"))
	h, err := lambda.New(p, lambda.Options{Output: st})
	if err != nil {
		b.Fatal(err)
	}
	const n = 100
	ev := events.KinesisEvent{Records: make([]events.KinesisEventRecord, n)}
	b.ReportAllocs()
	round := 0
	for b.Loop() {
		round++
		for i := range ev.Records {
			ev.Records[i].Kinesis.SequenceNumber = fmt.Sprint(round*n + i)
			ev.Records[i].Kinesis.Data = fmt.Appendf(nil, `{"ride_id":"%d","ride":{"PULocationID":%d,"DOLocationID":%d,"trip_distance":%d.5}}`, round*n+i, 1+i%265, 1+(i*7)%265, i%20)
		}
		resp, err := h.Handle(ctx, ev)
		if err != nil || len(resp.Predictions) != n {
			b.Fatalf("got %d predictions, %v", len(resp.Predictions), err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
}
