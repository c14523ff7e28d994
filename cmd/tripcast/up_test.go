package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tripcast/dataset"
	"tripcast/internal/testfiles"
)

// startUp runs tripcast up on dir, listening for HTTP and embedded NATS
// on free ports, bootstrapping from green 2021-01 with the extra args, and
// waits until it is ready; it returns the two addresses.
func startUp(t *testing.T, dir string, args ...string) (httpAddr, natsAddr string) {
	t.Helper()
	httpAddr, natsAddr = freePort(t), freePort(t)
	startCmd(t, append([]string{"up", "--data-dir", dir, "--log-level", "warn", "--listen", httpAddr, "--nats-listen", natsAddr,
		"--from", testfiles.Green(t, "2021-01")}, args...)...)
	waitReady(t, "http://"+httpAddr+"/readyz")
	return httpAddr, natsAddr
}

// TestUp starts tripcast up on an empty data dir: it bootstraps a champion
// from a real TLC month, then serves over HTTP and from its embedded stream.
func TestUp(t *testing.T) {
	dir := t.TempDir()
	httpAddr, natsAddr := startUp(t, dir, "--param", "num_boost_round=20", "--param", "max_depth=5")
	// Readiness reports the stream consumer, the stream engine and the
	// prediction log besides the model.
	resp, err := http.Get("http://" + httpAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var rd struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	err = json.NewDecoder(resp.Body).Decode(&rd)
	resp.Body.Close()
	if err != nil || rd.Status != "ready" {
		t.Fatalf("/readyz: got %+v (%v), want ready", rd, err)
	}
	for _, name := range []string{"consumer", "stream", "prediction_log"} {
		if rd.Checks[name] != "ok" {
			t.Errorf("/readyz check %s: got %q, want ok (checks %v)", name, rd.Checks[name], rd.Checks)
		}
	}

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

// TestUpSample starts tripcast up on an empty data dir with neither --from
// nor --month: it bootstraps from the TLC sample built into the binary (no
// files, no network) and answers predictions.
func TestUpSample(t *testing.T) {
	dir := t.TempDir()
	httpAddr := freePort(t)
	startCmd(t, "up", "--data-dir", dir, "--log-level", "warn", "--listen", httpAddr, "--param", "num_boost_round=20")
	waitReady(t, "http://"+httpAddr+"/readyz")
	code, m := postJSON(t, "http://"+httpAddr+"/v1/predict", `{"ride_id":1,"PULocationID":130,"DOLocationID":205,"trip_distance":3.66}`)
	if pred, _ := m["prediction"].(map[string]any); code != 200 || m["version"] != "1" || pred["ride_duration"] == nil {
		t.Fatalf("got %d %v, want a prediction of version 1", code, m)
	}
	// The champion was trained on the sample's 2021-01, validated on its
	// 2021-02 (half the TLC rows each), stored as datasets like ingest's.
	for month, rows := range map[string]int{"2021-01": 38259, "2021-02": 32286} {
		b, err := os.ReadFile(filepath.Join(dir, "blobs", "datasets", "green", month, "default", "manifest.json"))
		if err != nil {
			t.Fatal(err)
		}
		var man dataset.Manifest
		if err := json.Unmarshal(b, &man); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(man.Report.File, "built-in sample ") || man.Report.RowsRead != rows {
			t.Fatalf("%s: got file %q with %d rows, want the built-in sample's %d", month, man.Report.File, man.Report.RowsRead, rows)
		}
	}
}

// TestUpDownload bootstraps from months downloaded from a TLC trip-data
// site (a local server with the real files: there is no internet here).
func TestUpDownload(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/trip-data/", http.StripPrefix("/trip-data/", http.FileServer(http.Dir(testfiles.TLCDir(t)))))
	mux.Handle("/misc/", http.StripPrefix("/misc/", http.FileServer(http.Dir(testfiles.TLCDir(t)))))
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
	// The months went through tripcast ingest's download path: the raw
	// files, the datasets and the zone lookup are stored.
	for _, key := range []string{"raw/green/2021-01.parquet", "datasets/green/2021-02/default/manifest.json", dataset.ZonesKey} {
		if _, err := os.Stat(filepath.Join(dir, "blobs", key)); err != nil {
			t.Errorf("got %v, want %s stored", err, key)
		}
	}
	t.Run("ErrNotPublished", func(t *testing.T) {
		_, err := runCmd(t, "up", "--data-dir", t.TempDir(), "--log-level", "warn", "--listen", freePort(t),
			"--base-url", srv.URL+"/trip-data/", "--month", "2031-01")
		if err == nil || !strings.Contains(err.Error(), "not published") {
			t.Fatalf("got %v, want a month-not-published error", err)
		}
	})
}
