package sim_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tripcast"
	"tripcast/internal/testfiles/tlcdata"
	"tripcast/serve"
	"tripcast/sim"
	"tripcast/stream"
)

// fakeClock advances only when slept on.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if d > 0 {
		c.t = c.t.Add(d)
	}
	return nil
}

// sent is one event a recorder got.
type sent struct {
	at   time.Time
	kind string // "ride" or "completed"
	id   string
	data string
}

// recorder is a sink that keeps every event, in order, with the clock's time.
type recorder struct {
	mu     sync.Mutex
	clock  sim.Clock
	events []sent
	fail   func(n int) error // n: 0-based count of ride events so far
	rides  int
}

func (r *recorder) target(kind string) sim.Target {
	return targetFunc(func(ctx context.Context, id string, data []byte) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if kind == "ride" {
			n := r.rides
			r.rides++
			if r.fail != nil {
				if err := r.fail(n); err != nil {
					return err
				}
			}
		}
		r.events = append(r.events, sent{at: r.clock.Now(), kind: kind, id: id, data: string(data)})
		return nil
	})
}

func (r *recorder) of(kind string) []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []sent
	for _, e := range r.events {
		if e.kind == kind {
			out = append(out, e)
		}
	}
	return out
}

type targetFunc func(ctx context.Context, id string, data []byte) error

func (f targetFunc) Send(ctx context.Context, id string, data []byte) error { return f(ctx, id, data) }

// checkRideEvent decodes a ride event with serving's decoder and compares it
// with trip i.
func checkRideEvent(t *testing.T, data []byte, tr *tripcast.Trips, i int, wantID string) {
	t.Helper()
	r, err := serve.DecodeEvent(data)
	if err != nil {
		t.Fatalf("event %s does not decode: %v", data, err)
	}
	want := tripcast.Ride{ID: wantID, PULocationID: int(tr.PULocationID[i]), DOLocationID: int(tr.DOLocationID[i]),
		TripDistance: tr.TripDistance[i], PickupTime: tr.PickupTime(i)}
	if r != want {
		t.Fatalf("event %s: got ride %+v, want %+v", data, r, want)
	}
}

func TestRun(t *testing.T) {
	ctx := context.Background()
	tr := tlcdata.CourseShared(t, "2021-01")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	t.Run("OKScheduleAndGroundTruth", func(t *testing.T) {
		clock := &fakeClock{t: t0}
		rec := &recorder{clock: clock}
		s, err := sim.New(sim.Config{
			Trips: tr, Month: "2021-01", MaxEvents: 5, Interval: 2 * time.Second,
			Target: rec.target("ride"), Completed: rec.target("completed"), TimeScale: 1.0 / 60, Clock: clock,
		})
		if err != nil {
			t.Fatal(err)
		}
		sum, err := s.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Sent != 5 || sum.Failed != 0 || sum.Completed != 5 || sum.CompletedPending != 0 || sum.Canceled {
			t.Fatalf("got summary %+v, want 5 sent, 5 completed", sum)
		}
		if sum.Rate != 0.5 || sum.Elapsed != 8*time.Second {
			t.Errorf("got rate %v over %v, want 0.5/s over 8s", sum.Rate, sum.Elapsed)
		}
		rides := rec.of("ride")
		for k, e := range rides {
			if want := t0.Add(time.Duration(k) * 2 * time.Second); !e.at.Equal(want) {
				t.Errorf("ride %d: sent at %v, want %v", k, e.at.Sub(t0), want.Sub(t0))
			}
			id := fmt.Sprintf("2021/01_%d", k)
			if e.id != id {
				t.Errorf("ride %d: got key %q, want %q", k, e.id, id)
			}
			checkRideEvent(t, []byte(e.data), tr, k, id)
		}
		// The first event, byte for byte (green 2021-01's first course row).
		if want := `{"ride_id":"2021/01_0","ride":{"PULocationID":43,"DOLocationID":151,"trip_distance":1.01,"pickup_datetime":"2021-01-01T00:15:56"}}`; rides[0].data != want {
			t.Errorf("got first event %s, want %s", rides[0].data, want)
		}
		// Each ride's ground truth comes its duration (a minute a second)
		// after the ride event, and the events interleave in time order.
		done := rec.of("completed")
		if len(done) != 5 {
			t.Fatalf("got %d ground truth events, want 5", len(done))
		}
		for _, e := range done {
			var c struct {
				Type     string  `json:"type"`
				RideID   string  `json:"ride_id"`
				Duration float64 `json:"duration"`
				Dropoff  string  `json:"dropoff_datetime"`
			}
			if err := json.Unmarshal([]byte(e.data), &c); err != nil {
				t.Fatalf("ground truth %s: %v", e.data, err)
			}
			var k int
			fmt.Sscanf(c.RideID, "2021/01_%d", &k)
			wantAt := rides[k].at.Add(time.Duration(tr.Duration[k] * float64(time.Minute) / 60))
			if c.Type != "ride_completed" || c.Duration != tr.Duration[k] || e.id != c.RideID ||
				c.Dropoff != time.UnixMicro(tr.Dropoff[k]).UTC().Format("2006-01-02T15:04:05") {
				t.Errorf("got ground truth %s (key %s), want ride %d's: %v minutes", e.data, e.id, k, tr.Duration[k])
			}
			if !e.at.Equal(wantAt) {
				t.Errorf("ground truth of ride %d sent at %v, want %v", k, e.at.Sub(t0), wantAt.Sub(t0))
			}
		}
		if !slices.IsSortedFunc(rec.events, func(a, b sent) int { return a.at.Compare(b.at) }) {
			t.Errorf("events not in time order: %v", rec.events)
		}
	})

	t.Run("OKRate", func(t *testing.T) {
		clock := &fakeClock{t: t0}
		rec := &recorder{clock: clock}
		s, err := sim.New(sim.Config{Trips: tr, Start: 100, MaxEvents: 9, Rate: 4, Target: rec.target("ride"), Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		sum, err := s.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		rides := rec.of("ride")
		if sum.Sent != 9 || len(rides) != 9 || sum.Rate != 4 {
			t.Fatalf("got summary %+v and %d events, want 9 sent at 4/s", sum, len(rides))
		}
		for k, e := range rides {
			if want := t0.Add(time.Duration(k) * 250 * time.Millisecond); !e.at.Equal(want) {
				t.Errorf("ride %d: sent at %v, want %v", k, e.at.Sub(t0), want.Sub(t0))
			}
			checkRideEvent(t, []byte(e.data), tr, 100+k, fmt.Sprintf("ride_%d", 100+k))
		}
	})

	t.Run("OKRealClock", func(t *testing.T) {
		var mu sync.Mutex
		var got []string
		s, err := sim.New(sim.Config{Trips: tr, MaxEvents: 20, Interval: time.Millisecond, IDPrefix: "run7-",
			Target: sim.Func(func(_ context.Context, ev []byte) error {
				r, err := serve.DecodeEvent(ev)
				if err != nil {
					return err
				}
				mu.Lock()
				got = append(got, r.ID)
				mu.Unlock()
				return nil
			})})
		if err != nil {
			t.Fatal(err)
		}
		sum, err := s.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Sent != 20 || len(got) != 20 || !(sum.Rate > 0) {
			t.Fatalf("got summary %+v and %d events, want 20 sent", sum, len(got))
		}
		for k, id := range got {
			if want := fmt.Sprintf("run7-%d", k); id != want {
				t.Fatalf("event %d: got ride_id %q, want %q", k, id, want)
			}
		}
	})

	t.Run("OKFailuresCounted", func(t *testing.T) {
		clock := &fakeClock{t: t0}
		rec := &recorder{clock: clock, fail: func(n int) error {
			if n%3 == 2 {
				return tripcast.Errorf(tripcast.EUNAVAILABLE, "down")
			}
			return nil
		}}
		s, err := sim.New(sim.Config{Trips: tr, MaxEvents: 10, Target: rec.target("ride"),
			Completed: rec.target("completed"), Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		sum, err := s.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Rides 2, 5, 8 fail and get no ground truth.
		if sum.Sent != 7 || sum.Failed != 3 || sum.Completed != 7 {
			t.Fatalf("got summary %+v, want 7 sent, 3 failed, 7 completed", sum)
		}
		for _, e := range rec.of("completed") {
			if e.id == "ride_2" || e.id == "ride_5" || e.id == "ride_8" {
				t.Errorf("got ground truth for failed ride %s", e.id)
			}
		}
	})

	t.Run("OKCanceled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		clock := &fakeClock{t: t0}
		rec := &recorder{clock: clock, fail: func(n int) error {
			if n == 2 {
				cancel() // the third ride is sent, then the run stops
			}
			return nil
		}}
		s, err := sim.New(sim.Config{Trips: tr, MaxEvents: 100, Interval: time.Second, Target: rec.target("ride"),
			Completed: rec.target("completed"), TimeScale: 1, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		sum, err := s.Run(cctx)
		if err != nil {
			t.Fatal(err)
		}
		if !sum.Canceled || sum.Sent != 3 || sum.Completed != 0 || sum.CompletedPending != 3 {
			t.Fatalf("got summary %+v, want canceled after 3 sent with 3 ground truths pending", sum)
		}
	})
}

func TestNew(t *testing.T) {
	tr := tlcdata.CourseShared(t, "2021-01")
	target := sim.Func(func(context.Context, []byte) error { return nil })
	noDur := *tr
	noDur.Duration = nil
	for _, tc := range []struct {
		name, field string
		cfg         sim.Config
	}{
		{"ErrNoTrips", "trips", sim.Config{Target: target}},
		{"ErrNoTarget", "target", sim.Config{Trips: tr}},
		{"ErrStart", "start", sim.Config{Trips: tr, Target: target, Start: tr.Len()}},
		{"ErrRows", "rows", sim.Config{Trips: tr, Target: target, Rows: []int{1}}},
		{"ErrMaxEvents", "max_events", sim.Config{Trips: tr, Target: target, MaxEvents: -1}},
		{"ErrInterval", "interval", sim.Config{Trips: tr, Target: target, Interval: -time.Second}},
		{"ErrRate", "rate", sim.Config{Trips: tr, Target: target, Rate: -1}},
		{"ErrTimeScale", "time_scale", sim.Config{Trips: tr, Target: target, TimeScale: -1}},
		{"ErrMonth", "month", sim.Config{Trips: tr, Target: target, Month: "2021-1"}},
		{"ErrIDPrefix", "id_prefix", sim.Config{Trips: tr, Target: target, IDPrefix: `a"b`}},
		{"ErrNoDurations", "trips", sim.Config{Trips: &noDur, Target: target, Completed: target}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sim.New(tc.cfg)
			if f := tripcast.ErrorField(err); f != tc.field {
				t.Fatalf("got error %v on field %q, want field %q", err, f, tc.field)
			}
		})
	}
}

// predictHandler is a small real prediction endpoint: it decodes each event
// with serving's decoder, answers 400 for an invalid one, and otherwise the
// course's answer (with a fake constant model), except that it answers 503
// to every 7th request and 500 to every 11th.
type predictHandler struct {
	mu  sync.Mutex
	n   int
	ids []string
}

func (h *predictHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/predict" {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	body, _ := io.ReadAll(r.Body)
	ride, err := serve.DecodeEvent(body)
	h.mu.Lock()
	h.n++
	n := h.n
	if err == nil {
		h.ids = append(h.ids, ride.ID)
	}
	h.mu.Unlock()
	switch {
	case err != nil:
		http.Error(w, `{"error":"`+tripcast.ErrorMessage(err)+`"}`, http.StatusBadRequest)
	case n%7 == 0:
		http.Error(w, `{"error":"no model loaded"}`, http.StatusServiceUnavailable)
	case n%11 == 0:
		http.Error(w, `{"error":"internal error"}`, http.StatusInternalServerError)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.Write(serve.MarshalPrediction(tripcast.Prediction{RideID: ride.ID, Model: tripcast.DefaultModelName, Version: "1", RideDuration: 12}))
	}
}

// startPredictServer serves h on a test server (closed when the test ends)
// and returns it with an HTTP target aimed at it.
func startPredictServer(t *testing.T, h *predictHandler) (*httptest.Server, *sim.HTTPTarget) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	target, err := sim.NewHTTP(srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return srv, target
}

func TestHTTP(t *testing.T) {
	ctx := context.Background()
	tr := tlcdata.CourseShared(t, "2021-01")

	t.Run("OK", func(t *testing.T) {
		h := &predictHandler{}
		srv, target := startPredictServer(t, h)
		if target.URL() != srv.URL+"/v1/predict" {
			t.Errorf("got URL %s, want %s/v1/predict", target.URL(), srv.URL)
		}
		s, err := sim.New(sim.Config{Trips: tr, Month: "2021-01", MaxEvents: 40, Target: target})
		if err != nil {
			t.Fatal(err)
		}
		sum, err := s.Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Of 40 requests: 7, 14, 21, 28, 35 answer 503; 11, 22, 33 answer 500.
		want := sim.HTTPStats{Requests: 40, Status2xx: 32, Status5xx: 8}
		if sum.HTTP == nil || *sum.HTTP != want {
			t.Fatalf("got HTTP stats %+v, want %+v", sum.HTTP, want)
		}
		if sum.Sent != 32 || sum.Failed != 8 || sum.P50 <= 0 || sum.Max < sum.P99 {
			t.Errorf("got summary %+v, want 32 sent, 8 failed, latencies recorded", sum)
		}
		if len(h.ids) != 40 || h.ids[0] != "2021/01_0" || h.ids[39] != "2021/01_39" {
			t.Errorf("server got ids %v, want 2021/01_0 … 2021/01_39", h.ids)
		}
	})

	t.Run("OKCoursePath", func(t *testing.T) {
		target, err := sim.NewHTTP("http://localhost:9696/predict", nil)
		if err != nil {
			t.Fatal(err)
		}
		if target.URL() != "http://localhost:9696/predict" {
			t.Errorf("got URL %s, want the course's path kept", target.URL())
		}
	})

	t.Run("ErrRefused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close() // nothing listens any more
		target, err := sim.NewHTTP(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = target.Send(ctx, "1", sim.RideEvent(tr, 0, "1"))
		if code := tripcast.ErrorCode(err); code != tripcast.EUNAVAILABLE {
			t.Fatalf("got error %v (%s), want EUNAVAILABLE", err, code)
		}
		if st := target.Stats(); st.Errors != 1 || st.Requests != 1 {
			t.Errorf("got stats %+v, want 1 request, 1 error", st)
		}
	})

	t.Run("Err400", func(t *testing.T) {
		_, target := startPredictServer(t, &predictHandler{})
		err := target.Send(ctx, "x", []byte(`{"ride_id":"x","ride":{"PULocationID":999,"DOLocationID":1,"trip_distance":1}}`))
		if code := tripcast.ErrorCode(err); code != tripcast.EINVALID {
			t.Fatalf("got error %v (%s), want EINVALID", err, code)
		}
		if st := target.Stats(); st.Status4xx != 1 {
			t.Errorf("got stats %+v, want one 4xx", st)
		}
	})

	t.Run("ErrURL", func(t *testing.T) {
		for _, u := range []string{"nats://127.0.0.1:4222", "localhost:8080", "http://"} {
			if _, err := sim.NewHTTP(u, nil); tripcast.ErrorField(err) != "target" {
				t.Errorf("NewHTTP(%q): got error %v, want a target field error", u, err)
			}
		}
	})
}

// TestStream replays rides into a real embedded NATS JetStream and reads
// them back.
func TestStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr := tlcdata.CourseShared(t, "2021-01")
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := stream.OpenEmbedded(ctx, t.TempDir(), "", stream.NATSOptions{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, name := range []string{tripcast.RideEventsStream, tripcast.RideCompletedStream} {
		if err := st.EnsureStream(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	const n = 50
	s, err := sim.New(sim.Config{
		Trips: tr, Month: "2021-01", MaxEvents: n, Rate: 10000,
		Target:    sim.StreamTarget{Stream: st, Name: tripcast.RideEventsStream},
		Completed: sim.StreamTarget{Stream: st, Name: tripcast.RideCompletedStream},
		TimeScale: 0, Logger: logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := s.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != n || sum.Completed != n || sum.Failed != 0 {
		t.Fatalf("got summary %+v, want %d sent and completed", sum, n)
	}

	rides := readStream(t, ctx, st, tripcast.RideEventsStream, n)
	for k, m := range rides {
		id := fmt.Sprintf("2021/01_%d", k)
		if m.Key != id {
			t.Fatalf("message %d: got key %q, want %q", k, m.Key, id)
		}
		checkRideEvent(t, m.Data, tr, k, id)
	}
	done := readStream(t, ctx, st, tripcast.RideCompletedStream, n)
	for k, m := range done {
		id := fmt.Sprintf("2021/01_%d", k)
		if want := string(sim.CompletedEvent(tr, k, id)); m.Key != id || string(m.Data) != want {
			t.Fatalf("ground truth %d: got %s (key %s), want %s", k, m.Data, m.Key, want)
		}
	}
}

// readStream consumes want messages from name and returns them in order.
func readStream(t *testing.T, ctx context.Context, st tripcast.Stream, name string, want int) []tripcast.Message {
	t.Helper()
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var got []tripcast.Message
	errc := make(chan error, 1)
	go func() {
		errc <- st.Consume(cctx, name, "simtest", func(_ context.Context, batch []tripcast.Message) error {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range batch {
				got = append(got, tripcast.Message{Key: m.Key, Data: slices.Clone(m.Data)})
			}
			if len(got) >= want {
				cancel()
			}
			return nil
		})
	}()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("consume %s: %v", name, err)
		}
	case <-ctx.Done():
		t.Fatalf("consume %s: timed out", name)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != want {
		t.Fatalf("got %d messages on %s, want %d", len(got), name, want)
	}
	return got
}

// BenchmarkRun is the generator's own cost: ride events built and handed
// to a sink that drops them, as fast as possible, with ground truth.
func BenchmarkRun(b *testing.B) {
	tr := tlcdata.CourseShared(b, "2021-01")
	drop := sim.Func(func(context.Context, []byte) error { return nil })
	b.ReportAllocs()
	events := 0
	for b.Loop() {
		s, err := sim.New(sim.Config{Trips: tr, Month: "2021-01", MaxEvents: 10000, Target: drop, Completed: drop})
		if err != nil {
			b.Fatal(err)
		}
		sum, err := s.Run(context.Background())
		if err != nil || sum.Sent != 10000 {
			b.Fatalf("got %+v, %v", sum, err)
		}
		events += sum.Sent
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkStreamTarget replays rides into embedded NATS JetStream, one
// acknowledged publish per event (what tripcast simulate --target embedded
// does), as fast as the stream takes them.
func BenchmarkStreamTarget(b *testing.B) {
	ctx := context.Background()
	tr := tlcdata.CourseShared(b, "2021-01")
	st, err := stream.OpenEmbedded(ctx, b.TempDir(), "", stream.NATSOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.EnsureStream(ctx, tripcast.RideEventsStream); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	events := 0
	for b.Loop() {
		s, err := sim.New(sim.Config{Trips: tr, Month: "2021-01", MaxEvents: 2000,
			Target: sim.StreamTarget{Stream: st, Name: tripcast.RideEventsStream}})
		if err != nil {
			b.Fatal(err)
		}
		sum, err := s.Run(ctx)
		if err != nil || sum.Sent != 2000 {
			b.Fatalf("got %+v, %v", sum, err)
		}
		events += sum.Sent
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

// TestRunConcurrent: with Concurrency, several ride events are in flight
// at once but never more than asked, every event is sent once, failures
// are counted, and ground truth follows each sent ride.
func TestRunConcurrent(t *testing.T) {
	tr := tlcdata.CourseShared(t, "2021-01")
	const n, conc = 300, 4
	var (
		mu          sync.Mutex
		seen        = map[string]int{}
		inFlight    atomic.Int32
		maxInFlight atomic.Int32
	)
	target := sim.Func(func(ctx context.Context, event []byte) error {
		cur := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxInFlight.Load()
			if cur <= m || maxInFlight.CompareAndSwap(m, cur) {
				break
			}
		}
		var ev struct {
			RideID string `json:"ride_id"`
		}
		if err := json.Unmarshal(event, &ev); err != nil {
			return err
		}
		time.Sleep(time.Millisecond) // a target that takes its time
		mu.Lock()
		seen[ev.RideID]++
		mu.Unlock()
		var k int
		fmt.Sscanf(ev.RideID, "2021/01_%d", &k)
		if k%7 == 0 {
			return errors.New("refused")
		}
		return nil
	})
	var gt atomic.Int32
	s, err := sim.New(sim.Config{Trips: tr, Month: "2021-01", MaxEvents: n, Concurrency: conc, Target: target,
		Completed: sim.Func(func(context.Context, []byte) error { gt.Add(1); return nil })})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := s.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	refused := (n + 6) / 7 // ride numbers 0, 7, 14, ...
	if sum.Sent != n-refused || sum.Failed != refused || sum.Completed != n-refused || int(gt.Load()) != n-refused {
		t.Errorf("got summary %+v (ground truth %d), want %d sent and completed, %d failed", sum, gt.Load(), n-refused, refused)
	}
	if len(seen) != n {
		t.Errorf("got %d distinct rides, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("ride %s sent %d times, want once", id, c)
		}
	}
	if m := maxInFlight.Load(); m > conc || m < 2 {
		t.Errorf("at most %d events in flight at once, want between 2 and %d", m, conc)
	}
	if _, err := sim.New(sim.Config{Trips: tr, Target: target, Concurrency: -1}); tripcast.ErrorField(err) != "concurrency" {
		t.Errorf("Concurrency -1: got %v, want a concurrency field error", err)
	}
}
