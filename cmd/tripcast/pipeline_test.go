package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tripcast"
	"tripcast/internal/testfiles"
	"tripcast/monitoring"
)

// startWorker runs tripcast worker with args until the test ends.
func startWorker(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out, errOut bytes.Buffer
	go func() {
		root := newRootCmd(&out, &errOut)
		root.SetArgs(append([]string{"worker"}, args...))
		done <- root.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: %v", err)
		}
	})
}

func TestPipelineCmd(t *testing.T) {
	dir := t.TempDir()
	run := mustRunWith(t, "--data-dir", dir)
	run("ingest", "--from", testfiles.Green(t, "2021-01"), "--from", testfiles.Green(t, "2021-02"))
	startWorker(t, "--data-dir", dir, "--pipeline-retries", "0", "--pipeline-param", "num_boost_round=10",
		"--schedule", "train=off", "--schedule", "monitor=off", "--schedule", "batch=off")

	t.Run("RunWait", func(t *testing.T) {
		run := mustRunWith(t, "--data-dir", dir)
		var r tripcast.PipelineRun
		out := run("pipeline", "run", "train", "--train", "2021-01", "--valid", "2021-02", "--wait", "--json")
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if r.Status != tripcast.PipelineSucceeded || len(r.Steps) != 5 || r.Step("promote").Outputs["alias"] != "champion" {
			t.Fatalf("got %+v, want succeeded in 5 steps, promoted champion", r)
		}
		shown := run("pipeline", "show", r.ID)
		if !strings.Contains(shown, "status    succeeded") || !strings.Contains(shown, "version=1") {
			t.Errorf("show: got %s, want the run succeeded with version 1", shown)
		}
		_, err := runCmd(t, "pipeline", "cancel", r.ID, "--data-dir", dir)
		if tripcast.ErrorCode(err) != tripcast.ECONFLICT {
			t.Errorf("cancel of an ended run: got %v, want a conflict", err)
		}
	})
	t.Run("Monitor", func(t *testing.T) {
		// The monitor pipeline reports the champion's window ending at the
		// logical date against its stored reference (no predictions were
		// logged then: a report that says so, stored like a scheduled one).
		run := mustRunWith(t, "--data-dir", dir)
		var r tripcast.PipelineRun
		out := run("pipeline", "run", "monitor", "--date", "2021-03-01", "--wait", "--json")
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		step := r.Step("report")
		if r.Status != tripcast.PipelineSucceeded || step == nil || step.Outputs["version"] != "1" || step.Outputs["rows"] != "0" {
			t.Fatalf("got %s, want succeeded with a report of version 1 over 0 rows", out)
		}
		prefix := step.Outputs["report"]
		if !strings.HasPrefix(prefix, "monitoring/") {
			t.Fatalf("report prefix %q, want monitoring/...", prefix)
		}
		for _, name := range []string{monitoring.ReportJSON, monitoring.ReportHTML} {
			if _, err := os.Stat(filepath.Join(dir, "blobs", filepath.FromSlash(prefix+name))); err != nil {
				t.Errorf("report file %s: %v", name, err)
			}
		}
	})
	t.Run("Backfill", func(t *testing.T) {
		run := mustRunWith(t, "--data-dir", dir)
		var runs []*tripcast.PipelineRun
		out := run("pipeline", "backfill", "batch", "--from", "2021-02", "--to", "2021-03", "--json")
		if err := json.Unmarshal([]byte(out), &runs); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if len(runs) != 2 {
			t.Fatalf("got %d runs, want 2", len(runs))
		}
		for i, want := range []string{"year=2021/month=01", "year=2021/month=02"} {
			r := runs[i]
			if r.Status != tripcast.PipelineSucceeded || r.Trigger != "backfill" || !strings.Contains(r.Step("score").Outputs["output_key"], want) {
				t.Errorf("run %d: got %+v, want succeeded backfill writing %s", i, r, want)
			}
		}
		var list []*tripcast.PipelineRun
		if err := json.Unmarshal([]byte(run("pipeline", "list", "--json")), &list); err != nil {
			t.Fatal(err)
		}
		if len(list) != 4 || list[0].CreatedAt.Before(list[3].CreatedAt) {
			t.Errorf("list: got %d runs, want 4 (train, monitor, two batches), newest first", len(list))
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for _, args := range [][]string{
			{"pipeline", "run", "nope"},
			{"pipeline", "run", "train", "--train", "2021-1", "--valid", "2021-02"},
			{"pipeline", "run", "train", "--date", "yesterday"},
			{"pipeline", "backfill", "batch", "--from", "2021-04", "--to", "2021-03"},
			{"worker", "--schedule", "train=every day"},
		} {
			_, err := runCmd(t, append(args, "--data-dir", dir)...)
			if tripcast.ErrorCode(err) != tripcast.EINVALID {
				t.Errorf("%s: got %v, want an invalid-input error", strings.Join(args, " "), err)
			}
		}
	})
}
