package stream_test

import (
	"bufio"
	"context"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"tripcast"
	"tripcast/internal/testenv"
	"tripcast/stream"
)

// TestEmbeddedListen: an embedded server asked to listen serves external
// clients by URL; without a listen address it opens no port.
func TestEmbeddedListen(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		e, err := stream.StartEmbedded(t.TempDir(), "127.0.0.1:0", testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		u := e.ClientURL()
		if !strings.HasPrefix(u, "nats://127.0.0.1:") {
			t.Fatalf("got ClientURL %q, want nats://127.0.0.1:port", u)
		}
		s, err := stream.OpenNATS(context.Background(), u, testNATSOptions(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() }) // after the stream's deletion
		h := &harness{t: t, s: s}
		ctx := testCtx(t)
		name := h.newStream("listen")
		if err := s.Publish(ctx, name, "k", []byte("hello")); err != nil {
			t.Fatal(err)
		}
		c := newCollector()
		cons := startConsume(t, s, name, "c", c.handler)
		waitFor(t, "the message", func() bool { return c.distinct() == 1 })
		cons.stop(t)
	})
	t.Run("NoPort", func(t *testing.T) {
		e, err := stream.StartEmbedded(t.TempDir(), "", testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		if u := e.ClientURL(); u != "" {
			t.Errorf("got ClientURL %q, want none", u)
		}
	})
	t.Run("ErrConflict", func(t *testing.T) {
		dir := t.TempDir()
		e, err := stream.StartEmbedded(dir, "", testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stream.StartEmbedded(dir, "", testLogger(t)); tripcast.ErrorCode(err) != tripcast.ECONFLICT {
			t.Errorf("second server on the same dir: got %v, want %s", err, tripcast.ECONFLICT)
		}
		e.Close()
		e2, err := stream.StartEmbedded(dir, "", testLogger(t)) // the lock is released
		if err != nil {
			t.Fatalf("restart after Close: %v", err)
		}
		e2.Close()
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, c := range []struct{ dir, listen, field string }{
			{"", "", "dir"}, {t.TempDir(), "nonsense", "listen"}, {t.TempDir(), "127.0.0.1:99999", "listen"},
		} {
			_, err := stream.StartEmbedded(c.dir, c.listen, testLogger(t))
			if tripcast.ErrorCode(err) != tripcast.EINVALID || tripcast.ErrorField(err) != c.field {
				t.Errorf("StartEmbedded(%q, %q): got %v, want %s on field %s", c.dir, c.listen, err, tripcast.EINVALID, c.field)
			}
		}
	})
}

// TestOpenNATS_ErrUnavailable: nothing listening is EUNAVAILABLE, not a hang.
func TestOpenNATS_ErrUnavailable(t *testing.T) {
	opts := testNATSOptions(t)
	opts.Timeout = time.Second
	_, err := stream.OpenNATS(context.Background(), "nats://127.0.0.1:1", opts)
	if tripcast.ErrorCode(err) != tripcast.EUNAVAILABLE {
		t.Errorf("got %v, want %s", err, tripcast.EUNAVAILABLE)
	}
}

// Crash test: a consumer process on the embedded server is killed with
// SIGKILL in the middle of the stream; a restarted one on the same data dir
// must deliver every message not handled before the crash (none lost).
// Messages handled in the last ~100 ms before the kill come again (at least
// once): serving makes that harmless by deduplicating. Messages the child
// had read ahead but not handled come again after AckWait.
const (
	crashDirEnv = "TRIPCAST_STREAM_CRASH_DIR"
	crashLogEnv = "TRIPCAST_STREAM_CRASH_LOG"
)

// crashOptions are the crash test's options: what the killed consumer had
// read ahead but not handled comes back after AckWait, so AckWait is short.
func crashOptions(t *testing.T) stream.NATSOptions {
	o := testNATSOptions(t)
	o.AckWait = 2 * time.Second
	return o
}

func TestNATSEmbeddedCrash(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("inside the crash child")
	}
	const n = 3000
	dir := t.TempDir()
	logPath := filepath.Join(t.TempDir(), "handled.log")

	s, err := stream.OpenEmbedded(context.Background(), dir, "", crashOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	if err := s.EnsureStream(ctx, "ride_events"); err != nil {
		t.Fatal(err)
	}
	msgs := make([]tripcast.Message, n)
	for i := range msgs {
		msgs[i] = tripcast.Message{Key: "k", Data: rideEvent(i)}
	}
	if err := s.PublishBatch(ctx, "ride_events", msgs); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// The child consumes, logging each handled batch, until killed.
	cmd := exec.Command(os.Args[0], "-test.run=^TestNATSEmbeddedCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashLogEnv+"="+logPath)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the child to handle a third of the messages", func() bool { return len(readLines(t, logPath)) >= n/3 })
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = cmd.Wait()
	before := map[string]bool{}
	for _, l := range readLines(t, logPath) {
		before[l] = true
	}
	if len(before) >= n {
		t.Fatalf("child handled all %d messages before the kill; want a kill mid-stream", n)
	}

	// Restart on the same directory: the server recovers its files.
	s2, err := stream.OpenEmbedded(context.Background(), dir, "", crashOptions(t))
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer s2.Close()
	after := newCollector()
	cons := startConsume(t, s2, "ride_events", "crash", after.handler)
	waitFor(t, "every message across both processes", func() bool {
		after.mu.Lock()
		defer after.mu.Unlock()
		missing := 0
		for i := range n {
			d := rideEvent(i)
			if !before[string(d)] && after.seen[string(d)] == 0 {
				missing++
			}
		}
		return missing == 0
	})
	cons.stop(t)
	dups := 0
	for d := range after.seen {
		if before[d] {
			dups++
		}
	}
	t.Logf("before kill: %d handled; after restart: %d handled, %d of them again (at least once)", len(before), after.distinct(), dups)
	// The server writes consumer state (acks) about 10 times a second, so
	// the acks of the last ~100 ms before a kill -9 are lost and those
	// messages come again; older acks must have survived.
	if dups >= len(before) {
		t.Errorf("got %d of %d handled messages again after the restart, want fewer (acks must survive)", dups, len(before))
	}
}

// TestNATSEmbeddedCrashChild is the consumer process of TestNATSEmbeddedCrash.
func TestNATSEmbeddedCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestNATSEmbeddedCrash")
	}
	f, err := os.OpenFile(os.Getenv(crashLogEnv), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	s, err := stream.OpenEmbedded(context.Background(), dir, "", crashOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	_ = s.Consume(context.Background(), "ride_events", "crash", func(_ context.Context, batch []tripcast.Message) error {
		mu.Lock()
		defer mu.Unlock()
		var b strings.Builder
		for _, m := range batch {
			b.Write(m.Data)
			b.WriteByte('\n')
		}
		// One write per batch, before the ack: it survives SIGKILL.
		if _, err := f.WriteString(b.String()); err != nil {
			return err
		}
		time.Sleep(5 * time.Millisecond) // let the parent kill us mid-stream
		return nil
	})
}

// readLines returns the complete lines of path (none if it does not exist).
func readLines(t *testing.T, path string) []string {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// TestNATSPending: Pending counts the messages a consumer has not
// acknowledged yet (its lag).
func TestNATSPending(t *testing.T) {
	s, err := stream.OpenEmbedded(context.Background(), t.TempDir(), "", testNATSOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	h := mustOpenHarness(t, func() (tripcast.Stream, error) { return s, nil })
	ctx := testCtx(t)
	name := h.newStream("pending")
	t.Run("ErrNotFound", func(t *testing.T) {
		if _, err := s.Pending(ctx, name, "nobody"); tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
			t.Errorf("got %v, want %s", err, tripcast.ENOTFOUND)
		}
	})
	t.Run("OK", func(t *testing.T) {
		if err := s.Publish(ctx, name, "k", []byte("first")); err != nil {
			t.Fatal(err)
		}
		c := newCollector()
		cons := startConsume(t, s, name, "lag", c.handler)
		waitFor(t, "the first message", func() bool { return c.distinct() == 1 })
		cons.stop(t)
		for i := range 7 {
			if err := s.Publish(ctx, name, "k", []byte{byte(i)}); err != nil {
				t.Fatal(err)
			}
		}
		// The server counts pending messages asynchronously.
		var got uint64
		waitFor(t, "7 pending", func() bool {
			got, err = s.Pending(ctx, name, "lag")
			if err != nil {
				t.Fatal(err)
			}
			return got == 7
		})
	})
}

// natsEngines open the two NATS engines: embedded, and the server running
// on these machines.
var natsEngines = map[string]func(t *testing.T) *stream.NATS{
	"Embedded": func(t *testing.T) *stream.NATS {
		s, err := stream.OpenEmbedded(context.Background(), t.TempDir(), "", testNATSOptions(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	},
	"External": func(t *testing.T) *stream.NATS {
		u, _ := url.Parse(natsTestURL())
		testenv.Require(t, "NATS", u.Host)
		s, err := stream.OpenNATS(context.Background(), natsTestURL(), testNATSOptions(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	},
}

// TestNATSScan: Scan reads a stream back from a time, in order, with keys
// and positions, up to its last message; nothing when the time is past the
// last message; ENOTFOUND for a missing stream; the callback's error.
func TestNATSScan(t *testing.T) {
	for name, open := range natsEngines {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			h := mustOpenHarness(t, func() (tripcast.Stream, error) { return s, nil })
			ctx := testCtx(t)
			st := h.newStream("scan")
			const n = 2500 // more than one pull of the ordered consumer
			msgs := make([]tripcast.Message, n)
			for i := range msgs {
				msgs[i] = tripcast.Message{Key: "k" + strconv.Itoa(i%7), Data: rideEvent(i)}
			}
			if err := s.PublishBatch(ctx, st, msgs); err != nil {
				t.Fatal(err)
			}
			scan := func(since time.Time) []tripcast.Message {
				t.Helper()
				var got []tripcast.Message
				if err := s.Scan(ctx, st, since, func(m tripcast.Message) error {
					got = append(got, m)
					return nil
				}); err != nil {
					t.Fatalf("Scan since %v: %v", since, err)
				}
				return got
			}
			all := scan(time.Time{})
			if len(all) != n {
				t.Fatalf("Scan from the start: got %d messages, want %d", len(all), n)
			}
			for i, m := range all {
				if string(m.Data) != string(rideEvent(i)) || m.Key != msgs[i].Key || m.ID != strconv.Itoa(i+1) ||
					m.Stored.IsZero() || m.Stream != st || m.Delivered != 0 {
					t.Fatalf("message %d: got %+v, want key %s, data %s, ID %d, a stored time", i, m, msgs[i].Key, rideEvent(i), i+1)
				}
			}
			// Later messages, then a scan from a time in between: the
			// messages stored at or after it, and no more than were there.
			time.Sleep(20 * time.Millisecond)
			mid := time.Now()
			time.Sleep(20 * time.Millisecond)
			if err := s.PublishBatch(ctx, st, msgs[:10]); err != nil {
				t.Fatal(err)
			}
			if got := scan(mid); len(got) != 10 || got[0].ID != strconv.Itoa(n+1) || got[9].ID != strconv.Itoa(n+10) {
				t.Errorf("Scan from between the batches: got %d messages (%v...), want the last 10", len(got), got)
			}
			if got := scan(time.Now().Add(time.Minute)); len(got) != 0 {
				t.Errorf("Scan from after the last message: got %d messages, want none", len(got))
			}
			stop := errors.New("enough")
			seen := 0
			if err := s.Scan(ctx, st, time.Time{}, func(tripcast.Message) error {
				seen++
				if seen == 3 {
					return stop
				}
				return nil
			}); !errors.Is(err, stop) || seen != 3 {
				t.Errorf("Scan stopped by its callback: got %v after %d messages, want %v after 3", err, seen, stop)
			}
			if err := s.Scan(ctx, "missing_"+st, time.Time{}, func(tripcast.Message) error { return nil }); tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
				t.Errorf("Scan of a missing stream: got %v, want %s", err, tripcast.ENOTFOUND)
			}
		})
	}
}

// TestNATSDedup: messages published with an ID are stored once, even when
// the batch is published again (a retry), on both NATS engines.
func TestNATSDedup(t *testing.T) {
	for name, open := range natsEngines {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			h := mustOpenHarness(t, func() (tripcast.Stream, error) { return s, nil })
			ctx := testCtx(t)
			st := h.newStream("dedup")
			const n = 300
			msgs := make([]tripcast.Message, n)
			for i := range msgs {
				msgs[i] = tripcast.Message{Key: "k", Data: rideEvent(i), ID: "ride-" + strconv.Itoa(i)}
			}
			for range 2 {
				if err := s.PublishBatch(ctx, st, msgs); err != nil {
					t.Fatalf("PublishBatch: %v", err)
				}
			}
			if err := s.PublishBatch(ctx, st, msgs[:10]); err != nil { // an all-duplicate batch
				t.Fatalf("PublishBatch of duplicates: %v", err)
			}
			c := newCollector()
			cons := startConsume(t, s, st, "c", c.handler)
			waitFor(t, "300 messages", func() bool { return c.distinct() == n })
			time.Sleep(300 * time.Millisecond)
			cons.stop(t)
			if got := len(c.snapshot()); got != n {
				t.Errorf("got %d messages, want %d (duplicates dropped)", got, n)
			}
		})
	}
}

// TestNATSFastBatchStale: a Stream that cached "this stream takes fast
// batches" keeps publishing correctly after the stream was recreated
// without them by another process (the server then acks every message).
func TestNATSFastBatchStale(t *testing.T) {
	e, err := stream.StartEmbedded(t.TempDir(), "", testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	open := func(noFast bool) *stream.NATS {
		opts := testNATSOptions(t)
		opts.Server, opts.NoFastBatch = e, noFast
		s, err := stream.OpenNATS(context.Background(), "", opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	fast, plain := open(false), open(true)
	ctx := testCtx(t)
	msgs := []tripcast.Message{{Key: "a", Data: []byte("1")}, {Key: "b", Data: []byte("2")}, {Key: "c", Data: []byte("3")}}
	if err := fast.EnsureStream(ctx, "events"); err != nil {
		t.Fatal(err)
	}
	if err := fast.PublishBatch(ctx, "events", msgs); err != nil {
		t.Fatalf("fast PublishBatch: %v", err)
	}
	if err := plain.DeleteStream(ctx, "events"); err != nil {
		t.Fatal(err)
	}
	if err := plain.EnsureStream(ctx, "events"); err != nil {
		t.Fatal(err)
	}
	if err := fast.PublishBatch(ctx, "events", msgs); err != nil {
		t.Fatalf("PublishBatch after the stream lost fast batches: %v", err)
	}
	c := newCollector()
	cons := startConsume(t, plain, "events", "c", c.handler)
	waitFor(t, "3 messages", func() bool { return c.distinct() == 3 })
	cons.stop(t)
	if got := len(c.snapshot()); got != 3 {
		t.Errorf("got %d messages, want 3", got)
	}
}

// TestNATSConsumeEnds: Consume returns an error when its consumer is
// deleted by someone else (ENOTFOUND) and when the Stream is closed under
// it, instead of waiting for messages that cannot come.
func TestNATSConsumeEnds(t *testing.T) {
	u, _ := url.Parse(natsTestURL())
	testenv.Require(t, "NATS", u.Host)
	ctx := testCtx(t)
	s, err := stream.OpenNATS(ctx, natsTestURL(), testNATSOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	name := "tc_ends_" + randHex(4)
	if err := s.EnsureStream(ctx, name); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(natsTestURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), name) })
	if err := s.PublishBatch(ctx, name, []tripcast.Message{{Key: "k", Data: rideEvent(0)}, {Key: "k", Data: rideEvent(1)}}); err != nil {
		t.Fatal(err)
	}
	consume := func(consumer string) (handled <-chan struct{}, done <-chan error) {
		h, d := make(chan struct{}, 1), make(chan error, 1)
		go func() {
			d <- s.Consume(context.Background(), name, consumer, func(context.Context, []tripcast.Message) error {
				select {
				case h <- struct{}{}:
				default:
				}
				return nil
			})
		}()
		return h, d
	}
	wait := func(done <-chan error) error {
		t.Helper()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Fatal("Consume still running 20 s later")
			return nil
		}
	}

	t.Run("ConsumerDeleted", func(t *testing.T) {
		handled, done := consume("deleted")
		<-handled
		if err := js.DeleteConsumer(ctx, name, "deleted"); err != nil {
			t.Fatal(err)
		}
		if err := wait(done); tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
			t.Errorf("got %v (%s), want %s", err, tripcast.ErrorCode(err), tripcast.ENOTFOUND)
		}
	})
	t.Run("Closed", func(t *testing.T) {
		handled, done := consume("closed")
		<-handled
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := wait(done); err == nil {
			t.Error("got nil, want an error: the connection is closed")
		}
	})
}
