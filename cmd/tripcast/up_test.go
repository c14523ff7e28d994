package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"tripcast/internal/testfiles"
)

// TestUp starts tripcast up on an empty data dir: it bootstraps a champion
// from a real TLC month, then serves over HTTP and from its embedded stream.
func TestUp(t *testing.T) {
	dir := t.TempDir()
	httpAddr, natsAddr := freePort(t), freePort(t)
	startCmd(t, "up", "--data-dir", dir, "--log-level", "warn", "--listen", httpAddr, "--nats-listen", natsAddr,
		"--from", testfiles.Green(t, "2021-01"), "--param", "num_boost_round=20", "--param", "max_depth=5")
	waitReady(t, "http://"+httpAddr+"/readyz")

	code, m := postJSON(t, "http://"+httpAddr+"/v1/predict", `{"ride_id": 256, "ride": {"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}}`)
	if code != 200 || m["version"] != "1" {
		t.Fatalf("HTTP: got %d %v", code, m)
	}
	// The stream path: one ride through the embedded NATS, its answer on
	// ride_predictions and in the prediction log.
	waitListening(t, natsAddr)
	rep, err := runCheck(t, "--data-dir", dir, "--stream", "nats://"+natsAddr, "--timeout", "30s")
	checkPassed(t, rep, err)

	// The registry says how the champion came to be.
	out, err := runCmd(t, "models", "show", "champion", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "first champion") {
		t.Fatalf("models show champion: %v\n%s", err, out)
	}
}

// TestUpDownload bootstraps from months downloaded from a TLC trip-data
// site (a local server with the real files: there is no internet here).
func TestUpDownload(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/trip-data/", http.StripPrefix("/trip-data/", http.FileServer(http.Dir(testfiles.TLCDir(t)))))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	dir := t.TempDir()
	httpAddr := freePort(t)
	startCmd(t, "up", "--data-dir", dir, "--log-level", "warn", "--listen", httpAddr, "--base-url", srv.URL+"/trip-data/",
		"--month", "2021-01", "--month", "2021-02", "--param", "num_boost_round=10", "--param", "max_depth=4")
	waitReady(t, "http://"+httpAddr+"/readyz")
	code, m := postJSON(t, "http://"+httpAddr+"/v1/predict", `{"ride_id": 1, "PULocationID": 74, "DOLocationID": 75, "trip_distance": 1.2}`)
	if code != 200 || m["version"] != "1" {
		t.Fatalf("got %d %v", code, m)
	}
	out, err := runCmd(t, "runs", "list", "--json", "--data-dir", dir)
	if err != nil || !strings.Contains(out, "bootstrap") {
		t.Fatalf("runs list: %v\n%s", err, out)
	}
	t.Run("ErrNotPublished", func(t *testing.T) {
		_, err := runCmd(t, "up", "--data-dir", t.TempDir(), "--log-level", "warn", "--listen", freePort(t),
			"--base-url", srv.URL+"/trip-data/", "--month", "2031-01")
		if err == nil || !strings.Contains(err.Error(), "not published") {
			t.Fatalf("got %v, want a month-not-published error", err)
		}
	})
}
