package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"tripcast"
)

func TestPipelineRuns(t *testing.T) {
	ctx := context.Background()
	forEachEngine(t, func(t *testing.T, e engine) {
		db := MustOpenDB(t, e.Fresh(t))
		day := time.Date(2021, 5, 1, 0, 0, 0, 0, time.UTC)
		r := &tripcast.PipelineRun{ID: "train-1", Pipeline: "train", LogicalDate: day, Trigger: "manual", Params: map[string]string{"train": "2021-01"}}
		t.Run("OK", func(t *testing.T) {
			for i, want := range []bool{true, false} { // a second create is a no-op
				created, err := db.CreatePipelineRun(ctx, r)
				if err != nil || created != want {
					t.Fatalf("create %d: got %v, %v; want %v", i, created, err, want)
				}
			}
			if _, err := db.CreatePipelineRun(ctx, &tripcast.PipelineRun{ID: "batch-1", Pipeline: "batch", LogicalDate: day, CreatedAt: r.CreatedAt.Add(time.Second)}); err != nil {
				t.Fatal(err)
			}
			now := time.Now().UTC().Truncate(time.Microsecond)
			s := &tripcast.PipelineStep{RunID: "train-1", Name: "fit", Seq: 1, Status: tripcast.PipelineRunning, Attempts: 1, JobID: 7, StartedAt: &now}
			if err := db.SavePipelineStep(ctx, s); err != nil {
				t.Fatal(err)
			}
			s.Status, s.Outputs, s.EndedAt = tripcast.PipelineSucceeded, map[string]string{"version": "3"}, &now
			if err := db.SavePipelineStep(ctx, s); err != nil {
				t.Fatal(err)
			}
			if err := db.SavePipelineStep(ctx, &tripcast.PipelineStep{RunID: "train-1", Name: "fetch", Seq: 0, Status: tripcast.PipelineSucceeded}); err != nil {
				t.Fatal(err)
			}
			if ok, err := db.SetPipelineRunStatus(ctx, "train-1", tripcast.PipelineRunning, "", now); !ok || err != nil {
				t.Fatalf("running: got %v, %v", ok, err)
			}
			if ok, err := db.SetPipelineRunStatus(ctx, "train-1", tripcast.PipelineFailed, "step fit: boom", now.Add(time.Second)); !ok || err != nil {
				t.Fatalf("failed: got %v, %v", ok, err)
			}
			// An ended run does not move again.
			if ok, err := db.SetPipelineRunStatus(ctx, "train-1", tripcast.PipelineCancelled, "", now); ok || err != nil {
				t.Fatalf("cancel an ended run: got %v, %v; want false, nil", ok, err)
			}
			got, err := db.GetPipelineRun(ctx, "train-1")
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tripcast.PipelineFailed || got.Error != "step fit: boom" || !got.LogicalDate.Equal(day) || got.Params["train"] != "2021-01" ||
				got.StartedAt == nil || !got.StartedAt.Equal(now) || got.EndedAt == nil || !got.EndedAt.Equal(now.Add(time.Second)) {
				t.Errorf("got run %+v", got)
			}
			if len(got.Steps) != 2 || got.Steps[0].Name != "fetch" || got.Steps[1].Outputs["version"] != "3" || got.Steps[1].JobID != 7 || !got.Steps[1].EndedAt.Equal(now) {
				t.Errorf("got steps %+v, want fetch then fit with its outputs", got.Steps)
			}
			all, err := db.ListPipelineRuns(ctx, "", 10)
			if err != nil || len(all) != 2 || all[0].ID != "batch-1" {
				t.Errorf("list: got %d runs (%v), want 2, newest first", len(all), err)
			}
			trains, err := db.ListPipelineRuns(ctx, "train", 10)
			if err != nil || len(trains) != 1 || trains[0].ID != "train-1" {
				t.Errorf("list train: got %d runs (%v), want train-1", len(trains), err)
			}
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			_, err := db.GetPipelineRun(ctx, "nope")
			mustCode(t, err, tripcast.ENOTFOUND)
			_, err = db.SetPipelineRunStatus(ctx, "nope", tripcast.PipelineRunning, "", time.Now())
			mustCode(t, err, tripcast.ENOTFOUND)
		})
		t.Run("ErrInvalid", func(t *testing.T) {
			_, err := db.CreatePipelineRun(ctx, &tripcast.PipelineRun{Pipeline: "train"})
			mustCode(t, err, tripcast.EINVALID)
		})
	})
}
