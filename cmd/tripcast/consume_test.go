package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tripcast"
	"tripcast/blob"
	"tripcast/config"
	"tripcast/internal/testfiles"
	"tripcast/internal/testlog"
	"tripcast/sqlstore"
	"tripcast/stream"
	"tripcast/tlc"
	"tripcast/tracking"
	"tripcast/train"
)

// seedChampion trains a small real model on green 2021-01, registers it as
// version 1 of the default model in dataDir's default database and blob
// store, and promotes it to champion.
func seedChampion(t *testing.T, dataDir string) {
	t.Helper()
	seedChampionIn(t, dataDir, "sqlite://"+filepath.ToSlash(filepath.Join(dataDir, "tripcast.db")))
}

// seedChampionIn is seedChampion with the metadata database at dbURL.
func seedChampionIn(t *testing.T, dataDir, dbURL string) {
	t.Helper()
	ctx := context.Background()
	trips, _, err := tlc.LoadFile(testfiles.Green(t, "2021-01"), tlc.RuleCourse)
	if err != nil {
		t.Fatal(err)
	}
	res, err := train.Fit(ctx, trips, nil, train.Options{Params: map[string]string{"num_boost_round": "10", "max_depth": "4"}})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := res.Artifact.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	blobs, err := blob.NewFile(filepath.Join(dataDir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	defer blobs.Close()
	db, err := sqlstore.Open(ctx, dbURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	info, err := blobs.Put(ctx, "models/test/model.json", &buf)
	if err != nil {
		t.Fatal(err)
	}
	tr := tracking.New(db, blobs, slog.New(slog.DiscardHandler))
	v, err := tr.RegisterVersion(ctx, tripcast.DefaultModelName, tracking.NewVersion{ArtifactKey: info.Key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Promote(ctx, tripcast.DefaultModelName, v.Version, "champion", "test", "test"); err != nil {
		t.Fatal(err)
	}
}

// freePort returns a TCP address on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startConsume runs tripcast consume with args until the test ends (or
// the returned stop is called) and returns its output.
func startConsume(t *testing.T, args ...string) (stop func() string) {
	var out, errOut testlog.Buffer
	root := newRootCmd(&out, &errOut)
	root.SetArgs(append([]string{"consume"}, args...))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	var once sync.Once
	stop = func() string {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("consume: %v\nstderr: %s", err, errOut.String())
			}
		})
		return out.String()
	}
	t.Cleanup(func() { stop() })
	return stop
}

// runCheck runs tripcast check --json with args.
func runCheck(t *testing.T, args ...string) (*checkReport, error) {
	t.Helper()
	out, err := runCmd(t, append([]string{"check", "--json"}, args...)...)
	var rep checkReport
	if jerr := json.Unmarshal([]byte(out), &rep); jerr != nil {
		if err != nil {
			return nil, err
		}
		t.Fatalf("check output %q: %v", out, jerr)
	}
	return &rep, err
}

// waitListening waits until something accepts connections at addr.
func waitListening(t *testing.T, addr string) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listening at %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkPassed asserts a passing report by version 1.
func checkPassed(t *testing.T, rep *checkReport, err error) {
	t.Helper()
	if err != nil || !rep.Pass || rep.Version != "1" || rep.Prediction == nil || len(rep.Steps) != 3 {
		t.Fatalf("got report %+v, error %v, want a pass by version 1 in 3 steps", rep, err)
	}
	for _, s := range rep.Steps {
		if !s.OK {
			t.Errorf("step %+v failed, want ok", s)
		}
	}
}

func TestConsumeCheck(t *testing.T) {
	t.Run("OKEmbedded", func(t *testing.T) {
		dir := t.TempDir()
		seedChampion(t, dir)
		addr := freePort(t)
		stop := startConsume(t, "--data-dir", dir, "--nats-listen", addr, "--log-level", "warn")
		waitListening(t, addr)
		rep, err := runCheck(t, "--data-dir", dir, "--stream", "nats://"+addr, "--timeout", "30s")
		checkPassed(t, rep, err)
		// A second check resumes after the first one's answer; text report.
		out, err := runCmd(t, "check", "--data-dir", dir, "--stream", "nats://"+addr, "--timeout", "30s")
		if err != nil || !strings.HasPrefix(out, "tripcast check: PASS") || strings.Count(out, " ok ") != 3 {
			t.Errorf("got %q, %v, want a PASS report with 3 ok steps", out, err)
		}
		t.Logf("check report:\n%s", out)

		t.Run("ErrNoConsumer", func(t *testing.T) {
			rep, err := runCheck(t, "--data-dir", dir, "--stream", "nats://"+addr, "--input", "nobody_reads", "--output", "nobody_writes", "--timeout", "300ms")
			if err == nil || rep.Pass || len(rep.Steps) != 2 || rep.Steps[1].OK {
				t.Errorf("got report %+v, error %v, want a failed output step and an error", rep, err)
			}
		})
		if out := stop(); !strings.Contains(out, "received 2, predicted 2, dead-lettered 0") {
			t.Errorf("got consume output %q, want 2 received and predicted", out)
		}
	})
	t.Run("OKExternalNATS", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", "127.0.0.1:4222", 2*time.Second)
		if err != nil {
			t.Skipf("NATS not reachable at 127.0.0.1:4222: %v", err)
		}
		conn.Close()
		dir := t.TempDir()
		seedChampion(t, dir)
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		x := hex.EncodeToString(b)
		in, out, dlq := "ride_events_"+x, "ride_predictions_"+x, "ride_events_dlq_"+x
		t.Cleanup(func() {
			s, err := stream.OpenNATS(context.Background(), "nats://127.0.0.1:4222", stream.NATSOptions{})
			if err != nil {
				return
			}
			defer s.Close()
			for _, n := range []string{in, out, dlq} {
				_ = s.DeleteStream(context.Background(), n)
			}
		})
		startConsume(t, "--data-dir", dir, "--stream", "nats://127.0.0.1:4222", "--input", in, "--output", out,
			"--dead-letter", dlq, "--consumer", "c_"+x, "--log-level", "warn")
		rep, err := runCheck(t, "--data-dir", dir, "--stream", "nats://127.0.0.1:4222", "--input", in, "--output", out, "--timeout", "30s")
		checkPassed(t, rep, err)
	})
	t.Run("ErrEmbedded", func(t *testing.T) {
		_, err := runCmd(t, "check", "--data-dir", t.TempDir())
		if tripcast.ErrorCode(err) != tripcast.EINVALID || tripcast.ErrorField(err) != "stream" {
			t.Errorf("got %v, want %s on field stream", err, tripcast.EINVALID)
		}
	})
}

func TestStreamBackends(t *testing.T) {
	ctx := context.Background()
	t.Run("OKEmbedded", func(t *testing.T) {
		a := &app{cfg: config.Default(), log: slog.New(slog.DiscardHandler)}
		a.cfg.DataDir = t.TempDir()
		s, err := a.stream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := s.(*stream.NATS); !ok {
			t.Errorf("got %T, want *stream.NATS", s)
		}
		if err := s.EnsureStream(ctx, "ride_events"); err != nil {
			t.Fatal(err)
		}
		if err := a.close(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, c := range []struct {
			stream, listen, field string
		}{
			{"redis://localhost", "", "stream"},
			{"nats://127.0.0.1:4222", "127.0.0.1:0", "nats-listen"},
		} {
			a := &app{cfg: config.Default(), log: slog.New(slog.DiscardHandler)}
			a.cfg.Stream = c.stream
			_, err := a.openStream(ctx, streamOptions{natsListen: c.listen})
			if tripcast.ErrorCode(err) != tripcast.EINVALID || tripcast.ErrorField(err) != c.field {
				t.Errorf("%s: got %v, want %s on field %s", c.stream, err, tripcast.EINVALID, c.field)
			}
		}
	})
}
