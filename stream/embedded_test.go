package stream_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"tripcast"
	"tripcast/stream"
)

// TestEmbeddedAuth: a listener beyond loopback requires a password; with
// one, clients without credentials are refused and the in-process client
// still works (issue 12.7).
func TestEmbeddedAuth(t *testing.T) {
	t.Run("ErrNoPassword", func(t *testing.T) {
		_, err := stream.StartEmbeddedWith(t.TempDir(), stream.EmbeddedOptions{Listen: "0.0.0.0:0", Logger: testLogger(t)})
		if tripcast.ErrorCode(err) != tripcast.EINVALID || tripcast.ErrorField(err) != "nats_password" {
			t.Fatalf("got %v, want %s on field nats_password", err, tripcast.EINVALID)
		}
	})
	t.Run("OK", func(t *testing.T) {
		ctx := testCtx(t)
		e, err := stream.StartEmbeddedWith(t.TempDir(),
			stream.EmbeddedOptions{Listen: "0.0.0.0:0", User: "tripcast", Password: "s3cret-pw", Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		inproc := testNATSOptions(t)
		inproc.Server = e
		s, err := stream.OpenNATS(ctx, "", inproc)
		if err != nil {
			t.Fatalf("in-process client: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.EnsureStream(ctx, "auth_in"); err != nil {
			t.Fatalf("in-process client: %v", err)
		}
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(e.ClientURL(), "nats://"))
		opts := testNATSOptions(t)
		opts.Timeout = 2 * time.Second
		if c, err := stream.OpenNATS(ctx, "nats://127.0.0.1:"+port, opts); err == nil {
			c.Close()
			t.Fatal("a client without credentials was accepted")
		} else if strings.Contains(err.Error(), "s3cret-pw") {
			t.Fatalf("error leaks the password: %v", err)
		}
		c, err := stream.OpenNATS(ctx, "nats://tripcast:s3cret-pw@127.0.0.1:"+port, opts)
		if err != nil {
			t.Fatalf("client with credentials: %v", err)
		}
		defer c.Close()
		if err := c.Publish(ctx, "auth_in", "k", []byte("x")); err != nil {
			t.Fatal(err)
		}
	})
}

// TestEmbeddedBusyPort: a listen address already in use fails at once,
// naming the address, instead of after 30 s (issue 12.10).
func TestEmbeddedBusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	start := time.Now()
	_, err = stream.StartEmbedded(t.TempDir(), l.Addr().String(), testLogger(t))
	if tripcast.ErrorCode(err) != tripcast.EUNAVAILABLE || !strings.Contains(err.Error(), l.Addr().String()) {
		t.Fatalf("got %v, want %s naming %s", err, tripcast.EUNAVAILABLE, l.Addr())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("failed after %v, want at once", d)
	}
}

// TestNATSStreamRecreated: a stream deleted under a publisher and a
// consumer is created again; neither wedges (issue 12.7).
func TestNATSStreamRecreated(t *testing.T) {
	ctx := testCtx(t)
	s, err := stream.OpenEmbedded(ctx, t.TempDir(), "", testNATSOptions(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	const name, dlq = "rides", "rides_dlq"
	for _, n := range []string{name, dlq} {
		if err := s.EnsureStream(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	// Publish and PublishBatch to a deleted stream.
	if err := s.DeleteStream(ctx, dlq); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(ctx, dlq, "k", []byte("one")); err != nil {
		t.Fatalf("publish to a deleted stream: %v", err)
	}
	if err := s.DeleteStream(ctx, dlq); err != nil {
		t.Fatal(err)
	}
	batch := []tripcast.Message{{Key: "a", ID: "a", Data: []byte("a")}, {Key: "b", ID: "b", Data: []byte("b")}}
	if err := s.PublishBatch(ctx, dlq, batch); err != nil {
		t.Fatalf("publish a batch to a deleted stream: %v", err)
	}
	if n, err := s.Pending(ctx, dlq, "none"); tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
		t.Fatalf("pending on a new consumer: got %d, %v, want ENOTFOUND (stream exists, consumer not)", n, err)
	}

	// A consumer whose stream is deleted goes on with the new stream.
	c := newCollector()
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Consume(cctx, name, "c", c.handler) }()
	if err := s.Publish(ctx, name, "k", []byte("before")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first message", func() bool { return c.distinct() == 1 })
	if err := s.DeleteStream(ctx, name); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a message after the deletion", func() bool {
		_ = s.Publish(ctx, name, "k", []byte("after"))
		return c.distinct() >= 2
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Consume: %v", err)
	}
}
