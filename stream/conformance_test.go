package stream_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tripcast"
	"tripcast/internal/testenv"
	"tripcast/stream"
)

// The conformance suite: every engine runs the same cases through
// tripcast.Stream. The engines are set up in TestNATSEmbedded,
// TestNATSExternal and TestKinesis below.

// harness holds one engine for one test: the current Stream and a way to
// "restart the process" on the same durable state.
type harness struct {
	t    *testing.T
	s    tripcast.Stream
	open func() (tripcast.Stream, error)
}

// mustOpenHarness opens the engine and closes it at the end of the test.
func mustOpenHarness(t *testing.T, open func() (tripcast.Stream, error)) *harness {
	t.Helper()
	s, err := open()
	if err != nil {
		t.Fatalf("open stream: %v", err)
	}
	h := &harness{t: t, s: s, open: open}
	t.Cleanup(func() {
		if err := h.s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return h
}

// restart closes the Stream and opens a new one on the same state, as a
// restarted process would (for embedded NATS: the server restarts from its
// directory).
func (h *harness) restart() {
	h.t.Helper()
	if err := h.s.Close(); err != nil {
		h.t.Fatalf("close before restart: %v", err)
	}
	s, err := h.open()
	if err != nil {
		h.t.Fatalf("reopen stream: %v", err)
	}
	h.s = s
}

// deleter is implemented by every engine of this package.
type deleter interface {
	DeleteStream(ctx context.Context, name string) error
}

// newStream creates a stream with a unique name (engines may be shared with
// other tests and other runs) and deletes it at the end of the test.
func (h *harness) newStream(base string) string {
	h.t.Helper()
	name := "tc_" + base + "_" + randHex(4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.s.EnsureStream(ctx, name); err != nil {
		h.t.Fatalf("EnsureStream(%s): %v", name, err)
	}
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.s.(deleter).DeleteStream(ctx, name); err != nil {
			h.t.Errorf("DeleteStream(%s): %v", name, err)
		}
	})
	return name
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// consumer runs Consume in the background until stop.
type consumer struct {
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// startConsume starts s.Consume; the test's cleanup stops it.
func startConsume(t *testing.T, s tripcast.Stream, name, group string, h func(context.Context, []tripcast.Message) error) *consumer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &consumer{cancel: cancel, done: make(chan error, 1)}
	go func() { c.done <- s.Consume(ctx, name, group, h) }()
	t.Cleanup(func() { c.stop(t) })
	return c
}

// stop cancels the consumer and waits for Consume to return; it fails the
// test when Consume returned an error.
func (c *consumer) stop(t *testing.T) {
	t.Helper()
	c.once.Do(func() {
		c.cancel()
		select {
		case c.err = <-c.done:
		case <-time.After(30 * time.Second):
			c.err = errors.New("Consume did not return within 30 s of cancel")
		}
		if c.err != nil {
			t.Errorf("Consume: got %v, want nil after cancel", c.err)
		}
	})
}

// collector records what a handler saw.
type collector struct {
	mu   sync.Mutex
	msgs []tripcast.Message
	seen map[string]int // data -> times handled successfully
}

func newCollector() *collector { return &collector{seen: map[string]int{}} }

// add records a successfully handled batch (copying the messages).
func (c *collector) add(batch []tripcast.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range batch {
		m.Data = append([]byte(nil), m.Data...)
		c.msgs = append(c.msgs, m)
		c.seen[string(m.Data)]++
	}
}

// handler records every batch and succeeds.
func (c *collector) handler(_ context.Context, batch []tripcast.Message) error {
	c.add(batch)
	return nil
}

func (c *collector) distinct() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

func (c *collector) snapshot() []tripcast.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]tripcast.Message(nil), c.msgs...)
}

// waitFor polls cond until it holds, failing the test after 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, 30*time.Second, 10*time.Millisecond, what, cond)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rideEvent is a payload in the course's ride event format.
func rideEvent(i int) []byte {
	return fmt.Appendf(nil, `{"ride_id": "%d", "ride": {"PULocationID": %d, "DOLocationID": %d, "trip_distance": %.2f}}`,
		i, 1+i%265, 1+(i*7)%265, float64(i%2000)/100)
}

// runConformance runs every case against the engine opened by open.
func runConformance(t *testing.T, open func(t *testing.T) *harness) {
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, open(t)) })
	t.Run("PublishBatch", func(t *testing.T) { testPublishBatch(t, open(t)) })
	t.Run("AtLeastOnce", func(t *testing.T) { testAtLeastOnce(t, open(t)) })
	t.Run("Resume", func(t *testing.T) { testResume(t, open(t)) })
	t.Run("Isolation", func(t *testing.T) { testIsolation(t, open(t)) })
	t.Run("OrderPerKey", func(t *testing.T) { testOrderPerKey(t, open(t)) })
	t.Run("Errors", func(t *testing.T) { testErrors(t, open(t)) })
}

func testRoundTrip(t *testing.T, h *harness) {
	ctx := testCtx(t)
	name := h.newStream("rt")
	const n = 10
	before := time.Now()
	for i := range n {
		if err := h.s.Publish(ctx, name, "k"+strconv.Itoa(i%3), rideEvent(i)); err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
	}
	c := newCollector()
	startConsume(t, h.s, name, "rt", c.handler)
	waitFor(t, "10 messages", func() bool { return c.distinct() == n })

	byData := map[string]tripcast.Message{}
	ids := map[string]bool{}
	for _, m := range c.snapshot() {
		byData[string(m.Data)] = m
		if m.ID == "" || ids[m.ID] {
			t.Errorf("message %s: got ID %q, want a distinct non-empty ID", m.Data, m.ID)
		}
		ids[m.ID] = true
	}
	for i := range n {
		m, ok := byData[string(rideEvent(i))]
		if !ok {
			t.Fatalf("event %d: not consumed", i)
		}
		if want := "k" + strconv.Itoa(i%3); m.Key != want {
			t.Errorf("event %d: got key %q, want %q", i, m.Key, want)
		}
		if m.Stream != name {
			t.Errorf("event %d: got stream %q, want %q", i, m.Stream, name)
		}
		if m.Delivered != 1 {
			t.Errorf("event %d: got Delivered %d, want 1", i, m.Delivered)
		}
		// Stored is the engine's clock (the same machine here); Kinesis
		// keeps milliseconds.
		if m.Stored.Before(before.Add(-time.Second)) || m.Stored.After(time.Now().Add(time.Second)) {
			t.Errorf("event %d: got Stored %v, want between %v and now", i, m.Stored, before)
		}
	}
}

func testPublishBatch(t *testing.T, h *harness) {
	ctx := testCtx(t)
	name := h.newStream("batch")
	const n = 5000
	msgs := make([]tripcast.Message, n)
	for i := range msgs {
		msgs[i] = tripcast.Message{Key: strconv.Itoa(i), Data: rideEvent(i)}
	}
	if err := h.s.PublishBatch(ctx, name, msgs); err != nil {
		t.Fatalf("PublishBatch: %v", err)
	}
	c := newCollector()
	startConsume(t, h.s, name, "batch", c.handler)
	waitFor(t, "5000 distinct messages", func() bool { return c.distinct() == n })
	if got := len(c.snapshot()); got != n {
		t.Errorf("got %d deliveries, want %d (no duplicates without failures)", got, n)
	}
}

func testAtLeastOnce(t *testing.T, h *harness) {
	ctx := testCtx(t)
	name := h.newStream("alo")
	const n = 40
	for i := range n {
		if err := h.s.Publish(ctx, name, "k", rideEvent(i)); err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
	}
	var (
		mu     sync.Mutex
		calls  int
		failed = map[string]bool{}
	)
	c := newCollector()
	cons := startConsume(t, h.s, name, "alo", func(ctx context.Context, batch []tripcast.Message) error {
		mu.Lock()
		calls++
		first := calls == 1
		if first {
			for _, m := range batch {
				failed[string(m.Data)] = true
			}
		}
		mu.Unlock()
		if first {
			return errors.New("first batch fails")
		}
		return c.handler(ctx, batch)
	})
	waitFor(t, "40 messages handled", func() bool { return c.distinct() == n })
	cons.stop(t)

	if len(failed) == 0 {
		t.Fatal("got no failed batch, want one")
	}
	for _, m := range c.snapshot() {
		want := 1
		if failed[string(m.Data)] {
			want = 2
		}
		if m.Delivered != want {
			t.Errorf("%s: got Delivered %d, want %d", m.Data, m.Delivered, want)
		}
	}
	for d, times := range c.seen {
		if times != 1 {
			t.Errorf("%s: handled successfully %d times, want 1", d, times)
		}
	}

	// Everything was acknowledged: a restarted consumer sees only new messages.
	if err := h.s.Publish(ctx, name, "k", []byte("marker")); err != nil {
		t.Fatalf("Publish marker: %v", err)
	}
	c2 := newCollector()
	startConsume(t, h.s, name, "alo", c2.handler)
	waitFor(t, "the marker", func() bool { return c2.distinct() >= 1 })
	time.Sleep(200 * time.Millisecond) // let a wrong redelivery show up
	if got := c2.snapshot(); len(got) != 1 || string(got[0].Data) != "marker" {
		t.Errorf("after restart: got %d messages (first %q), want only the marker", len(got), got[0].Data)
	}
}

func testResume(t *testing.T, h *harness) {
	ctx := testCtx(t)
	name := h.newStream("resume")
	// Many more than the first run handles: a NATS consumer stopping
	// finishes the messages already in the process (up to 2×BatchSize).
	const n = 400
	msgs := make([]tripcast.Message, n)
	for i := range msgs {
		msgs[i] = tripcast.Message{Key: "k" + strconv.Itoa(i%4), Data: rideEvent(i)}
	}
	if err := h.s.PublishBatch(ctx, name, msgs); err != nil {
		t.Fatalf("PublishBatch: %v", err)
	}

	// First run: stop (cancel) once 30 messages are handled.
	first := newCollector()
	var c1 *consumer
	stopped := make(chan struct{})
	var once sync.Once
	c1 = startConsume(t, h.s, name, "resume", func(ctx context.Context, batch []tripcast.Message) error {
		first.add(batch)
		if first.distinct() >= 30 {
			once.Do(func() { close(stopped) })
		}
		return nil
	})
	<-stopped
	c1.stop(t)
	if got := first.distinct(); got >= n {
		t.Fatalf("first run handled %d messages, want fewer than %d (use a small batch size)", got, n)
	}

	// Restart the process and consume the rest.
	h.restart()
	second := newCollector()
	startConsume(t, h.s, name, "resume", second.handler)
	waitFor(t, "all messages across both runs", func() bool { return first.distinct()+second.distinct() >= n })
	time.Sleep(200 * time.Millisecond) // let a wrong redelivery show up

	all := map[string]bool{}
	for d := range first.seen {
		all[d] = true
		if second.seen[d] > 0 {
			t.Errorf("%s: handled before and after the restart, want once (it was acknowledged)", d)
		}
	}
	for d := range second.seen {
		all[d] = true
	}
	if len(all) != n {
		t.Errorf("got %d distinct messages, want %d", len(all), n)
	}
}

func testIsolation(t *testing.T, h *harness) {
	ctx := testCtx(t)
	a, b := h.newStream("isoa"), h.newStream("isob")
	for i := range 5 {
		if err := h.s.Publish(ctx, a, "k", []byte("a"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		if err := h.s.Publish(ctx, b, "k", []byte("b"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	ca, cb := newCollector(), newCollector()
	startConsume(t, h.s, a, "same", ca.handler) // same consumer name on both
	startConsume(t, h.s, b, "same", cb.handler)
	waitFor(t, "5 messages on each stream", func() bool { return ca.distinct() == 5 && cb.distinct() == 5 })
	time.Sleep(200 * time.Millisecond)
	for _, m := range ca.snapshot() {
		if !strings.HasPrefix(string(m.Data), "a") || m.Stream != a {
			t.Errorf("stream a: got %q from %q, want only a's messages", m.Data, m.Stream)
		}
	}
	for _, m := range cb.snapshot() {
		if !strings.HasPrefix(string(m.Data), "b") || m.Stream != b {
			t.Errorf("stream b: got %q from %q, want only b's messages", m.Data, m.Stream)
		}
	}
}

func testOrderPerKey(t *testing.T, h *harness) {
	ctx := testCtx(t)
	name := h.newStream("order")
	const keys, per = 5, 60
	var msgs []tripcast.Message
	for i := range per {
		for k := range keys {
			msgs = append(msgs, tripcast.Message{Key: "key" + strconv.Itoa(k), Data: fmt.Appendf(nil, "%d:%d", k, i)})
		}
	}
	// Two batches, so the second is published after the first is stored.
	if err := h.s.PublishBatch(ctx, name, msgs[:len(msgs)/2]); err != nil {
		t.Fatalf("PublishBatch: %v", err)
	}
	if err := h.s.PublishBatch(ctx, name, msgs[len(msgs)/2:]); err != nil {
		t.Fatalf("PublishBatch: %v", err)
	}
	var (
		mu    sync.Mutex
		calls int
		order = map[string][]int{} // key -> indexes in handled order
		total int
	)
	startConsume(t, h.s, name, "order", func(ctx context.Context, batch []tripcast.Message) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 3 { // a failed batch must come again before later messages
			return errors.New("third batch fails")
		}
		for _, m := range batch {
			var k, i int
			if _, err := fmt.Sscanf(string(m.Data), "%d:%d", &k, &i); err != nil {
				t.Errorf("bad payload %q", m.Data)
				continue
			}
			if m.Key != "key"+strconv.Itoa(k) {
				t.Errorf("payload %q: got key %q, want key%d", m.Data, m.Key, k)
			}
			order[m.Key] = append(order[m.Key], i)
			total++
		}
		return nil
	})
	waitFor(t, "300 messages", func() bool { mu.Lock(); defer mu.Unlock(); return total >= keys*per })
	mu.Lock()
	defer mu.Unlock()
	for k, got := range order {
		if len(got) != per {
			t.Errorf("%s: got %d messages, want %d", k, len(got), per)
		}
		for j, i := range got {
			if i != j {
				t.Errorf("%s: position %d holds message %d, want %d (order %v)", k, j, i, j, got)
				break
			}
		}
	}
}

func testErrors(t *testing.T, h *harness) {
	ctx := testCtx(t)
	missing := "tc_missing_" + randHex(4)
	noop := func(context.Context, []tripcast.Message) error { return nil }
	t.Run("ErrNotFound", func(t *testing.T) {
		if err := h.s.Publish(ctx, missing, "k", []byte("x")); tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
			t.Errorf("Publish: got %v (%s), want %s", err, tripcast.ErrorCode(err), tripcast.ENOTFOUND)
		}
		err := h.s.PublishBatch(ctx, missing, []tripcast.Message{{Key: "k", Data: []byte("x")}})
		if tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
			t.Errorf("PublishBatch: got %v (%s), want %s", err, tripcast.ErrorCode(err), tripcast.ENOTFOUND)
		}
		if err := h.s.Consume(ctx, missing, "c", noop); tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
			t.Errorf("Consume: got %v (%s), want %s", err, tripcast.ErrorCode(err), tripcast.ENOTFOUND)
		}
	})
	t.Run("StoppedWhileStarting", func(t *testing.T) {
		// A consumer stopped before it has started is shut down, not failed.
		name := h.newStream("stopped")
		stopped, cancel := context.WithCancel(ctx)
		cancel()
		calls := 0
		count := func(context.Context, []tripcast.Message) error { calls++; return nil }
		if err := h.s.Consume(stopped, name, "c", count); err != nil || calls != 0 {
			t.Errorf("Consume on a stopped context: got %v after %d batches, want nil after none", err, calls)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, bad := range []string{"", "a.b", "a b", "ride_events.>", strings.Repeat("x", 65)} {
			if err := h.s.EnsureStream(ctx, bad); tripcast.ErrorCode(err) != tripcast.EINVALID || tripcast.ErrorField(err) != "stream" {
				t.Errorf("EnsureStream(%q): got %v, want %s on field stream", bad, err, tripcast.EINVALID)
			}
		}
		if err := h.s.Consume(ctx, "ok", "a.b", noop); tripcast.ErrorCode(err) != tripcast.EINVALID || tripcast.ErrorField(err) != "consumer" {
			t.Errorf("Consume with bad consumer: got %v, want %s on field consumer", err, tripcast.EINVALID)
		}
		if err := h.s.Consume(ctx, "ok", "c", nil); tripcast.ErrorCode(err) != tripcast.EINVALID {
			t.Errorf("Consume with nil handler: got %v, want %s", err, tripcast.EINVALID)
		}
	})
}

// --- engines ---

// testLogger logs warnings and errors into the test output.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// testNATSOptions uses small batches so that tests see several of them.
func testNATSOptions(t testing.TB) stream.NATSOptions {
	// AckWait beyond waitFor's 30 s: a message that a stopped consumer
	// leaves delivered but unacknowledged fails Resume instead of coming
	// back late.
	return stream.NATSOptions{Logger: testLogger(t), BatchSize: 16, AckWait: 2 * time.Minute}
}

func TestNATSEmbedded(t *testing.T) {
	runConformance(t, func(t *testing.T) *harness {
		dir := t.TempDir()
		return mustOpenHarness(t, func() (tripcast.Stream, error) {
			return stream.OpenEmbedded(context.Background(), dir, "", testNATSOptions(t))
		})
	})
}

// natsTestURL is the external NATS server for tests.
func natsTestURL() string {
	if u := os.Getenv("TRIPCAST_TEST_NATS"); u != "" {
		return u
	}
	return "nats://127.0.0.1:4222"
}

func TestNATSExternal(t *testing.T) {
	u, err := url.Parse(natsTestURL())
	if err != nil {
		t.Fatalf("TRIPCAST_TEST_NATS: %v", err)
	}
	testenv.Require(t, "NATS", u.Host)
	runConformance(t, func(t *testing.T) *harness {
		return mustOpenHarness(t, func() (tripcast.Stream, error) {
			return stream.OpenNATS(context.Background(), natsTestURL(), testNATSOptions(t))
		})
	})
}

// kinesisTestEndpoint is the Kinesis-compatible server for tests.
func kinesisTestEndpoint() string {
	if u := os.Getenv("TRIPCAST_TEST_KINESIS"); u != "" {
		return u
	}
	return "http://127.0.0.1:4567"
}

func TestKinesis(t *testing.T) {
	u, err := url.Parse(kinesisTestEndpoint())
	if err != nil {
		t.Fatalf("TRIPCAST_TEST_KINESIS: %v", err)
	}
	testenv.Require(t, "Kinesis (kinesalite)", u.Host)
	runConformance(t, func(t *testing.T) *harness {
		cp := newMemCheckpoints() // survives restarts, like the metadata DB
		// Two shards, small batches, fast polling for the tests.
		raw := "kinesis://?region=us-east-1&shards=2&batch=16&poll=50ms&discover=1s&endpoint=" + url.QueryEscape(kinesisTestEndpoint())
		return mustOpenHarness(t, func() (tripcast.Stream, error) {
			return stream.OpenKinesis(context.Background(), raw, cp, testLogger(t))
		})
	})
}

// memCheckpoints is an in-memory tripcast.CheckpointStore for tests (the
// real one is in sqlstore).
type memCheckpoints struct {
	mu sync.Mutex
	m  map[[3]string]string
}

func newMemCheckpoints() *memCheckpoints { return &memCheckpoints{m: map[[3]string]string{}} }

func (c *memCheckpoints) GetCheckpoint(_ context.Context, consumer, stream, shard string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[[3]string{consumer, stream, shard}], nil
}

func (c *memCheckpoints) SetCheckpoint(_ context.Context, consumer, stream, shard, seq string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[[3]string{consumer, stream, shard}] = seq
	return nil
}
