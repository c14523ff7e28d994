package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrecedence(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		dir := t.TempDir()
		file := filepath.Join(dir, "c.json")
		if err := os.WriteFile(file, []byte(`{"listen": "127.0.0.1:9999", "stream": "nats://file:4222"}`), 0o644); err != nil {
			t.Fatal(err)
		}
		c := Default()
		if err := c.LoadFile(file); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{"TRIPCAST_STREAM": "nats://env:4222", "TRIPCAST_DATA_DIR": dir}
		c.LoadEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err := c.Finish(); err != nil {
			t.Fatal(err)
		}
		if got, want := c.Listen, "127.0.0.1:9999"; got != want {
			t.Errorf("listen: got %q, want %q (from file)", got, want)
		}
		if got, want := c.Stream, "nats://env:4222"; got != want {
			t.Errorf("stream: got %q, want %q (env beats file)", got, want)
		}
		if got, want := c.Blob, "file://"+filepath.ToSlash(filepath.Join(dir, "blobs")); got != want {
			t.Errorf("blob: got %q, want %q (derived from data_dir)", got, want)
		}
		if got, want := c.DB, "sqlite://"+filepath.ToSlash(filepath.Join(dir, "tripcast.db")); got != want {
			t.Errorf("db: got %q, want %q", got, want)
		}
	})
	t.Run("ErrUnknownKey", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "c.json")
		os.WriteFile(file, []byte(`{"lisen": "x"}`), 0o644)
		c := Default()
		err := c.LoadFile(file)
		if err == nil || !strings.Contains(err.Error(), `"lisen"`) {
			t.Fatalf("got %v, want an error naming the key", err)
		}
	})
	t.Run("ErrBadURL", func(t *testing.T) {
		c := Default()
		c.DB = "not a url"
		err := c.Finish()
		if err == nil || !strings.Contains(err.Error(), "db:") {
			t.Fatalf("got %v, want an error naming db", err)
		}
	})
	t.Run("ErrLogLevel", func(t *testing.T) {
		c := Default()
		c.LogLevel = "loud"
		if err := c.Finish(); err == nil || !strings.Contains(err.Error(), "log_level") {
			t.Fatalf("got %v, want an error naming log_level", err)
		}
	})
}

func TestMask(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://app:hunter2@db:5432/tripcast", "postgres://app:xxxxx@db:5432/tripcast"},
		{"s3://bucket?endpoint=http://x&secret_key=abc", "s3://bucket?endpoint=http%3A%2F%2Fx&secret_key=xxxxx"},
		{"file:///tmp/blobs", "file:///tmp/blobs"},
		{"embedded", "embedded"},
	} {
		if got := Mask(tc.in); got != tc.want {
			t.Errorf("Mask(%q): got %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(Mask(tc.in), "hunter2") || strings.Contains(Mask(tc.in), "abc") {
			t.Errorf("Mask(%q) leaked a secret", tc.in)
		}
	}
}
