// Package sim replays real TLC rides as ride events, the seed's
// event_simulation.py: each trip of a month becomes a ride event in the
// course's nested format, sent at a controlled rate to a target (the HTTP
// API, a stream, or any function), optionally followed, after the ride's
// (scaled) real duration, by a ground-truth "ride_completed" event for
// monitoring.
package sim

import (
	"container/heap"
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"time"

	"tripcast"
)

// Target receives ride events (or ground-truth events).
type Target interface {
	// Send delivers one event. rideID is the event's ride_id, the key for
	// keyed targets (streams). A non-nil error counts the event as failed.
	// event is only valid during the call (the simulator reuses it). With
	// Config.Concurrency above 1, ride events are sent from several
	// goroutines at once.
	Send(ctx context.Context, rideID string, event []byte) error
}

// Func is a Target that calls a function with each event.
type Func func(ctx context.Context, event []byte) error

// Send calls f.
func (f Func) Send(ctx context.Context, _ string, event []byte) error { return f(ctx, event) }

// StreamTarget publishes each event to a stream of a tripcast.Stream, keyed
// by ride_id (so one ride's events stay in order).
type StreamTarget struct {
	Stream tripcast.Stream
	Name   string // stream name, such as tripcast.RideEventsStream
}

// Send publishes event and waits for the engine's acknowledgement.
func (s StreamTarget) Send(ctx context.Context, rideID string, event []byte) error {
	return s.Stream.Publish(ctx, s.Name, rideID, event)
}

// Clock is the time source of a simulation; tests pass a fake one.
type Clock interface {
	Now() time.Time
	// Sleep waits d, or until ctx is done (then it returns ctx.Err()).
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Config configures a simulation.
type Config struct {
	// Trips are the rides to replay, in order, typically a month cleaned
	// with tlc's course rule (Duration is needed for ground truth).
	Trips *tripcast.Trips
	// Rows, when set, holds each trip's row number in its file; ride ids
	// are IDPrefix + row number (else + the trip's position in Trips).
	Rows []int
	// IDPrefix starts every ride_id. "": derived from Month as the
	// course's batch script does ("2021/01_"), or "ride_" without a Month.
	IDPrefix string
	// Month is the trips' month, YYYY-MM (for the default IDPrefix).
	Month string
	// Start is the index in Trips of the first ride sent.
	Start int
	// MaxEvents is how many ride events to send; 0 sends every trip from
	// Start on.
	MaxEvents int
	// Interval is the time between two ride events. Rate, when positive,
	// sets it to 1s/Rate instead. Both zero: as fast as the target takes
	// them. The schedule is absolute (event i is due at start + i·Interval),
	// so a slow send is caught up and the achieved rate stays the asked one
	// as long as the target keeps up on average.
	Interval time.Duration
	// Rate is the ride events per second (see Interval).
	Rate float64
	// Concurrency is how many ride events may be in flight at once (each
	// Send waits for its answer: one at a time, a target that answers in
	// 200 µs takes at most 5,000 events/s). 0 or 1: one at a time, in
	// order; more: events still leave on schedule, in order, and their
	// answers may come back in any order.
	Concurrency int
	// Target receives the ride events. Required.
	Target Target
	// Completed, when set, receives a ground-truth event for each ride
	// sent successfully:
	//  {"type":"ride_completed","ride_id":"...","duration":12.5,"dropoff_datetime":"2021-01-01T00:31:02"}
	// TimeScale times the ride's real duration after its ride event.
	Completed Target
	// TimeScale scales the wait before a ride's ground truth: 1 waits the
	// real duration, 1/60 a second per minute of ride, 0 sends it right
	// after the ride event.
	TimeScale float64
	// Clock is the time source; nil: the real clock.
	Clock Clock
	// Logger receives failures; nil: discard.
	Logger *slog.Logger
}

// Simulator replays rides; create it with New, run it with Run.
type Simulator struct {
	cfg      Config
	prefix   string
	interval time.Duration
	n        int
	clock    Clock
	log      *slog.Logger
}

// New checks cfg and returns a Simulator. Errors are EINVALID naming the
// field.
func New(cfg Config) (*Simulator, error) {
	switch {
	case cfg.Trips == nil || cfg.Trips.Len() == 0:
		return nil, tripcast.FieldError("trips", "no rides to replay")
	case cfg.Target == nil:
		return nil, tripcast.FieldError("target", "is missing")
	case cfg.Rows != nil && len(cfg.Rows) != cfg.Trips.Len():
		return nil, tripcast.FieldError("rows", "has %d row numbers for %d trips", len(cfg.Rows), cfg.Trips.Len())
	case cfg.Start < 0 || cfg.Start >= cfg.Trips.Len():
		return nil, tripcast.FieldError("start", "must be between 0 and %d, got %d", cfg.Trips.Len()-1, cfg.Start)
	case cfg.Concurrency < 0:
		return nil, tripcast.FieldError("concurrency", "must not be negative, got %d", cfg.Concurrency)
	case cfg.MaxEvents < 0:
		return nil, tripcast.FieldError("max_events", "must not be negative, got %d", cfg.MaxEvents)
	case cfg.Interval < 0:
		return nil, tripcast.FieldError("interval", "must not be negative, got %v", cfg.Interval)
	case cfg.Rate < 0 || math.IsNaN(cfg.Rate) || math.IsInf(cfg.Rate, 0):
		return nil, tripcast.FieldError("rate", "must be a positive number of events per second, got %v", cfg.Rate)
	case cfg.TimeScale < 0 || math.IsNaN(cfg.TimeScale) || math.IsInf(cfg.TimeScale, 0):
		return nil, tripcast.FieldError("time_scale", "must be a finite number >= 0, got %v", cfg.TimeScale)
	case cfg.Completed != nil && len(cfg.Trips.Duration) != cfg.Trips.Len():
		return nil, tripcast.FieldError("trips", "ground truth needs the trips' durations (clean them with tlc)")
	}
	s := &Simulator{cfg: cfg, interval: cfg.Interval, clock: cfg.Clock, log: cfg.Logger}
	if cfg.Rate > 0 {
		s.interval = time.Duration(float64(time.Second) / cfg.Rate)
	}
	s.prefix = cfg.IDPrefix
	if s.prefix == "" {
		s.prefix = "ride_"
		if cfg.Month != "" {
			t, err := time.Parse("2006-01", cfg.Month)
			if err != nil || len(cfg.Month) != 7 {
				return nil, tripcast.FieldError("month", "must be YYYY-MM, got %q", cfg.Month)
			}
			s.prefix = fmt.Sprintf("%04d/%02d_", t.Year(), int(t.Month()))
		}
	}
	for _, c := range []byte(s.prefix) {
		// Kept to printable ASCII without quotes or backslashes, so that
		// strconv.AppendQuote writes it as valid JSON.
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return nil, tripcast.FieldError("id_prefix", "must be printable ASCII without quotes or backslashes, got %q", s.prefix)
		}
	}
	s.n = cfg.Trips.Len() - cfg.Start
	if cfg.MaxEvents > 0 && cfg.MaxEvents < s.n {
		s.n = cfg.MaxEvents
	}
	if s.clock == nil {
		s.clock = realClock{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// Summary is what a simulation did.
type Summary struct {
	Sent   int `json:"sent"`   // ride events the target accepted
	Failed int `json:"failed"` // ride events the target refused or that failed
	// Completed and CompletedFailed count ground-truth events sent and
	// failed; CompletedPending those not yet due when the run was canceled.
	Completed        int `json:"completed"`
	CompletedFailed  int `json:"completed_failed"`
	CompletedPending int `json:"completed_pending"`
	// Elapsed runs from the first ride event to the last one sent.
	Elapsed time.Duration `json:"elapsed_ns"`
	// Rate is the achieved ride events per second between the first and the
	// last (0 with fewer than two events).
	Rate float64 `json:"rate"`
	// Latency percentiles of the target's Send for ride events.
	P50 time.Duration `json:"p50_ns"`
	P90 time.Duration `json:"p90_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
	// HTTP holds the status counts when the target is an *HTTPTarget.
	HTTP *HTTPStats `json:"http,omitempty"`
	// Canceled is true when ctx ended the run before every event was sent.
	Canceled bool `json:"canceled"`
}

// completion is a ground-truth event waiting for its time.
type completion struct {
	due  time.Time
	seq  int // send order, to break ties
	id   string
	data []byte
}

type completions []completion

func (c completions) Len() int { return len(c) }
func (c completions) Less(i, j int) bool {
	if !c[i].due.Equal(c[j].due) {
		return c[i].due.Before(c[j].due)
	}
	return c[i].seq < c[j].seq
}
func (c completions) Swap(i, j int) { c[i], c[j] = c[j], c[i] }
func (c *completions) Push(x any)   { *c = append(*c, x.(completion)) }
func (c *completions) Pop() any {
	old := *c
	x := old[len(old)-1]
	*c = old[:len(old)-1]
	return x
}

// Run sends the ride events, on schedule, and the ground-truth events as
// they fall due, then waits for the last ground-truth events. It stops
// early, with Summary.Canceled, when ctx is done; send failures are counted,
// not returned. The error is reserved for a run that could not happen.
func (s *Simulator) Run(ctx context.Context) (Summary, error) {
	var sum Summary
	var pending completions
	lat := make([]time.Duration, 0, min(s.n, 1<<20))
	failLogged := false
	buf := make([]byte, 0, 256)
	start := s.clock.Now()
	var first, last time.Time

	// sendDue sends the ground-truth events due by now.
	sendDue := func(now time.Time) {
		for len(pending) > 0 && !pending[0].due.After(now) {
			c := heap.Pop(&pending).(completion)
			if err := s.cfg.Completed.Send(ctx, c.id, c.data); err != nil {
				sum.CompletedFailed++
				s.log.Debug("ground truth event failed", "ride_id", c.id, "err", err)
				continue
			}
			sum.Completed++
		}
	}
	// waitUntil waits for t, sending ground truth that falls due meanwhile.
	waitUntil := func(t time.Time) error {
		for {
			now := s.clock.Now()
			sendDue(now)
			if !now.Before(t) {
				return nil
			}
			next := t
			if len(pending) > 0 && pending[0].due.Before(next) {
				next = pending[0].due
			}
			if err := s.clock.Sleep(ctx, next.Sub(now)); err != nil {
				return err
			}
		}
	}

	// record accounts for ride event k (trip i) sent from t0 to t1; it
	// reports whether the run is canceled.
	record := func(k, i int, id string, t0, t1 time.Time, err error) bool {
		if first.IsZero() || t0.Before(first) {
			first = t0
		}
		if t0.After(last) {
			last = t0
		}
		lat = append(lat, t1.Sub(t0))
		if err != nil {
			if ctx.Err() != nil {
				sum.Canceled = true
				return true
			}
			sum.Failed++
			if !failLogged {
				s.log.Warn("ride event failed (further failures at debug level)", "ride_id", id, "err", err)
				failLogged = true
			} else {
				s.log.Debug("ride event failed", "ride_id", id, "err", err)
			}
			return false
		}
		sum.Sent++
		if s.cfg.Completed != nil {
			d := time.Duration(s.cfg.Trips.Duration[i] * float64(time.Minute) * s.cfg.TimeScale)
			heap.Push(&pending, completion{due: t1.Add(d), seq: k, id: id, data: CompletedEvent(s.cfg.Trips, i, id)})
		}
		return false
	}

	if s.cfg.Concurrency <= 1 {
		for k := range s.n {
			if err := waitUntil(start.Add(time.Duration(k) * s.interval)); err != nil {
				sum.Canceled = true
				break
			}
			i := s.cfg.Start + k
			id := s.rideID(i)
			buf = appendRideEvent(buf[:0], s.cfg.Trips, i, id)
			t0 := s.clock.Now()
			err := s.cfg.Target.Send(ctx, id, buf)
			if record(k, i, id, t0, s.clock.Now(), err) {
				break
			}
		}
	} else {
		s.sendConcurrently(ctx, waitUntil, start, record)
		if ctx.Err() != nil {
			sum.Canceled = true
		}
	}
	if !sum.Canceled {
		for len(pending) > 0 {
			if err := waitUntil(pending[0].due); err != nil {
				sum.Canceled = true
				break
			}
		}
	}
	sum.CompletedPending = len(pending)
	if n := sum.Sent + sum.Failed; n > 0 {
		sum.Elapsed = last.Sub(first)
		if n > 1 && sum.Elapsed > 0 {
			sum.Rate = float64(n-1) / sum.Elapsed.Seconds()
		}
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		q := func(p float64) time.Duration { return lat[int(math.Ceil(p*float64(len(lat))))-1] }
		sum.P50, sum.P90, sum.P99, sum.Max = q(0.50), q(0.90), q(0.99), lat[len(lat)-1]
	}
	if h, ok := s.cfg.Target.(*HTTPTarget); ok {
		st := h.Stats()
		sum.HTTP = &st
	}
	s.log.Info("simulation done", "sent", sum.Sent, "failed", sum.Failed, "completed", sum.Completed,
		"rate", sum.Rate, "canceled", sum.Canceled)
	return sum, nil
}

// sent is the outcome of one concurrent Send.
type sent struct {
	k, i   int
	id     string
	t0, t1 time.Time
	err    error
	buf    []byte
}

// sendConcurrently sends the ride events on schedule with up to
// Concurrency in flight, and hands each outcome to record on the calling
// goroutine (which also sends the ground truth, in waitUntil), so the
// accounting is not shared. It returns when every event sent has answered.
func (s *Simulator) sendConcurrently(ctx context.Context, waitUntil func(time.Time) error, start time.Time,
	record func(k, i int, id string, t0, t1 time.Time, err error) bool) {
	results := make(chan sent, s.cfg.Concurrency)
	free := make([][]byte, 0, s.cfg.Concurrency)
	for range s.cfg.Concurrency {
		free = append(free, make([]byte, 0, 256))
	}
	inFlight, stopped := 0, false
	take := func(r sent) {
		inFlight--
		free = append(free, r.buf[:0])
		if record(r.k, r.i, r.id, r.t0, r.t1, r.err) {
			stopped = true
		}
	}
	for k := 0; k < s.n && !stopped; k++ {
		if err := waitUntil(start.Add(time.Duration(k) * s.interval)); err != nil {
			break
		}
		for len(free) == 0 { // every slot busy: wait for an answer
			take(<-results)
		}
		for drained := false; !drained; {
			select {
			case r := <-results:
				take(r)
			default:
				drained = true
			}
		}
		if stopped {
			break
		}
		i := s.cfg.Start + k
		id := s.rideID(i)
		buf := appendRideEvent(free[len(free)-1], s.cfg.Trips, i, id)
		free = free[:len(free)-1]
		inFlight++
		go func() {
			t0 := s.clock.Now()
			err := s.cfg.Target.Send(ctx, id, buf)
			results <- sent{k: k, i: i, id: id, t0: t0, t1: s.clock.Now(), err: err, buf: buf}
		}()
	}
	for inFlight > 0 {
		take(<-results)
	}
}

// rideID returns trip i's ride_id.
func (s *Simulator) rideID(i int) string {
	row := i
	if s.cfg.Rows != nil {
		row = s.cfg.Rows[i]
	}
	return s.prefix + strconv.Itoa(row)
}

// timeLayout is the pickup and dropoff time format in events: the New York
// wall clock, without a zone (the TLC files have none).
const timeLayout = "2006-01-02T15:04:05"

// RideEvent returns trip i of t as a ride event in the course's nested
// format, with the given ride_id:
//
//	{"ride_id":"2021/01_0","ride":{"PULocationID":43,"DOLocationID":151,"trip_distance":1.01,"pickup_datetime":"2021-01-01T00:15:56"}}
func RideEvent(t *tripcast.Trips, i int, rideID string) []byte {
	return appendRideEvent(nil, t, i, rideID)
}

func appendRideEvent(dst []byte, t *tripcast.Trips, i int, id string) []byte {
	dst = append(dst, `{"ride_id":`...)
	dst = strconv.AppendQuote(dst, id)
	dst = append(dst, `,"ride":{"PULocationID":`...)
	dst = strconv.AppendInt(dst, int64(t.PULocationID[i]), 10)
	dst = append(dst, `,"DOLocationID":`...)
	dst = strconv.AppendInt(dst, int64(t.DOLocationID[i]), 10)
	dst = append(dst, `,"trip_distance":`...)
	dst = strconv.AppendFloat(dst, t.TripDistance[i], 'f', -1, 64)
	dst = append(dst, `,"pickup_datetime":"`...)
	dst = t.PickupTime(i).AppendFormat(dst, timeLayout)
	return append(dst, `"}}`...)
}

// CompletedEvent returns the ground-truth event of trip i of t:
//
//	{"type":"ride_completed","ride_id":"2021/01_0","duration":12.5,"dropoff_datetime":"2021-01-01T00:28:26"}
//
// duration is in minutes.
func CompletedEvent(t *tripcast.Trips, i int, rideID string) []byte {
	dst := append(make([]byte, 0, 128), `{"type":"ride_completed","ride_id":`...)
	dst = strconv.AppendQuote(dst, rideID)
	dst = append(dst, `,"duration":`...)
	dst = strconv.AppendFloat(dst, t.Duration[i], 'f', -1, 64)
	dst = append(dst, `,"dropoff_datetime":"`...)
	dst = time.UnixMicro(t.Dropoff[i]).UTC().AppendFormat(dst, timeLayout)
	return append(dst, `"}`...)
}
