package main

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"tripcast"
	"tripcast/blob"
	"tripcast/config"
)

func TestBlobStore(t *testing.T) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "blobs")
		a := &app{cfg: config.Default()}
		a.cfg.Blob = "file://" + filepath.ToSlash(dir)
		s, err := a.blobStore(ctx)
		if err != nil {
			t.Fatal(err)
		}
		f, ok := s.(*blob.File)
		if !ok {
			t.Fatalf("got %T, want *blob.File", s)
		}
		if f.Dir() != dir {
			t.Fatalf("got folder %q, want %q", f.Dir(), dir)
		}
		if s2, err := a.blobStore(ctx); err != nil || s2 != s {
			t.Fatalf("got %v, %v on second call, want the same store", s2, err)
		}
		if _, err := s.Put(ctx, "x", strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
		if err := a.close(); err != nil {
			t.Fatal(err)
		}
		if a.blob != nil {
			t.Fatal("got a cached store after close, want none")
		}
	})
	t.Run("OKDefault", func(t *testing.T) {
		// The default configuration names a file store under data_dir.
		a := &app{cfg: config.Default()}
		a.cfg.DataDir = t.TempDir()
		if err := a.cfg.Finish(); err != nil {
			t.Fatal(err)
		}
		s, err := a.blobStore(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := s.URI("k"), "file://"+filepath.ToSlash(filepath.Join(a.cfg.DataDir, "blobs", "k")); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	})
	t.Run("ErrUnknownScheme", func(t *testing.T) {
		a := &app{cfg: config.Default()}
		a.cfg.Blob = "gs://bucket"
		_, err := a.blobStore(ctx)
		if tripcast.ErrorField(err) != "blob" || !strings.Contains(err.Error(), `"gs"`) {
			t.Fatalf("got %v, want an error on field blob naming the scheme", err)
		}
	})
	t.Run("ErrFileHost", func(t *testing.T) {
		u, _ := url.Parse("file://relative/path")
		_, err := blobBackends["file"].open(ctx, u)
		if tripcast.ErrorField(err) != "blob" {
			t.Fatalf("got %v, want an error on field blob", err)
		}
	})
}

// TestReadOnlyDataDir: a data dir that cannot be written is named with the
// reason, not SQLite's "unable to open database file (14)" (issue 12.10).
// As root, permissions do not stop writes: the dir is a read-only tmpfs.
func TestReadOnlyDataDir(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a read-only tmpfs (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	for _, args := range [][]string{{"runs", "list"}, {"models", "list"}} {
		_, err := runCmd(t, append(args, "--data-dir", dir)...)
		if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "read-only file system") {
			t.Errorf("tripcast %s: got %v, want an error naming %s and the reason", strings.Join(args, " "), err, dir)
		}
		if err != nil && strings.Contains(err.Error(), "(14)") {
			t.Errorf("got SQLite's error code: %v", err)
		}
	}
	// The embedded stream's folder too.
	a := &app{cfg: config.Default(), out: io.Discard, errOut: io.Discard}
	a.cfg.DataDir = dir
	if err := a.cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	a.log = slog.New(slog.DiscardHandler)
	_, err := a.stream(context.Background())
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "nats")) {
		t.Errorf("embedded stream: got %v, want an error naming %s", err, filepath.Join(dir, "nats"))
	}
}

// TestBackendURLs: each engine's check refuses URL parts it would ignore.
func TestBackendURLs(t *testing.T) {
	for _, tc := range []struct {
		key, raw string
		ok       bool
	}{
		{"blob", "file:///tmp/blobs", true},
		{"blob", "file:///tmp/blobs?sync=1", false},
		{"blob", "file://u:p@localhost/tmp/blobs", false},
		{"blob", "file:///tmp/blobs#x", false},
		{"blob", "s3://bucket/prefix?endpoint=http://127.0.0.1:7070&region=us-east-1&create=true", true},
		{"blob", "s3://k:s@bucket", false},
		{"blob", "s3://bucket:9000", false},
		{"db", "sqlite:///tmp/x.db", true},
		{"db", "sqlite:///tmp/x.db?_pragma=x", false},
		{"db", "sqlite://u:p@/tmp/x.db", false},
		{"db", "postgres://u:p@127.0.0.1:5432/test?sslmode=disable", true},
		{"db", "postgres://127.0.0.1/test#x", false},
		{"stream", "nats://u:p@127.0.0.1:4222,nats://u:p@127.0.0.2:4222", true},
		{"stream", "nats://127.0.0.1:4222?x=1", false},
		{"stream", "kinesis://?region=eu-west-1&endpoint=http://127.0.0.1:4567&shards=2", true},
		{"stream", "kinesis://?region=eu-west-1&stream=x", false},
		{"stream", "embedded", true},
		{"stream", "embedded://127.0.0.1:4222", false},
	} {
		a := &app{cfg: config.Default()}
		a.cfg.DataDir = t.TempDir()
		_ = a.cfg.SetFrom(tc.key, tc.raw, "test")
		err := a.cfg.Finish()
		if err == nil {
			err = a.checkBackends()
		}
		if tc.ok && err != nil {
			t.Errorf("%s %s: got %v, want accepted", tc.key, tc.raw, err)
		}
		if !tc.ok && tripcast.ErrorField(err) != tc.key {
			t.Errorf("%s %s: got %v, want an error on %s", tc.key, tc.raw, err, tc.key)
		}
	}
}
