package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tripcast"
	"tripcast/internal/testfiles"
	"tripcast/sqlstore"
	"tripcast/stream"
)

// openDataDB opens the default metadata database of dataDir.
func openDataDB(t *testing.T, dataDir string) *sqlstore.DB {
	t.Helper()
	db, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.ToSlash(filepath.Join(dataDir, "tripcast.db")), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// joinedCount counts the joined rows of the last hour.
func joinedCount(t *testing.T, db *sqlstore.DB) int {
	t.Helper()
	n := 0
	err := db.ReadJoined(context.Background(), tripcast.PredictionQuery{From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour)},
		func(*tripcast.PredictionRecord, float64) error { n++; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// publishTo publishes events to stream name of the NATS server at addr.
func publishTo(t *testing.T, addr, name string, events ...string) {
	t.Helper()
	ctx := context.Background()
	st, err := stream.OpenNATS(ctx, "nats://"+addr, stream.NATSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.EnsureStream(ctx, name); err != nil {
		t.Fatal(err)
	}
	for _, ev := range events {
		if err := st.Publish(ctx, name, "k", []byte(ev)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUpGroundTruth: tripcast up consumes the ground truth that tripcast
// simulate --ground-truth sends for real rides (each completion follows its
// ride event at once, so it often arrives before the prediction is
// logged): every prediction joins its ride's duration; a duplicate, an
// unknown ride and a bad event are counted.
func TestUpGroundTruth(t *testing.T) {
	dir := t.TempDir()
	httpAddr, natsAddr := startUp(t, dir, "--param", "num_boost_round=10", "--param", "max_depth=4")
	waitListening(t, natsAddr)
	const n = 30
	out, err := runCmd(t, "simulate", "--data-dir", dir, "--input", testfiles.Green(t, "2021-02"), "--target", "nats://"+natsAddr,
		"--ground-truth", "--max-events", "30", "--interval", "0", "--time-scale", "0")
	if err != nil || !strings.Contains(out, "ground truth sent 30") {
		t.Fatalf("simulate: %v\n%s", err, out)
	}
	publishTo(t, natsAddr, tripcast.RideCompletedStream,
		`{"type":"ride_completed","ride_id":"2021/02_0","duration":99}`, // a duplicate: the first stays
		`{"type":"ride_completed","ride_id":"no-such-ride","duration":7.5}`,
		`{"type":"ride_completed","ride_id":"2021/02_1"}`)
	db := openDataDB(t, dir)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := db.CountCompletions(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		got := joinedCount(t, db)
		if got == n && c == (sqlstore.CompletionCounts{Completions: n + 1, Unmatched: 1}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: %d joined rows, %+v, want %d rows, %d completions, 1 unmatched", got, c, n, n+1)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if c, err := db.GetCompletion(context.Background(), "2021/02_0"); err != nil || c.Duration == 99 {
		t.Errorf("got %+v, %v, want the first completion of ride 2021/02_0", c, err)
	}
	// The counters follow the batch's commit: wait for them too.
	for _, want := range []string{"tripcast_ground_truth_duplicates_total 1", `tripcast_ground_truth_dead_letters_total{reason="duration"} 1`,
		"tripcast_ground_truth_stored_total 31", "tripcast_ground_truth_received_total 33"} {
		for m := ""; !strings.Contains(m, want); {
			if time.Now().After(deadline) {
				t.Fatalf("/metrics lacks %q:\n%s", want, m)
			}
			resp, err := http.Get("http://" + httpAddr + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if m = string(b); !strings.Contains(m, want) {
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
}

// TestTruth runs the ground-truth role on its own: it stores the
// completions of its stream in the metadata database.
func TestTruth(t *testing.T) {
	dir := t.TempDir()
	natsAddr := freePort(t)
	startCmd(t, "truth", "--data-dir", dir, "--log-level", "warn", "--nats-listen", natsAddr)
	waitListening(t, natsAddr)
	publishTo(t, natsAddr, tripcast.RideCompletedStream,
		`{"type":"ride_completed","ride_id":256,"duration":21.7,"dropoff_datetime":"2021-01-01T00:28:26"}`,
		`{"type":"ride_completed","ride_id":256,"duration":21.7,"dropoff_datetime":"2021-01-01T00:28:26"}`)
	db := openDataDB(t, dir)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := db.GetCompletion(context.Background(), "256")
		if err == nil {
			if !c.RideIDNumeric || c.Duration != 21.7 || c.Stream != tripcast.RideCompletedStream {
				t.Fatalf("got %+v", c)
			}
			break
		}
		if tripcast.ErrorCode(err) != tripcast.ENOTFOUND || time.Now().After(deadline) {
			t.Fatalf("completion of ride 256: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
