package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"tripcast/internal/kinesisevent"
	"tripcast/internal/testfiles"
)

func TestLambdaEvent(t *testing.T) {
	dir := t.TempDir()
	base := []string{"--data-dir", dir, "--log-level", "warn"}
	mustRun := mustRunWith(t, base...)
	mustRun("train", "--train", testfiles.Green(t, "2021-01"), "--valid", testfiles.Green(t, "2021-02"),
		"--promote-if-better", "--param", "num_boost_round=10", "--param", "max_depth=4")
	event := filepath.Join(dir, "event.json")
	os.WriteFile(event, kinesisevent.Course(
		`{"ride": {"PULocationID": 130, "DOLocationID": 205, "trip_distance": 3.66}, "ride_id": 256}`,
		`{"ride": {"PULocationID": 130, "DOLocationID": 999, "trip_distance": 3.66}, "ride_id": 257}`,
	), 0o644)
	out := mustRun("lambda", "--event", event)
	var resp struct {
		Predictions []struct {
			Model      string `json:"model"`
			Version    string `json:"version"`
			Prediction struct {
				RideDuration float64     `json:"ride_duration"`
				RideID       json.Number `json:"ride_id"` // a number, as it came
			} `json:"prediction"`
		} `json:"predictions"`
		BatchItemFailures []json.RawMessage `json:"batchItemFailures"`
		DeadLettered      int               `json:"deadLettered"`
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(resp.Predictions) != 1 || resp.Predictions[0].Version != "1" || resp.Predictions[0].Prediction.RideID != "256" ||
		resp.Predictions[0].Prediction.RideDuration <= 0 || resp.DeadLettered != 1 || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("got %s", out)
	}
}
