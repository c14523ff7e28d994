package serve_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"tripcast"
	"tripcast/internal/testlog"
	"tripcast/serve"
)

var ride = tripcast.Ride{ID: "256", PULocationID: 130, DOLocationID: 205, TripDistance: 3.66}

// badModel answers with a fixed value or error.
type badModel struct {
	y   float64
	err error
}

func (m badModel) Predict(tripcast.Ride) (float64, error) { return m.y, m.err }
func (m badModel) Name() string                           { return "bad" }
func (m badModel) Version() string                        { return "9" }

func TestPredictor(t *testing.T) {
	ctx := context.Background()
	t.Run("ErrUnavailable", func(t *testing.T) {
		p := serve.New(serve.Options{})
		if got, err := p.Predict(ctx, ride); tripcast.ErrorCode(err) != tripcast.EUNAVAILABLE {
			t.Errorf("got %+v, %v, want %s", got, err, tripcast.EUNAVAILABLE)
		}
		if _, err := p.PredictBatch(ctx, []tripcast.Ride{ride}, make([]tripcast.Prediction, 1), make([]error, 1)); tripcast.ErrorCode(err) != tripcast.EUNAVAILABLE {
			t.Errorf("got %v, want %s", err, tripcast.EUNAVAILABLE)
		}
		if s := p.Snapshot(); s != nil {
			t.Errorf("got snapshot %+v, want nil", s)
		}
	})
	t.Run("OK", func(t *testing.T) {
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		p := serve.New(serve.Options{Now: func() time.Time { return now }})
		if old := p.Swap(newLinear(1)); old != nil {
			t.Errorf("got previous %+v, want nil", old)
		}
		got, err := p.Predict(ctx, ride)
		if err != nil {
			t.Fatal(err)
		}
		want := tripcast.Prediction{RideID: "256", Model: tripcast.DefaultModelName, Version: "1", RideDuration: 2 + 1.5*3.66}
		if got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
		if s := p.Snapshot(); s.LoadedAt != now || s.Model.Version() != "1" {
			t.Errorf("got snapshot %v %v, want version 1 loaded at %v", s.Model.Version(), s.LoadedAt, now)
		}
	})
	t.Run("ErrModelNaN", func(t *testing.T) {
		for _, y := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
			p := serve.New(serve.Options{})
			p.Swap(badModel{y: y})
			got, err := p.Predict(ctx, ride)
			if tripcast.ErrorCode(err) != tripcast.EINTERNAL {
				t.Errorf("model answering %v: got %+v, %v, want an internal error", y, got, err)
			}
		}
	})
	t.Run("ErrModel", func(t *testing.T) {
		cause := errors.New("tree 3: feature index out of range")
		p := serve.New(serve.Options{})
		p.Swap(badModel{err: cause})
		got, err := p.Predict(ctx, ride)
		if !errors.Is(err, cause) || tripcast.ErrorCode(err) != tripcast.EINTERNAL {
			t.Errorf("got %+v, %v, want the model's error, internal", got, err)
		}
	})
	t.Run("OKBatch", func(t *testing.T) {
		p := serve.New(serve.Options{})
		p.Swap(newLinear(2))
		rides := []tripcast.Ride{ride, {ID: "b", PULocationID: 1, DOLocationID: 2, TripDistance: 10}}
		out, errs := make([]tripcast.Prediction, 2), make([]error, 2)
		s, err := p.PredictBatch(ctx, rides, out, errs)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range rides {
			if errs[i] != nil || out[i].RideDuration != want(2, r) || out[i].Version != "2" || out[i].RideID != r.ID {
				t.Errorf("ride %d: got %+v, %v, want %v from version 2", i, out[i], errs[i], want(2, r))
			}
		}
		if s.Model.Version() != "2" {
			t.Errorf("got snapshot version %s, want 2", s.Model.Version())
		}
	})
}

func TestRefresh(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m, err := serve.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	p := serve.New(serve.Options{Metrics: m})
	src := &source{corrupt: map[string]bool{"3": true}}

	t.Run("ErrNoChampion", func(t *testing.T) {
		if swapped, err := p.Refresh(ctx, src); swapped || tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
			t.Errorf("got %v, %v, want not found", swapped, err)
		}
	})
	t.Run("OK", func(t *testing.T) {
		src.set("1")
		if swapped, err := p.Refresh(ctx, src); !swapped || err != nil {
			t.Fatalf("got %v, %v, want a swap", swapped, err)
		}
		if swapped, err := p.Refresh(ctx, src); swapped || err != nil {
			t.Errorf("second refresh: got %v, %v, want no swap", swapped, err)
		}
		if src.loads != 1 {
			t.Errorf("got %d loads, want 1 (the unchanged champion is not reloaded)", src.loads)
		}
		src.set("2")
		if swapped, err := p.Refresh(ctx, src); !swapped || err != nil {
			t.Fatalf("got %v, %v, want a swap", swapped, err)
		}
		if got := p.Snapshot().Model.Version(); got != "2" {
			t.Errorf("got version %s, want 2", got)
		}
	})
	t.Run("ErrCorruptKeepsPrevious", func(t *testing.T) {
		src.set("3")
		swapped, err := p.Refresh(ctx, src)
		if swapped || err == nil || !strings.Contains(err.Error(), "sha256 mismatch") {
			t.Errorf("got %v, %v, want the load error", swapped, err)
		}
		got, err := p.Predict(ctx, ride)
		if err != nil || got.Version != "2" {
			t.Errorf("got %+v, %v, want version 2 still serving", got, err)
		}
	})
	t.Run("OKMetrics", func(t *testing.T) {
		if got := testutil.CollectAndCount(m.Predicted); got != 0 {
			t.Errorf("got %v prediction series, want 0 (adapters count)", got)
		}
		want := `
# HELP tripcast_model_info The model version being served (value 1).
# TYPE tripcast_model_info gauge
tripcast_model_info{name="ride_duration_prediction_model",version="2"} 1
# HELP tripcast_model_load_failures_total Failed attempts to load the champion (the previous model kept serving).
# TYPE tripcast_model_load_failures_total counter
tripcast_model_load_failures_total 1
# HELP tripcast_model_swaps_total Times a model version was installed.
# TYPE tripcast_model_swaps_total counter
tripcast_model_swaps_total 2
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "tripcast_model_info", "tripcast_model_load_failures_total", "tripcast_model_swaps_total"); err != nil {
			t.Error(err)
		}
	})
	t.Run("ErrDuplicateMetrics", func(t *testing.T) {
		if _, err := serve.NewMetrics(reg); err == nil {
			t.Error("got nil, want an already-registered error")
		}
	})
}

func TestFollow(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		var logs testlog.Buffer
		p := serve.New(serve.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		src := &source{corrupt: map[string]bool{"5": true}}
		src.set("4")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- p.Follow(ctx, src, time.Millisecond) }()
		waitVersion(t, p, "4")
		src.set("5") // corrupt: never served, the error logged
		for i := 0; !strings.Contains(logs.String(), "sha256 mismatch"); i++ {
			if i > 10000 {
				t.Fatalf("got logs %q, want the load error", logs.String())
			}
			time.Sleep(time.Millisecond)
		}
		if got := p.Snapshot().Model.Version(); got != "4" {
			t.Errorf("got version %s served, want 4 kept", got)
		}
		src.set("6")
		waitVersion(t, p, "6")
		cancel()
		if err := <-done; err != nil {
			t.Errorf("got %v, want nil after cancel", err)
		}
	})
	t.Run("ErrInterval", func(t *testing.T) {
		p := serve.New(serve.Options{})
		if err := p.Follow(context.Background(), &source{}, 0); tripcast.ErrorCode(err) != tripcast.EINVALID {
			t.Errorf("got %v, want invalid", err)
		}
	})
}

func waitVersion(t *testing.T, p *serve.Predictor, v string) {
	t.Helper()
	for range 10000 {
		if s := p.Snapshot(); s != nil && s.Model.Version() == v {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("version %s never served", v)
}

// TestSwapUnderLoad predicts from many goroutines while another swaps
// versions as fast as it can: no request fails, and every answer is the one
// its version computes (so no answer mixes versions). Run it with -race.
func TestSwapUnderLoad(t *testing.T) {
	ctx := context.Background()
	p := serve.New(serve.Options{})
	p.Swap(newLinear(1))
	const versions = 50
	models := make([]*struct{ m tripcast.Model }, versions+1)
	for v := 1; v <= versions; v++ {
		models[v] = &struct{ m tripcast.Model }{newLinear(v)}
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var answers atomic.Int64
	seen := make([]atomic.Bool, versions+1)
	workers := 2 * runtime.GOMAXPROCS(0)
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := make([]tripcast.Ride, 8)
			out, perr := make([]tripcast.Prediction, 8), make([]error, 8)
			for i := 0; !stop.Load(); i++ {
				r := tripcast.Ride{ID: strconv.Itoa(i), PULocationID: 1, DOLocationID: 2, TripDistance: float64(w*1000+i%997) / 10}
				got, err := p.Predict(ctx, r)
				if err != nil {
					errs <- err
					return
				}
				v, _ := strconv.Atoi(got.Version)
				if got.RideDuration != want(v, r) || got.RideID != r.ID {
					errs <- errors.New("answer " + strconv.FormatFloat(got.RideDuration, 'g', -1, 64) + " does not match version " + got.Version)
					return
				}
				seen[v].Store(true)
				answers.Add(1)
				if i%32 == 0 {
					runtime.Gosched() // let the swapper run: the point is many swaps
				}
				if i%16 == 0 { // a batch: one version for all of it
					for j := range batch {
						batch[j] = r
						batch[j].TripDistance += float64(j)
					}
					s, err := p.PredictBatch(ctx, batch, out, perr)
					if err != nil {
						errs <- err
						return
					}
					bv, _ := strconv.Atoi(s.Model.Version())
					for j := range batch {
						if perr[j] != nil || out[j].Version != s.Model.Version() || out[j].RideDuration != want(bv, batch[j]) {
							errs <- errors.New("batch answer mixes versions: " + out[j].Version + " in a batch of " + s.Model.Version())
							return
						}
					}
				}
			}
		}()
	}
	for v := 2; v <= versions; v++ {
		base := answers.Load()
		p.Swap(models[v].m)
		for answers.Load() < base+20 && len(errs) == 0 {
			runtime.Gosched()
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var n int
	for v := range seen {
		if seen[v].Load() {
			n++
		}
	}
	if n < versions/2 {
		t.Errorf("answers came from %d versions, want at least %d (the swaps happened under load)", n, versions/2)
	}
	t.Logf("%d answers from %d of %d versions", answers.Load(), n, versions)
}

func TestPredictEvents(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	m, err := serve.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p := serve.New(serve.Options{Metrics: m, Now: func() time.Time { return now }})
	events := [][]byte{
		[]byte(`{"ride_id": 256, "ride": {"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}}`),
		[]byte(`{"ride_id": "x", "PULocationID": 130}`),
		[]byte(`{"ride_id": "y", "PULocationID": 1, "DOLocationID": 2, "trip_distance": 10, "pickup_datetime": "2021-01-01 00:15:56"}`),
	}
	out := make([]serve.Outcome, len(events))
	t.Run("ErrUnavailable", func(t *testing.T) {
		if _, err := p.PredictEvents(ctx, events, now, tripcast.SourceNATS, out); tripcast.ErrorCode(err) != tripcast.EUNAVAILABLE {
			t.Errorf("got %v, want unavailable", err)
		}
	})
	p.Swap(newLinear(3))
	t.Run("OK", func(t *testing.T) {
		received := now.Add(-time.Millisecond)
		s, err := p.PredictEvents(ctx, events, received, tripcast.SourceNATS, out)
		if err != nil {
			t.Fatal(err)
		}
		if s.Model.Version() != "3" {
			t.Errorf("got snapshot version %s, want 3", s.Model.Version())
		}
		if out[0].Err != nil || out[0].Prediction.RideDuration != want(3, out[0].Ride) || out[0].Record.RideID != "256" ||
			out[0].Record.Source != "nats" || out[0].Record.Latency != time.Millisecond || out[0].Record.Version != "3" {
			t.Errorf("event 0: got %+v", out[0])
		}
		if tripcast.ErrorField(out[1].Err) != "DOLocationID" {
			t.Errorf("event 1: got %v, want an error on DOLocationID", out[1].Err)
		}
		if out[2].Err != nil || out[2].Record.PickupTime.IsZero() || out[2].Record.Prediction != want(3, out[2].Ride) {
			t.Errorf("event 2: got %+v", out[2])
		}
		want := `
# HELP tripcast_events_received_total Ride events received, by source.
# TYPE tripcast_events_received_total counter
tripcast_events_received_total{source="nats"} 3
# HELP tripcast_prediction_failures_total Ride events that got no prediction, by source and error code.
# TYPE tripcast_prediction_failures_total counter
tripcast_prediction_failures_total{code="invalid",source="nats"} 1
# HELP tripcast_predictions_total Predictions made, by source.
# TYPE tripcast_predictions_total counter
tripcast_predictions_total{source="nats"} 2
`
		if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "tripcast_events_received_total", "tripcast_prediction_failures_total", "tripcast_predictions_total"); err != nil {
			t.Error(err)
		}
	})
}

func BenchmarkPredictEvents(b *testing.B) {
	p := serve.New(serve.Options{})
	p.Swap(newLinear(1))
	events := make([][]byte, 256)
	for i := range events {
		events[i] = []byte(`{"ride_id": ` + strconv.Itoa(i) + `, "ride": {"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}}`)
	}
	out := make([]serve.Outcome, len(events))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.PredictEvents(ctx, events, time.Now(), tripcast.SourceNATS, out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(events))/b.Elapsed().Seconds(), "events/s")
}

// TestModelErrorIsInternal: a model refusing a validated ride is a server
// fault, whatever code the model used.
func TestModelErrorIsInternal(t *testing.T) {
	p := serve.New(serve.Options{})
	cause := tripcast.Errorf(tripcast.EINVALID, "model has no feature spec")
	p.Swap(badModel{err: cause})
	_, err := p.Predict(context.Background(), ride)
	if tripcast.ErrorCode(err) != tripcast.EINTERNAL || !errors.Is(err, cause) || tripcast.ErrorMessage(err) != "internal error" {
		t.Errorf("got %v (code %s), want internal wrapping the model's error", err, tripcast.ErrorCode(err))
	}
}
