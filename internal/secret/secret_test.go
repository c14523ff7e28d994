package secret

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestMask(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://app:hunter2@db:5432/tripcast", "postgres://app:xxxxx@db:5432/tripcast"},
		{"s3://bucket?endpoint=http://x&secret_key=hunter2", "s3://bucket?endpoint=http%3A%2F%2Fx&secret_key=xxxxx"},
		{"host=db user=app password=hunter2 dbname=t", "host=db user=app password=xxxxx dbname=t"},
		{"host=db password = 'hunter2 x' dbname=t", "host=db password = xxxxx dbname=t"},
		{"nats://u:hunter2@a:4222,nats://u:hunter2@b:4222", "nats://u:xxxxx@a:4222,nats://u:xxxxx@b:4222"},
		{"nats://hunter2@a:4222", "nats://xxxxx@a:4222"},
		{"file:///tmp/blobs", "file:///tmp/blobs"},
		{"embedded", "embedded"},
		{"not a url //u:hunter2@h", "not a url //u:xxxxx@h"},
	} {
		got := Mask(tc.in)
		if got != tc.want {
			t.Errorf("Mask(%q): got %q, want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "hunter2") {
			t.Errorf("Mask(%q) leaked the secret: %q", tc.in, got)
		}
	}
}

func TestValues(t *testing.T) {
	for _, in := range []string{
		"postgres://app:hunter2@db:5432/tripcast",
		"postgres://app:hunter2%2F@db:5432/tripcast",
		"s3://bucket?secret=hunter2",
		"host=db password=hunter2",
		"nats://a:1,nats://u:hunter2@b:2",
		"nats://hunter2@b:2",
	} {
		vs := Values(in)
		if got := Scrub(in, vs); strings.Contains(got, "hunter2") {
			t.Errorf("Scrub(%q, Values): got %q, want no secret (values %q)", in, got, vs)
		}
	}
	if vs := Values("file:///tmp/x"); len(vs) != 0 {
		t.Errorf("Values(file URL): got %q, want none", vs)
	}
}

func TestError(t *testing.T) {
	base := errors.New(`dial "postgres://u:hunter2@h/db": refused`)
	err := Error(base, Values("postgres://u:hunter2@h/db"))
	if strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("got %q, want the secret scrubbed", err)
	}
	if !errors.Is(err, base) {
		t.Fatal("errors.Is lost the wrapped error")
	}
}

func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	secrets := []string{"hunter2"}
	log := slog.New(NewHandler(slog.NewTextHandler(&buf, nil), func() []string { return secrets })).With("url", "nats://u:hunter2@h")
	log.Info("connected to nats://u:hunter2@h", "err", errors.New("bad hunter2"), slog.Group("g", "dsn", "password=hunter2"))
	if strings.Contains(buf.String(), "hunter2") {
		t.Fatalf("got %q, want no secret", buf.String())
	}
	if !strings.Contains(buf.String(), "xxxxx") {
		t.Fatalf("got %q, want the secret masked", buf.String())
	}
}
