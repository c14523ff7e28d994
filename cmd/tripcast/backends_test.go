package main

import (
	"context"
	"net/url"
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
