package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"tripcast"
	"tripcast/blob"
	"tripcast/linear"
	"tripcast/model"
	"tripcast/sqlstore/sqlstoretest"
	"tripcast/tracking"
)

// seedRegistry records, through the packages, a tuning run with one trial
// and two registered versions of the default model; it returns the run ids.
func seedRegistry(t *testing.T, dbURL, blobDir string) (parent, trial string) {
	t.Helper()
	ctx := context.Background()
	tr := mustTracker(t, dbURL, blobDir)
	run, err := tr.StartRun(ctx, "nyc-taxi", "tune", "")
	if err != nil {
		t.Fatal(err)
	}
	child, err := run.StartChild(ctx, "trial-0")
	if err != nil {
		t.Fatal(err)
	}
	if err := child.LogParams(ctx, map[string]string{"max_depth": "6"}); err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := child.LogMetric(ctx, "valid_rmse", 8-float64(i)/10, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	for i, rmse := range []float64{6.5, 6.1} {
		// A real (linear) model: an alias only moves to an artifact that decodes.
		var buf bytes.Buffer
		if _, err := (&model.Artifact{Kind: model.Linear, Linear: &linear.Model{Intercept: float64(i), Distance: 2}}).WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		art, err := child.LogArtifact(ctx, fmt.Sprintf("model-%d.json", i), &buf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tr.RegisterVersion(ctx, tripcast.DefaultModelName, tracking.NewVersion{RunID: child.ID, ArtifactKey: art.Key,
			SHA256: art.SHA256, Metrics: map[string]float64{"valid_rmse": rmse}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := child.End(ctx, tripcast.RunFinished); err != nil {
		t.Fatal(err)
	}
	if err := run.End(ctx, tripcast.RunFinished); err != nil {
		t.Fatal(err)
	}
	return run.ID, child.ID
}

// mustTracker opens a tracker over dbURL and a file blob store in blobDir,
// both closed when the test ends.
func mustTracker(t *testing.T, dbURL, blobDir string) *tracking.Tracker {
	t.Helper()
	blobs, err := blob.NewFile(blobDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	return tracking.New(sqlstoretest.MustOpen(t, dbURL), blobs, slog.New(slog.DiscardHandler))
}

// registerRaw registers content, sha256 and all, as the next version of
// the default model, and returns its number.
func registerRaw(t *testing.T, dbURL, blobDir, content string) int {
	t.Helper()
	ctx := context.Background()
	tr := mustTracker(t, dbURL, blobDir)
	run, err := tr.StartRun(ctx, "nyc-taxi", "raw", "")
	if err != nil {
		t.Fatal(err)
	}
	art, err := run.LogArtifact(ctx, "model.json", strings.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	v, err := tr.RegisterVersion(ctx, tripcast.DefaultModelName, tracking.NewVersion{RunID: run.ID, ArtifactKey: art.Key})
	if err != nil {
		t.Fatal(err)
	}
	return v.Version
}

// TestModelsCmd runs `tripcast runs …` and `tripcast models …` end to end,
// on the default SQLite file in the data dir and on PostgreSQL (--db).
func TestModelsCmd(t *testing.T) {
	t.Setenv("USER", "carol")
	sqlstoretest.ForEach(t, func(t *testing.T, e sqlstoretest.Engine) {
		dataDir := t.TempDir()
		dbURL := "sqlite://" + filepath.ToSlash(filepath.Join(dataDir, "tripcast.db")) // the default
		args := []string{"--data-dir", dataDir}
		if e.Name != "sqlite" {
			dbURL = e.Fresh(t)
			args = append(args, "--db", dbURL)
		}
		parent, trial := seedRegistry(t, dbURL, filepath.Join(dataDir, "blobs"))
		run := func(t *testing.T, more ...string) (string, error) {
			t.Helper()
			return runCmd(t, append(cloneArgs(args), more...)...)
		}
		mustRun := func(t *testing.T, more ...string) string {
			t.Helper()
			out, err := run(t, more...)
			if err != nil {
				t.Fatalf("tripcast %s: %v", strings.Join(more, " "), err)
			}
			return out
		}
		decode := func(t *testing.T, out string, v any) {
			t.Helper()
			if err := json.Unmarshal([]byte(out), v); err != nil {
				t.Fatalf("decode %q: %v", out, err)
			}
		}

		t.Run("OK", func(t *testing.T) {
			var runs []tripcast.Run
			decode(t, mustRun(t, "runs", "list", "--experiment", "nyc-taxi", "--json"), &runs)
			if len(runs) != 2 || runs[0].ID != trial || runs[1].ID != parent || runs[0].ParentID != parent {
				t.Fatalf("got runs %+v, want the trial then its parent", runs)
			}
			if out := mustRun(t, "runs", "list"); !strings.Contains(out, trial) || !strings.Contains(out, "FINISHED") {
				t.Errorf("got %q, want a table with the trial, FINISHED", out)
			}
			var r tripcast.Run
			decode(t, mustRun(t, "runs", "show", trial, "--json"), &r)
			if r.Params["max_depth"] != "6" || len(r.Metrics) != 1 || r.Metrics[0].Step != 19 || len(r.Artifacts) != 2 {
				t.Errorf("got run %+v, want its param, latest metric at step 19, two artifacts", r)
			}
			if out := mustRun(t, "runs", "show", trial); !strings.Contains(out, "valid_rmse = 6.1 (step 19)") {
				t.Errorf("got %q, want the latest valid_rmse", out)
			}

			var vs []tripcast.ModelVersion
			decode(t, mustRun(t, "models", "list", "--json"), &vs)
			if len(vs) != 2 || vs[0].Version != 1 || vs[1].Metrics["valid_rmse"] != 6.1 || vs[1].RunID != trial {
				t.Fatalf("got versions %+v, want 1 and 2 from the trial", vs)
			}

			var m tripcast.AliasMove
			decode(t, mustRun(t, "models", "promote", "1", "--alias", "champion", "--reason", "first model", "--json"), &m)
			if m.From != 0 || m.To != 1 || m.Actor != "carol" || m.Reason != "first model" {
				t.Errorf("got %+v, want 0 → 1 by carol", m)
			}
			if out := mustRun(t, "models", "promote", "2", "--alias", "champion", "--reason", "better RMSE"); !strings.Contains(out, "from version 1 to 2") {
				t.Errorf("got %q, want it to say the alias moved from 1 to 2", out)
			}
			var shown modelShow
			decode(t, mustRun(t, "models", "show", "champion", "--json", "--verify"), &shown)
			if shown.Version.Version != 2 || len(shown.AliasHistory) != 2 || shown.AliasHistory[1].From != 1 || shown.Verified == nil {
				t.Errorf("got %+v, want version 2, verified, with two moves", shown)
			}
			decode(t, mustRun(t, "models", "rollback", "--alias", "champion", "--reason", "latency", "--json"), &m)
			if m.From != 2 || m.To != 1 || !m.Rollback {
				t.Errorf("got %+v, want rollback 2 → 1", m)
			}
			out := mustRun(t, "models", "show", "1")
			for _, want := range []string{"aliases     champion", "[rollback] latency", "first model"} {
				if !strings.Contains(out, want) {
					t.Errorf("got %q, want it to contain %q", out, want)
				}
			}
			if out := mustRun(t, "models", "list"); !strings.Contains(out, "champion") || !strings.Contains(out, "valid_rmse=6.1") {
				t.Errorf("got %q, want the table with the champion and metrics", out)
			}
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			for _, c := range [][]string{
				{"models", "promote", "9", "--alias", "champion", "--reason", "r"},
				{"models", "show", "staging"},
				{"models", "rollback", "--alias", "staging"},
				{"runs", "show", "nope"},
			} {
				_, err := run(t, c...)
				if tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
					t.Errorf("%v: got %v, want not found", c, err)
				}
			}
		})
		t.Run("ErrConflict", func(t *testing.T) {
			// champion went 0→1, 1→2, rolled back 2→1: nothing earlier left.
			_, err := run(t, "models", "rollback", "--alias", "champion")
			if tripcast.ErrorCode(err) != tripcast.ECONFLICT || !strings.Contains(err.Error(), "no earlier version") {
				t.Errorf("got %v, want a conflict saying there is no earlier version", err)
			}
			v, err := os.ReadFile(filepath.Join(dataDir, "blobs", "artifacts", trial, "model-1.json"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dataDir, "blobs", "artifacts", trial, "model-1.json"), bytes.ToUpper(v), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = run(t, "models", "show", "2", "--verify")
			if tripcast.ErrorCode(err) != tripcast.ECONFLICT || !strings.Contains(err.Error(), "checksum did not match") {
				t.Errorf("got %v, want checksum did not match", err)
			}
			// The champion never moves to the tampered artifact.
			_, err = run(t, "models", "promote", "2", "--alias", "champion", "--reason", "tampered")
			if tripcast.ErrorCode(err) != tripcast.ECONFLICT || !strings.Contains(err.Error(), "refusing to move alias champion") ||
				!strings.Contains(err.Error(), "checksum did not match") {
				t.Errorf("got %v, want the promotion refused: checksum did not match", err)
			}
			// Nor to a missing one, nor to one that is not a model.
			notModel := registerRaw(t, dbURL, filepath.Join(dataDir, "blobs"), `{"model":3}`)
			_, err = run(t, "models", "promote", strconv.Itoa(notModel), "--alias", "champion", "--reason", "not a model")
			if tripcast.ErrorCode(err) != tripcast.ECONFLICT || !strings.Contains(err.Error(), "cannot be loaded") {
				t.Errorf("got %v, want the promotion refused: the artifact cannot be loaded", err)
			}
			if err := os.Remove(filepath.Join(dataDir, "blobs", "artifacts", trial, "model-1.json")); err != nil {
				t.Fatal(err)
			}
			_, err = run(t, "models", "promote", "2", "--alias", "staging", "--reason", "missing")
			if tripcast.ErrorCode(err) != tripcast.ENOTFOUND || !strings.Contains(err.Error(), "is missing") {
				t.Errorf("got %v, want the promotion refused: artifact missing", err)
			}
			var shown modelShow
			decode(t, mustRun(t, "models", "show", "champion", "--json"), &shown)
			if shown.Version.Version != 1 {
				t.Errorf("got champion %d, want it still at 1", shown.Version.Version)
			}
		})
		t.Run("ErrInvalid", func(t *testing.T) {
			for _, c := range [][]string{
				{"models", "promote", "two", "--alias", "champion", "--reason", "r"},
				{"models", "promote", "1", "--alias", "9", "--reason", "r"},
				{"runs", "list", "--status", "done"},
			} {
				_, err := run(t, c...)
				if tripcast.ErrorCode(err) != tripcast.EINVALID {
					t.Errorf("%v: got %v, want invalid", c, err)
				}
			}
			if _, err := run(t, "models", "promote", "1", "--alias", "champion"); err == nil || !strings.Contains(err.Error(), "reason") {
				t.Errorf("got %v, want an error about the missing --reason", err)
			}
		})
	})
}

// cloneArgs returns a copy of s, so appends do not share its array.
func cloneArgs(s []string) []string { return append([]string(nil), s...) }
