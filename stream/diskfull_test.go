package stream_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"tripcast"
	"tripcast/stream"
)

// TestEmbeddedDiskFull: after the disk fills, the embedded JetStream store
// refuses writes even once space returns; Healthy reports it and, once the
// disk takes writes again, restarts JetStream so that publishing and
// consuming go on without a process restart (issue 12.9). The disk is a
// small tmpfs (mounting needs root; the test skips otherwise).
func TestEmbeddedDiskFull(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	ctx := testCtx(t)
	e, err := stream.StartEmbeddedWith(filepath.Join(dir, "nats"), stream.EmbeddedOptions{Logger: testLogger(t), RecoverEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	opts := testNATSOptions(t)
	opts.Server = e
	opts.Timeout = time.Second
	s, err := stream.OpenNATS(ctx, "", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.EnsureStream(ctx, "full"); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(ctx, "full", "k", []byte("before")); err != nil {
		t.Fatal(err)
	}
	if err := s.Healthy(ctx); err != nil {
		t.Fatalf("healthy before the disk filled: %v", err)
	}

	// A consumer runs throughout.
	c := newCollector()
	cons := startConsume(t, s, "full", "c", c.handler)
	waitFor(t, "the first message", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.seen["before"] > 0
	})

	// Fill the disk, then publish until the store fails.
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, bytes.Repeat([]byte("x"), 7<<20+768<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("y"), 4096)
	failed := false
	for i := 0; i < 1000 && !failed; i++ {
		failed = publishWithin(s, "full", data) != nil
	}
	if !failed {
		t.Fatal("publishing never failed on a full disk")
	}
	if err := s.Healthy(context.Background()); tripcast.ErrorCode(err) != tripcast.EUNAVAILABLE {
		t.Fatalf("healthy on a full disk: got %v, want %s", err, tripcast.EUNAVAILABLE)
	}

	// Space returns: Healthy recovers the store.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := s.Healthy(context.Background()); err != nil {
		t.Fatalf("healthy after space returned: %v", err)
	}
	waitFor(t, "a publish after the recovery", func() bool {
		return publishWithin(s, "full", []byte("after")) == nil
	})
	waitFor(t, "the consumer to get a message published after the recovery", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.seen["after"] > 0
	})
	cons.stop(t)
}

// publishWithin publishes one message, waiting at most 2 s for the store.
func publishWithin(s tripcast.Stream, name string, data []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.Publish(ctx, name, "k", data)
}
