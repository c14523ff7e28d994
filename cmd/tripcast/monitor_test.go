package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tripcast/internal/testfiles"
	"tripcast/tlc"
)

func TestMonitorCmd(t *testing.T) {
	dir := t.TempDir()
	base := []string{"--data-dir", dir, "--log-level", "warn"}
	run := func(t *testing.T, args ...string) (string, error) {
		t.Helper()
		return runCmd(t, append(append([]string{}, args...), base...)...)
	}
	must := func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := run(t, args...)
		if err != nil {
			t.Fatalf("tripcast %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
	must(t, "ingest", "--rule", "course", "--from", testfiles.Green(t, "2021-01"), "--from", testfiles.Green(t, "2021-02"))
	must(t, "train", "--train", "2021-01", "--valid", "2021-02", "--promote-if-better",
		"--param", "num_boost_round=30", "--param", "max_depth=6", "--param", "eta=0.3")

	type report struct {
		DatasetDrift       bool           `json:"dataset_drift"`
		ShareDrifted       *float64       `json:"share_drifted"`
		PredictionDrift    *float64       `json:"prediction_drift"`
		ShareMissingValues *float64       `json:"share_missing_values"`
		RMSE               *float64       `json:"rmse"`
		MAE                *float64       `json:"mae"`
		R2                 *float64       `json:"r2"`
		Columns            map[string]any `json:"columns"`
		Rows               int64          `json:"rows"`
		Note               string         `json:"note"`
	}
	t.Run("OK", func(t *testing.T) {
		var r report
		out := must(t, "monitor", "--current", testfiles.Green(t, "2021-02"), "--json", "--fail-on", "drift")
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if r.DatasetDrift || r.ShareDrifted == nil || r.PredictionDrift == nil || r.RMSE == nil || r.MAE == nil || r.R2 == nil || len(r.Columns) < 8 {
			t.Fatalf("2021-02 against the 2021-01 model's reference: got %s", out)
		}
		html := filepath.Join(dir, "report.html")
		_, err := run(t, "monitor", "--current", testfiles.Green(t, "2023-03"), "--fail-on", "drift", "--html", html)
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 3 || !strings.Contains(err.Error(), "prediction_drifted") {
			t.Fatalf("2023-03 with --fail-on drift: got %v, want exit status 3 naming prediction_drifted", err)
		}
		if b, err := os.ReadFile(html); err != nil || !strings.Contains(string(b), "<svg") {
			t.Fatalf("--html: %v", err)
		}
		stored, _ := filepath.Glob(filepath.Join(dir, "blobs", "monitoring", "*", "*", "report.json"))
		if len(stored) != 2 {
			t.Fatalf("stored reports %v, want 2", stored)
		}
	})
	t.Run("EmptyLog", func(t *testing.T) {
		// A backfill of 3 days of an empty prediction log: 3 reports
		// that say so, no failure.
		var rs []report
		out := must(t, "monitor", "--since", "2023-03-01", "--until", "2023-03-04", "--window", "24h", "--json", "--fail-on", "drift,quality,rmse")
		if err := json.Unmarshal([]byte(out), &rs); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if len(rs) != 3 || rs[0].Rows != 0 || rs[0].Note == "" || rs[2].PredictionDrift != nil || strings.Contains(out, "NaN") {
			t.Fatalf("got %s", out)
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, args := range [][]string{
			{"monitor"},
			{"monitor", "--current", "x", "--since", "2023-03-01", "--until", "2023-03-02"},
			{"monitor", "--since", "2023-03-01", "--until", "2023-03-02", "--fail-on", "latency"},
			{"monitor", "--since", "March", "--until", "2023-03-02"},
		} {
			if _, err := run(t, args...); err == nil {
				t.Errorf("tripcast %s: no error", strings.Join(args, " "))
			}
		}
	})
}

// TestMonitorServe: a server of a 2021-01 model answers green 2023-03 rides;
// its scheduled report of a window shows prediction drift and the alert
// webhook receives the firing alert.
func TestMonitorServe(t *testing.T) {
	dir := t.TempDir()
	base := []string{"--data-dir", dir, "--log-level", "warn"}
	mustRun := mustRunWith(t, base...)
	mustRun("ingest", "--rule", "course", "--from", testfiles.Green(t, "2021-01"), "--from", testfiles.Green(t, "2021-02"))
	mustRun("train", "--train", "2021-01", "--valid", "2021-02", "--promote-if-better", "--param", "num_boost_round=30", "--param", "max_depth=6", "--param", "eta=0.3")
	alerts := make(chan map[string]any, 100)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if json.NewDecoder(r.Body).Decode(&m) == nil {
			alerts <- m
		}
	}))
	defer hook.Close()
	addr := freePort(t)
	startCmd(t, append([]string{"serve", "--listen", addr, "--monitor-window", "2s", "--alert-rules", "prediction_drift",
		"--alert-webhooks", hook.URL}, base...)...)
	waitReady(t, "http://"+addr+"/readyz")

	mar, _, err := tlc.LoadFile(testfiles.Green(t, "2023-03"), tlc.RuleCourse)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; ; i++ {
		select {
		case m := <-alerts:
			if m["status"] != "firing" || m["rule"] != "prediction_drifted" || !strings.Contains(m["text"].(string), "prediction_drifted") {
				t.Fatalf("webhook got %v, want prediction_drifted firing", m)
			}
			stored, _ := filepath.Glob(filepath.Join(dir, "blobs", "monitoring", "*", "*", "report.json"))
			if len(stored) == 0 {
				t.Fatal("no stored report")
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no alert 60 s into replaying 2023-03")
		}
		j := i % mar.Len()
		body := fmt.Sprintf(`{"ride_id": %d, "ride": {"PULocationID": %d, "DOLocationID": %d, "trip_distance": %g}}`,
			i, mar.PULocationID[j], mar.DOLocationID[j], mar.TripDistance[j])
		if code, m := postJSON(t, "http://"+addr+"/v1/predict", body); code != 200 {
			t.Fatalf("predict: got %d %v", code, m)
		}
	}
}
