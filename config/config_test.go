package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tripcast"
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

func TestFinish(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		c := Default()
		c.DataDir = t.TempDir()
		c.CompactEvery = "0"
		if err := c.Finish(); err != nil {
			t.Fatal(err)
		}
		if got := c.CompactInterval(); got != 0 {
			t.Fatalf("compact interval: got %v, want 0", got)
		}
		c.CompactEvery = "90s"
		if err := c.Finish(); err != nil || c.CompactInterval() != 90*time.Second {
			t.Fatalf("got %v, %v, want 1m30s", c.CompactInterval(), err)
		}
		c.SpoolSyncEvery, c.SpoolMaxMB, c.MonitorWindow = "250ms", "2", "0"
		if err := c.Finish(); err != nil || c.SpoolSyncInterval() != 250*time.Millisecond || c.SpoolMaxBytes() != 2<<20 || c.MonitorInterval() != 0 {
			t.Fatalf("got %v, %d, %v (%v), want 250ms, 2 MiB, 0", c.SpoolSyncInterval(), c.SpoolMaxBytes(), c.MonitorInterval(), err)
		}
	})
	// Each bad value is refused when the configuration loads, naming the
	// setting and where it came from.
	for _, tc := range []struct{ key, env, value string }{
		{"compact_every", "TRIPCAST_COMPACT_EVERY", "often"},
		{"compact_every", "TRIPCAST_COMPACT_EVERY", "-1m"},
		{"listen", "TRIPCAST_LISTEN", "8080"},
		{"listen", "TRIPCAST_LISTEN", "127.0.0.1:99999"},
		{"stream", "TRIPCAST_STREAM", "localhost"},
		{"db", "TRIPCAST_DB", "host=db password=hunter2"},
		{"blob", "TRIPCAST_BLOB", "s3://a,s3://b"},
		{"log_format", "TRIPCAST_LOG_FORMAT", "xml"},
		{"prediction_sinks", "TRIPCAST_PREDICTION_SINKS", "bogus"},
		{"spool_sync_every", "TRIPCAST_SPOOL_SYNC_EVERY", "0s"},
		{"spool_max_mb", "TRIPCAST_SPOOL_MAX_MB", "x"},
		{"monitor_window", "TRIPCAST_MONITOR_WINDOW", "hourly"},
		{"alert_webhooks", "TRIPCAST_ALERT_WEBHOOKS", "ftp://hooks.example"},
	} {
		t.Run("Err_"+tc.key+"_"+tc.value, func(t *testing.T) {
			c := Default()
			c.DataDir = t.TempDir()
			c.LoadEnv(func(k string) (string, bool) { return tc.value, k == tc.env })
			err := c.Finish()
			if tripcast.ErrorField(err) != tc.key || !strings.Contains(err.Error(), "env "+tc.env) {
				t.Fatalf("got %v, want an error on %s naming env %s", err, tc.key, tc.env)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("got %v, want the secret masked", err)
			}
		})
	}
	t.Run("ErrSourceFile", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "c.json")
		os.WriteFile(file, []byte(`{"compact_every": "10"}`), 0o644)
		c := Default()
		if err := c.LoadFile(file); err != nil {
			t.Fatal(err)
		}
		err := c.Finish()
		if tripcast.ErrorField(err) != "compact_every" || !strings.Contains(err.Error(), "file "+file) {
			t.Fatalf("got %v, want an error on compact_every naming the file", err)
		}
	})
}

func TestMasked(t *testing.T) {
	c := Default()
	c.NATSPassword = "hunter2"
	c.Stream = "nats://u:hunter3@h:4222"
	m := c.Masked()
	if m.NATSPassword != "xxxxx" || strings.Contains(m.Stream, "hunter3") {
		t.Fatalf("got %+v, want secrets masked", m)
	}
	got := strings.Join(c.Secrets(), " ")
	if !strings.Contains(got, "hunter2") || !strings.Contains(got, "hunter3") {
		t.Fatalf("Secrets: got %q, want both passwords", got)
	}
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
