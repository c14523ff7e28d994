package consume_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"tripcast"
	"tripcast/internal/testenv"
	"tripcast/internal/testfiles"
	"tripcast/model"
	"tripcast/sqlstore"
	"tripcast/sqlstore/sqlstoretest"
	"tripcast/stream"
	"tripcast/tlc"
	"tripcast/train"
)

var (
	trainOnce sync.Once
	trained   *model.Artifact
	trips     *tripcast.Trips
	trainErr  error
)

// realModel returns a small gbdt trained on green 2021-01 (once per test
// binary), as version "1" of the default model, and the month's trips.
func realModel(tb testing.TB) (*model.Artifact, *tripcast.Trips) {
	tb.Helper()
	trainOnce.Do(func() {
		trips, _, trainErr = tlc.LoadFile(testfiles.Green(tb, "2021-01"), tlc.RuleCourse)
		if trainErr != nil {
			return
		}
		var res *train.Result
		res, trainErr = train.Fit(context.Background(), trips, nil, train.Options{
			Params: map[string]string{"num_boost_round": "10", "max_depth": "4"}})
		if trainErr == nil {
			trained = res.Artifact
			trained.SetIdentity(tripcast.DefaultModelName, "1")
		}
	})
	if trainErr != nil {
		tb.Fatalf("train the test model: %v", trainErr)
	}
	return trained, trips
}

// validEvent returns ride i of trips as an event: the course's nested
// format with a numeric ride_id for even i, the seed's flat format with a
// string ride_id and a pickup time for odd i. Its ride id is prefix+i.
func validEvent(t *tripcast.Trips, prefix string, i int) []byte {
	if i%2 == 0 {
		return fmt.Appendf(nil, `{"ride_id": "%s%d", "ride": {"PULocationID": %d, "DOLocationID": %d, "trip_distance": %v}}`,
			prefix, i, t.PULocationID[i], t.DOLocationID[i], t.TripDistance[i])
	}
	return fmt.Appendf(nil, `{"ride_id": "%s%d", "PULocationID": %d, "DOLocationID": %d, "trip_distance": %v, "pickup_datetime": "%s"}`,
		prefix, i, t.PULocationID[i], t.DOLocationID[i], t.TripDistance[i], t.PickupTime(i).Format("2006-01-02 15:04:05"))
}

// invalidEvents are events that never get a prediction, with the field
// their dead letter must name ("" for a JSON syntax error).
var invalidEvents = []struct {
	data  string
	field string
}{
	{`{"ride_id": "bad-1", "ride": {"PULocationID": 130, "DOLocationID": 205}}`, "ride.trip_distance"},
	{`{"ride_id": "bad-2", "PULocationID": 0, "DOLocationID": 205, "trip_distance": 1.2}`, "PULocationID"},
	{`{"ride_id": "bad-3", "PULocationID": 1, "DOLocationID": 2, "trip_distance": -1}`, "trip_distance"},
	{`{"ride_id": "bad-4", "PULocationID": 1, "DOLocationID": 2, "trip_distance": "far"}`, "trip_distance"},
	{`{"ride_id": "bad-5", "PULocationID": 1, "DOLocationID": 2, "trip_distance": 1, "pickup_datetime": "yesterday"}`, "pickup_datetime"},
	{`{"ride_id": "bad-6", "ride": {"PULocationID": 1, "DOLocationID": 266, "trip_distance": 3}}`, "ride.DOLocationID"},
	{`{"ride_id": "bad\u00017", "PULocationID": 1, "DOLocationID": 2, "trip_distance": 1}`, "ride_id"},
	{`not json at all`, ""},
}

// testLogger logs warnings and errors into the test output.
func testLogger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// testCtx is canceled when the test ends, and after a minute at most.
func testCtx(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// suffix returns a random name suffix, so tests on shared servers do not
// see each other's streams.
func suffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// waitFor polls cond until it holds, failing the test after 45 s.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	testenv.WaitFor(tb, 45*time.Second, 20*time.Millisecond, what, cond)
}

// natsTestURL is the external NATS server for tests.
func natsTestURL() string {
	if u := os.Getenv("TRIPCAST_TEST_NATS"); u != "" {
		return u
	}
	return "nats://127.0.0.1:4222"
}

// kinesisTestEndpoint is the Kinesis-compatible server for tests.
func kinesisTestEndpoint() string {
	if u := os.Getenv("TRIPCAST_TEST_KINESIS"); u != "" {
		return u
	}
	return "http://127.0.0.1:4567"
}

// engine opens a stream for a test, on a fresh metadata database db (the
// Kinesis checkpoints live there).
type engine struct {
	name string
	open func(t *testing.T, db *sqlstore.DB) tripcast.Stream
	// dedupOutput: the output stream holds each prediction once, also when
	// a batch comes again: the consumer reads it back (tripcast.Scanner)
	// before publishing a prediction an earlier attempt logged, and NATS
	// also drops a republished message with the same ID.
	dedupOutput bool
	// source is the Config.Source of the pipeline's consumer; empty leaves
	// consume.New's default, from the stream's type (a wrapper hides it).
	source string
	// scanWindow is the Config.ScanWindow of the pipeline's consumer; zero
	// leaves the default.
	scanWindow time.Duration
	// stallAfter is the Config.StallAfter of the pipeline's consumer; zero
	// leaves the default.
	stallAfter time.Duration
}

// deleter is implemented by the engines that can delete a stream.
type deleter interface {
	DeleteStream(ctx context.Context, name string) error
}

var engines = []engine{
	{name: "embedded", dedupOutput: true, open: func(t *testing.T, _ *sqlstore.DB) tripcast.Stream {
		s, err := stream.OpenEmbedded(context.Background(), t.TempDir(), "",
			stream.NATSOptions{Logger: testLogger(t), BatchSize: 64})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{name: "nats", dedupOutput: true, open: func(t *testing.T, _ *sqlstore.DB) tripcast.Stream {
		u, err := url.Parse(natsTestURL())
		if err != nil {
			t.Fatal(err)
		}
		testenv.Require(t, "NATS", u.Host)
		s, err := stream.OpenNATS(context.Background(), natsTestURL(),
			stream.NATSOptions{Logger: testLogger(t), BatchSize: 64})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{name: "kinesis", dedupOutput: true, open: func(t *testing.T, db *sqlstore.DB) tripcast.Stream {
		u, err := url.Parse(kinesisTestEndpoint())
		if err != nil {
			t.Fatal(err)
		}
		testenv.Require(t, "Kinesis (kinesalite)", u.Host)
		raw := "kinesis://?region=us-east-1&shards=2&batch=64&poll=50ms&discover=1s&endpoint=" + url.QueryEscape(kinesisTestEndpoint())
		s, err := stream.OpenKinesis(context.Background(), raw, db, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
}

// names returns per-test stream names, deleted when the test ends.
func names(t *testing.T, s tripcast.Stream) (in, out, dlq string) {
	x := suffix()
	in, out, dlq = "ride_events_"+x, "ride_predictions_"+x, "ride_events_dlq_"+x
	if d, ok := s.(deleter); ok {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, n := range []string{in, out, dlq} {
				_ = d.DeleteStream(ctx, n)
			}
		})
	}
	return in, out, dlq
}

// freshDB returns a new SQLite metadata database.
func freshDB(t testing.TB) *sqlstore.DB {
	return sqlstoretest.MustOpen(t, sqlstoretest.FreshSQLite(t))
}

// collector gathers the messages of a stream, copying their data.
type collector struct {
	mu   sync.Mutex
	msgs []tripcast.Message
}

func (c *collector) handler(_ context.Context, batch []tripcast.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range batch {
		m.Data = append([]byte(nil), m.Data...)
		c.msgs = append(c.msgs, m)
	}
	return nil
}

func (c *collector) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

func (c *collector) all() []tripcast.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]tripcast.Message(nil), c.msgs...)
}

// collect consumes name into a collector until the test ends.
func collect(t *testing.T, s tripcast.Stream, name string) *collector {
	c := &collector{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Consume(ctx, name, "collector", c.handler) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !strings.Contains(err.Error(), "closed") {
			t.Errorf("collect %s: %v", name, err)
		}
	})
	return c
}
