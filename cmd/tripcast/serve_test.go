package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tripcast"
	"tripcast/blob"
	"tripcast/internal/testfiles"
	"tripcast/predlog"
	"tripcast/sqlstore"
	"tripcast/sqlstore/sqlstoretest"
)

// startCmd runs the command tree with args in the background until the test
// ends; it returns a channel with its error.
func startCmd(t *testing.T, args ...string) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut bytes.Buffer
	root := newRootCmd(&out, &errOut)
	root.SetArgs(args)
	errc := make(chan error, 1)
	go func() { errc <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("tripcast %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
			}
		case <-time.After(20 * time.Second):
			t.Errorf("tripcast %s did not stop", strings.Join(args, " "))
		}
	})
	return errc
}

// waitReady polls url until it answers 200.
func waitReady(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not ready in 30 s", url)
}

func postJSON(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return resp.StatusCode, m
}

func TestServe(t *testing.T) {
	dir := t.TempDir()
	base := []string{"--data-dir", dir, "--log-level", "warn"}
	mustRun := mustRunWith(t, base...)
	mustRun("ingest", "--rule", "course", "--from", testfiles.Green(t, "2021-01"), "--from", testfiles.Green(t, "2021-02"))
	addr := freePort(t)
	startCmd(t, append([]string{"serve", "--listen", addr, "--follow-every", "100ms"}, base...)...)

	// No model yet: not ready, predictions refused with 503.
	time.Sleep(200 * time.Millisecond)
	if code, m := postJSON(t, "http://"+addr+"/v1/predict", `{"ride_id": 1, "ride": {"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}}`); code != 503 {
		t.Fatalf("before a model: got %d %v, want 503", code, m)
	}
	mustRun("train", "--train", "2021-01", "--valid", "2021-02", "--promote-if-better", "--param", "num_boost_round=10", "--param", "max_depth=4")
	waitReady(t, "http://"+addr+"/readyz")

	code, m := postJSON(t, "http://"+addr+"/v1/predict", `{"ride_id": 256, "ride": {"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}}`)
	pred, _ := m["prediction"].(map[string]any)
	if code != 200 || m["version"] != "1" || m["model"] != "ride_duration_prediction_model" || pred["ride_id"] != float64(256) || pred["ride_duration"].(float64) <= 0 {
		t.Fatalf("got %d %v", code, m)
	}
	code, m = postJSON(t, "http://"+addr+"/v1/predict", `{"ride_id": 256, "ride": {"PULocationID": 999, "DOLocationID": 205, "trip_distance": 3.66}}`)
	if code != 400 || m["field"] != "ride.PULocationID" {
		t.Fatalf("bad zone: got %d %v, want 400 naming ride.PULocationID", code, m)
	}

	// A better model is promoted: the server swaps to it.
	mustRun("train", "--train", "2021-01", "--valid", "2021-02", "--promote-if-better", "--param", "num_boost_round=30", "--param", "max_depth=6", "--param", "eta=0.3")
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, m = postJSON(t, "http://"+addr+"/v1/predict", `{"ride_id": "x", "PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}`)
		if m["version"] == "2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still serving %v 10 s after version 2 became champion", m["version"])
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The course's web service answers with the same model.
	code, m = postJSON(t, "http://"+addr+"/predict", `{"PULocationID": 10, "DOLocationID": 50, "trip_distance": 40}`)
	if d, _ := m["duration"].(float64); code != 200 || m["model_version"] != "2" || d <= 0 || len(m) != 2 {
		t.Fatalf("/predict: got %d %v, want 200 {duration, model_version 2}", code, m)
	}

	staleChampion(t, dir, addr, base)

	// The simulator replays real rides against the server.
	var sum struct {
		Sent   int `json:"sent"`
		Failed int `json:"failed"`
		HTTP   map[string]any
	}
	out := mustRun("simulate", "--input", "2021-02", "--target", "http://"+addr, "--max-events", "25", "--interval", "1ms", "--json")
	if err := json.Unmarshal([]byte(out), &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 25 || sum.Failed != 0 {
		t.Fatalf("simulate: got %s", out)
	}

	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "tripcast_http_requests_total") {
		t.Fatalf("metrics lack tripcast_http_requests_total")
	}
}

// staleChampion tampers with version 1's artifact: promote and rollback
// refuse to make it champion again; when a writer that does not check
// (an older tripcast) moves the alias anyway, the server keeps serving
// version 2 and /readyz says so.
func staleChampion(t *testing.T, dir, addr string, base []string) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, "sqlite://"+filepath.ToSlash(filepath.Join(dir, "tripcast.db")), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v1, err := db.GetVersion(ctx, tripcast.DefaultModelName, 1)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "blobs", filepath.FromSlash(v1.ArtifactKey))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, bytes.Replace(b, []byte(`"1`), []byte(`"2`), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"models", "promote", "1", "--alias", "champion", "--reason", "back to 1"},
		{"models", "rollback", "--alias", "champion"},
	} {
		_, err := runCmd(t, append(args, base...)...)
		if tripcast.ErrorCode(err) != tripcast.ECONFLICT || !strings.Contains(err.Error(), "checksum did not match") {
			t.Errorf("%s: got %v, want refused: checksum did not match", strings.Join(args, " "), err)
		}
	}
	if _, err := db.SetAlias(ctx, tripcast.DefaultModelName, tripcast.ChampionAlias, 1, "unchecked", "old-tripcast"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 && strings.Contains(string(body), `"status":"degraded"`) &&
			strings.Contains(string(body), "serving version 2 while champion is 1") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: got %d %s, want 200 degraded: serving version 2 while champion is 1", resp.StatusCode, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, m := postJSON(t, "http://"+addr+"/v1/predict", `{"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}`); code != 200 || m["version"] != "2" {
		t.Errorf("got %d %v, want version 2 still serving", code, m)
	}
	// Back to a champion that loads, for the rest of the test.
	if _, err := db.SetAlias(ctx, tripcast.DefaultModelName, tripcast.ChampionAlias, 2, "restore", "test"); err != nil {
		t.Fatal(err)
	}
}

// writeOldLog writes five prediction log files, one record each, into the
// hour that began three hours ago in dir's blob store; it returns the store
// and a function counting that hour's files.
func writeOldLog(t *testing.T, dir string) (tripcast.BlobStore, time.Time, func() int) {
	t.Helper()
	ctx := context.Background()
	store, err := blob.NewFile(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Hour)
	w := predlog.New(store, predlog.Options{FlushInterval: time.Hour})
	for i := range 5 {
		rec := tripcast.PredictionRecord{RideID: fmt.Sprint("r", i), Model: tripcast.DefaultModelName, Version: "1",
			PULocationID: 130, DOLocationID: 205, TripDistance: 3.66, Prediction: 12.5, ReceivedAt: at.Add(time.Duration(i) * time.Minute),
			PredictedAt: at.Add(time.Duration(i)*time.Minute + time.Millisecond), Latency: time.Millisecond, Source: tripcast.SourceHTTP}
		if err := w.Log(ctx, []tripcast.PredictionRecord{rec}); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("predictions/date=%s/hour=%02d/", at.Format(time.DateOnly), at.Hour())
	files := func() int {
		list, err := store.List(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		return len(list)
	}
	if n := files(); n != 5 {
		t.Fatalf("got %d files under %s, want 5", n, prefix)
	}
	return store, at, files
}

// TestServeCompactsLog: a serving process merges the prediction log's
// finished hours (here, five files written three hours ago) into one file
// each, every compact_every; a bad compact_every is refused by name.
func TestServeCompactsLog(t *testing.T) {
	dir := t.TempDir()
	store, at, files := writeOldLog(t, dir)
	base := []string{"--data-dir", dir, "--log-level", "warn"}
	if _, err := runCmd(t, append([]string{"serve", "--listen", freePort(t), "--compact-every", "soon"}, base...)...); err == nil || !strings.Contains(err.Error(), "compact_every") {
		t.Errorf("--compact-every soon: got %v, want an error naming compact_every", err)
	}
	startCmd(t, append([]string{"serve", "--listen", freePort(t), "--compact-every", "100ms"}, base...)...)
	deadline := time.Now().Add(20 * time.Second)
	for files() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("got %d files 20 s after serve started, want 1", files())
		}
		time.Sleep(50 * time.Millisecond)
	}
	recs, err := predlog.Read(context.Background(), store, at, at.Add(time.Hour))
	if err != nil || len(recs) != 5 {
		t.Errorf("after compaction: got %d records (%v), want 5", len(recs), err)
	}
}

// TestCompactCmd: tripcast compact merges the finished hours now, does
// nothing the second time, and nothing while another process holds the
// compaction lease.
func TestCompactCmd(t *testing.T) {
	dir := t.TempDir()
	_, _, files := writeOldLog(t, dir)
	mustRun := mustRunWith(t, "--data-dir", dir, "--log-level", "warn")
	db := sqlstoretest.MustOpen(t, "sqlite://"+filepath.ToSlash(filepath.Join(dir, "tripcast.db")))
	if ok, err := db.TryLease(context.Background(), predlog.CompactLease, "someone else", time.Hour); !ok || err != nil {
		t.Fatalf("TryLease: %v, %v", ok, err)
	}
	if out := mustRun("compact"); !strings.Contains(out, "another process") || files() != 5 {
		t.Errorf("lease held elsewhere: got %q and %d files, want nothing done", out, files())
	}
	if err := db.ReleaseLease(context.Background(), predlog.CompactLease, "someone else"); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Held         bool
		Hours, Files int
	}
	for i, want := range []struct{ hours, files int }{{1, 5}, {0, 0}} {
		if err := json.Unmarshal([]byte(mustRun("compact", "--json")), &res); err != nil {
			t.Fatal(err)
		}
		if !res.Held || res.Hours != want.hours || res.Files != want.files || files() != 1 {
			t.Errorf("pass %d: got %+v and %d files left, want %d hours, %d files compacted, 1 file left", i+1, res, files(), want.hours, want.files)
		}
	}
}
