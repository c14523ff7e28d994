package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"tripcast"
	"tripcast/config"
	"tripcast/stream"
)

// newListenApp returns an app on a fresh data dir whose error output and
// log go to buffers, with its secrets recorded as configure does.
func newListenApp(t *testing.T) (*app, *bytes.Buffer, *bytes.Buffer) {
	var errOut, logs bytes.Buffer
	a := &app{cfg: config.Default(), errOut: &errOut}
	a.cfg.DataDir = t.TempDir()
	if err := a.cfg.Finish(); err != nil {
		t.Fatal(err)
	}
	a.updateSecrets()
	a.log = slog.New(secretHandler(slog.NewTextHandler(&logs, nil), a))
	t.Cleanup(func() { a.close() })
	return a, &errOut, &logs
}

// TestNATSListenCredentials: an embedded server listening beyond loopback
// gets a generated password, printed once and masked in the logs; clients
// without it are refused. On loopback without a password a warning is
// logged (issue 12.7).
func TestNATSListenCredentials(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.Run("OKGenerated", func(t *testing.T) {
		a, errOut, logs := newListenApp(t)
		if _, err := a.openStream(ctx, streamOptions{natsListen: "0.0.0.0:0"}); err != nil {
			t.Fatal(err)
		}
		pw := a.cfg.NATSPassword
		if len(pw) < 20 {
			t.Fatalf("got password %q, want a generated one", pw)
		}
		if got := strings.Count(errOut.String(), pw); got != 1 {
			t.Fatalf("password printed %d times, want once: %s", got, errOut.String())
		}
		if strings.Contains(logs.String(), pw) {
			t.Fatalf("the log holds the password: %s", logs.String())
		}
		addr := listenAddr(t, logs.String())
		opts := stream.NATSOptions{Timeout: 2 * time.Second}
		if s, err := stream.OpenNATS(ctx, "nats://"+addr, opts); err == nil {
			s.Close()
			t.Fatal("a client without credentials was accepted")
		}
		s, err := stream.OpenNATS(ctx, "nats://tripcast:"+pw+"@"+addr, opts)
		if err != nil {
			t.Fatalf("client with the generated credentials: %v", err)
		}
		s.Close()
	})
	t.Run("OKLoopbackWarns", func(t *testing.T) {
		a, errOut, logs := newListenApp(t)
		if _, err := a.openStream(ctx, streamOptions{natsListen: "127.0.0.1:0"}); err != nil {
			t.Fatal(err)
		}
		if a.cfg.NATSPassword != "" || errOut.Len() != 0 {
			t.Fatalf("got password %q and output %q on loopback, want none", a.cfg.NATSPassword, errOut)
		}
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "without credentials") {
			t.Fatalf("got log %s, want a warning", logs.String())
		}
	})
	t.Run("ErrBusyPort", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		a, _, _ := newListenApp(t)
		start := time.Now()
		_, err = a.openStream(ctx, streamOptions{natsListen: l.Addr().String()})
		if tripcast.ErrorCode(err) != tripcast.EUNAVAILABLE || !strings.Contains(err.Error(), l.Addr().String()) || time.Since(start) > 5*time.Second {
			t.Fatalf("got %v after %v, want %s naming %s at once", err, time.Since(start), tripcast.EUNAVAILABLE, l.Addr())
		}
	})
}

// listenAddr finds the embedded server's client address in its log.
func listenAddr(t *testing.T, logs string) string {
	t.Helper()
	_, rest, ok := strings.Cut(logs, "listen=nats://")
	if !ok {
		t.Fatalf("no listen address in the log: %s", logs)
	}
	addr, _, _ := strings.Cut(rest, " ")
	host, port, _ := net.SplitHostPort(addr)
	if host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
