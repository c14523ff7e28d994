package pipeline_test

import (
	"context"
	"testing"
	"time"

	"tripcast"
	"tripcast/internal/testenv"
	"tripcast/pipeline"
	"tripcast/sqlstore/sqlstoretest"
)

// waitFor polls cond for up to a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, time.Minute, 50*time.Millisecond, what, cond)
}

// TestStepsIdempotent does register and promote again after a run
// succeeded, as a retry after a crash between doing the work and recording
// it would: no second version, no second alias move.
func TestStepsIdempotent(t *testing.T) {
	sqlstoretest.ForEach(t, func(t *testing.T, eng sqlstoretest.Engine) {
		v := newEnv(t, eng)
		v.ingest("2021-01")
		v.ingest("2021-02")
		e := v.open(v.config(1))
		r := run(t, e, pipeline.Request{Pipeline: pipeline.Train, Params: map[string]string{"train": "2021-01", "valid": "2021-02"}})
		mustStatus(t, r, tripcast.PipelineSucceeded)
		ctx := context.Background()
		out, err := e.RunStep(ctx, r.ID, "register")
		if err != nil {
			t.Fatal(err)
		}
		if out["version"] != "1" || out["reused"] != "true" {
			t.Errorf("register again: got %v, want version 1 reused", out)
		}
		out, err = e.RunStep(ctx, r.ID, "promote")
		if err != nil {
			t.Fatal(err)
		}
		if out["alias"] != "champion" || out["already"] != "true" {
			t.Errorf("promote again: got %v, want champion already", out)
		}
		vs, err := v.db.ListVersions(ctx, tripcast.DefaultModelName)
		if err != nil {
			t.Fatal(err)
		}
		moves, err := v.db.AliasHistory(ctx, tripcast.DefaultModelName, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(vs) != 1 || len(moves) != 1 {
			t.Errorf("got %d versions and %d alias moves, want 1 and 1", len(vs), len(moves))
		}
	})
}

// TestGate: a candidate above max_rmse is challenger, even with no
// champion.
func TestGate(t *testing.T) {
	v := newEnv(t, sqlstoretest.Engines[0])
	v.ingest("2021-01")
	v.ingest("2021-02")
	cfg := v.config(1)
	cfg.Train.MaxRMSE = 1 // minutes: no model of trip durations is that good
	e := v.open(cfg)
	r := run(t, e, pipeline.Request{Pipeline: pipeline.Train, Params: map[string]string{"train": "2021-01", "valid": "2021-02"}})
	mustStatus(t, r, tripcast.PipelineSucceeded)
	if got := r.Step("promote").Outputs["alias"]; got != "challenger" {
		t.Errorf("alias: got %q, want challenger (%v)", got, r.Step("evaluate").Outputs)
	}
	if got := alias(t, v, tripcast.ChampionAlias); got != 0 {
		t.Errorf("champion: got version %d, want none", got)
	}
}

func TestCancel(t *testing.T) {
	sqlstoretest.ForEach(t, func(t *testing.T, eng sqlstoretest.Engine) {
		v := newEnv(t, eng)
		ctx := context.Background()
		// Submitted with no worker running, cancelled, then a worker starts.
		submitter := v.open(v.config(0))
		r, err := submitter.Submit(ctx, pipeline.Request{Pipeline: pipeline.Batch})
		if err != nil {
			t.Fatal(err)
		}
		c, err := submitter.Cancel(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c.Status != tripcast.PipelineCancelled || c.Step("score").Status != tripcast.PipelineCancelled || c.EndedAt == nil {
			t.Fatalf("got %+v, want the run and its queued step cancelled", c)
		}
		if _, err := submitter.Cancel(ctx, r.ID); tripcast.ErrorCode(err) != tripcast.ECONFLICT {
			t.Errorf("cancel again: got %v, want a conflict", err)
		}
		v.open(v.config(1))
		// Another run submitted after it is done once the worker has seen
		// the queue: the cancelled one must still be cancelled, not run.
		later := run(t, submitter, pipeline.Request{Pipeline: pipeline.Monitor})
		mustStatus(t, later, tripcast.PipelineSucceeded)
		got, err := submitter.Get(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != tripcast.PipelineCancelled || got.Step("score").Attempts != 0 {
			t.Errorf("got %+v, want still cancelled and never attempted", got)
		}
	})
}

func TestMonitorHook(t *testing.T) {
	t.Run("Skipped", func(t *testing.T) {
		v := newEnv(t, sqlstoretest.Engines[0])
		e := v.open(v.config(1))
		r := run(t, e, pipeline.Request{Pipeline: pipeline.Monitor})
		mustStatus(t, r, tripcast.PipelineSucceeded)
		if s := r.Step("report"); s.Status != tripcast.PipelineSkipped {
			t.Errorf("report: got %+v, want skipped", s)
		}
	})
	t.Run("OK", func(t *testing.T) {
		v := newEnv(t, sqlstoretest.Engines[0])
		cfg := v.config(1)
		seenc := make(chan time.Time, 1)
		cfg.Monitor = func(ctx context.Context, r *tripcast.PipelineRun) (map[string]string, error) {
			seenc <- r.LogicalDate
			return map[string]string{"report_key": "reports/x.json"}, nil
		}
		e := v.open(cfg)
		day := time.Date(2023, 3, 31, 0, 0, 0, 0, time.UTC)
		r := run(t, e, pipeline.Request{Pipeline: pipeline.Monitor, LogicalDate: day})
		mustStatus(t, r, tripcast.PipelineSucceeded)
		seen := <-seenc
		if s := r.Step("report"); s.Status != tripcast.PipelineSucceeded || s.Outputs["report_key"] != "reports/x.json" || !seen.Equal(day) {
			t.Errorf("report: got %+v (logical date %v), want the hook's outputs for %v", s, seen, day)
		}
	})
}

// TestSchedule: two schedulers on one PostgreSQL queue; each tick makes
// one run.
func TestSchedule(t *testing.T) {
	sqlstoretest.ForEach(t, func(t *testing.T, eng sqlstoretest.Engine) {
		v := newEnv(t, eng)
		cfg := v.config(1)
		cfg.Schedules = map[string]string{pipeline.Monitor: "@every 1s", pipeline.Train: "off"}
		e := v.open(cfg)
		if eng.Name == "postgres" {
			v.open(cfg)
		}
		ctx := context.Background()
		var runs []*tripcast.PipelineRun
		waitFor(t, "a scheduled run to succeed", func() bool {
			var err error
			if runs, err = e.List(ctx, "", 10); err != nil {
				t.Fatal(err)
			}
			return len(runs) > 0 && runs[len(runs)-1].Status == tripcast.PipelineSucceeded
		})
		for _, r := range runs {
			if r.Pipeline != pipeline.Monitor || r.Trigger != "schedule" {
				t.Errorf("got run %+v, want scheduled monitor runs only", r)
			}
		}
		first, err := e.Get(ctx, runs[len(runs)-1].ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(first.Steps) != 1 || first.Steps[0].Attempts != 1 {
			t.Errorf("got steps %+v, want one step run once", first.Steps)
		}
	})
}

func TestErrInvalid(t *testing.T) {
	v := newEnv(t, sqlstoretest.Engines[0])
	e := v.open(v.config(0))
	for name, req := range map[string]pipeline.Request{
		"pipeline": {Pipeline: "deploy"},
		"train":    {Pipeline: pipeline.Train, Params: map[string]string{"train": "2021-13", "valid": "2021-02"}},
		"valid":    {Pipeline: pipeline.Train, Params: map[string]string{"train": "2021-01"}},
		"bogus":    {Pipeline: pipeline.Train, Params: map[string]string{"bogus": "1"}},
	} {
		_, err := e.Submit(context.Background(), req)
		if tripcast.ErrorCode(err) != tripcast.EINVALID || tripcast.ErrorField(err) != name {
			t.Errorf("%s: got %v, want an invalid %s", name, err, name)
		}
	}
	if _, err := pipeline.ParseSchedule("train", "every day"); tripcast.ErrorCode(err) != tripcast.EINVALID {
		t.Errorf("schedule: got %v, want invalid", err)
	}
}

func TestSubmitUnlessActive(t *testing.T) {
	v := newEnv(t, sqlstoretest.Engines[0])
	e := v.open(v.config(0)) // no worker: the first run stays queued
	ctx := context.Background()
	req := pipeline.Request{Pipeline: pipeline.Train, Trigger: "alert"}
	first, created, err := e.SubmitUnlessActive(ctx, req)
	if err != nil || !created {
		t.Fatalf("first: got created %v, %v; want a new run", created, err)
	}
	again, created, err := e.SubmitUnlessActive(ctx, req)
	if err != nil || created || again.ID != first.ID {
		t.Fatalf("second: got run %s created %v, %v; want run %s, not created", again.ID, created, err, first.ID)
	}
	if _, err := e.Cancel(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	if _, created, err := e.SubmitUnlessActive(ctx, req); err != nil || !created {
		t.Errorf("after the first ended: got created %v, %v; want a new run", created, err)
	}
}
