package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"tripcast"
)

// step is one step of a pipeline: its name, the job that carries it, and
// what it does. do gets the run with the steps done so far (their outputs
// are its inputs) and returns its outputs.
type step struct {
	name string
	args func(RunRef) river.JobArgs
	do   func(e *Engine, ctx context.Context, run *tripcast.PipelineRun) (map[string]string, error)
}

// steps are the pipelines, in order. A step must be idempotent: it may run
// again after a crash between doing its work and recording it.
var steps = map[string][]step{
	Train: {
		{"fetch", func(r RunRef) river.JobArgs { return TrainFetchArgs{r} }, (*Engine).trainFetch},
		{"fit", func(r RunRef) river.JobArgs { return TrainFitArgs{r} }, (*Engine).trainFit},
		{"evaluate", func(r RunRef) river.JobArgs { return TrainEvaluateArgs{r} }, (*Engine).trainEvaluate},
		{"register", func(r RunRef) river.JobArgs { return TrainRegisterArgs{r} }, (*Engine).trainRegister},
		{"promote", func(r RunRef) river.JobArgs { return TrainPromoteArgs{r} }, (*Engine).trainPromote},
	},
	Batch: {
		{"score", func(r RunRef) river.JobArgs { return BatchScoreArgs{r} }, (*Engine).batchScore},
	},
	Monitor: {
		{"report", func(r RunRef) river.JobArgs { return MonitorReportArgs{r} }, (*Engine).monitorReport},
	},
}

// The step jobs. Each carries its run; its kind names pipeline and step.
type (
	// TrainFetchArgs resolves the months and fetches what is not stored.
	TrainFetchArgs struct{ RunRef }
	// TrainFitArgs trains on the fetched months and tracks the run.
	TrainFitArgs struct{ RunRef }
	// TrainEvaluateArgs scores the candidate and the champion on the same
	// validation data and decides.
	TrainEvaluateArgs struct{ RunRef }
	// TrainRegisterArgs registers the candidate as a version.
	TrainRegisterArgs struct{ RunRef }
	// TrainPromoteArgs moves the champion or challenger alias.
	TrainPromoteArgs struct{ RunRef }
	// BatchScoreArgs scores the month before the logical date.
	BatchScoreArgs struct{ RunRef }
	// MonitorReportArgs makes the monitoring report (see Config.Monitor).
	MonitorReportArgs struct{ RunRef }
)

// Kind implements river.JobArgs.
func (TrainFetchArgs) Kind() string { return "pipeline_train_fetch" }

// Kind implements river.JobArgs.
func (TrainFitArgs) Kind() string { return "pipeline_train_fit" }

// Kind implements river.JobArgs.
func (TrainEvaluateArgs) Kind() string { return "pipeline_train_evaluate" }

// Kind implements river.JobArgs.
func (TrainRegisterArgs) Kind() string { return "pipeline_train_register" }

// Kind implements river.JobArgs.
func (TrainPromoteArgs) Kind() string { return "pipeline_train_promote" }

// Kind implements river.JobArgs.
func (BatchScoreArgs) Kind() string { return "pipeline_batch_score" }

// Kind implements river.JobArgs.
func (MonitorReportArgs) Kind() string { return "pipeline_monitor_report" }

// ref returns the run a step's arguments carry.
func (r RunRef) ref() RunRef { return r }

type stepArgs interface {
	river.JobArgs
	ref() RunRef
}

// stepWorker is the River worker of one step kind.
type stepWorker[T stepArgs] struct {
	river.WorkerDefaults[T]
	e   *Engine
	seq int
}

// Work runs the step (see Engine.runStep).
func (w *stepWorker[T]) Work(ctx context.Context, job *river.Job[T]) error {
	return w.e.runStep(ctx, job.JobRow, job.Args.ref(), w.seq)
}

// NextRetry waits the configured delay after a failure.
func (w *stepWorker[T]) NextRetry(*river.Job[T]) time.Time {
	return time.Now().Add(w.e.cfg.RetryDelay)
}

// addWorker registers the worker of T, the seq-th step of its pipeline.
func addWorker[T stepArgs](ws *river.Workers, e *Engine, seq int) {
	river.AddWorker(ws, &stepWorker[T]{e: e, seq: seq})
}

// workers registers every step's worker.
func (e *Engine) workers() *river.Workers {
	ws := river.NewWorkers()
	addWorker[TrainFetchArgs](ws, e, 0)
	addWorker[TrainFitArgs](ws, e, 1)
	addWorker[TrainEvaluateArgs](ws, e, 2)
	addWorker[TrainRegisterArgs](ws, e, 3)
	addWorker[TrainPromoteArgs](ws, e, 4)
	addWorker[BatchScoreArgs](ws, e, 0)
	addWorker[MonitorReportArgs](ws, e, 0)
	return ws
}

// maxAttempts is River's ceiling on a step job's attempts. The worker
// that runs a step decides when a failure is final (after its Retries) and
// then ends the job, so that the process that enqueued the step (a CLI
// command) need not know the workers' settings.
const maxAttempts = 100

// insertOpts are every step job's: unique by its arguments (a step of a
// run is enqueued once).
func (e *Engine) insertOpts() *river.InsertOpts {
	return &river.InsertOpts{MaxAttempts: maxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// enqueue records step seq of ref's run as queued and inserts its job.
func (e *Engine) enqueue(ctx context.Context, ref RunRef, seq int) error {
	st := steps[ref.Pipeline][seq]
	r, err := e.cfg.Store.GetPipelineRun(ctx, ref.RunID)
	if err != nil {
		return err
	}
	if s := r.Step(st.name); s == nil {
		if err := e.cfg.Store.SavePipelineStep(ctx, &tripcast.PipelineStep{RunID: ref.RunID, Name: st.name, Seq: seq, Status: tripcast.PipelineQueued}); err != nil {
			return err
		}
	}
	if _, err := e.q.Insert(ctx, st.args(ref), e.insertOpts()); err != nil {
		return fmt.Errorf("pipeline run %s: enqueue step %s: %w", ref.RunID, st.name, err)
	}
	return nil
}

// runStep runs step seq of ref's run as job: it records the step running,
// does it unless it already succeeded, records the outcome, and enqueues
// the next step or ends the run. A failure on the job's last attempt
// fails the run; an earlier one is retried by River after RetryDelay.
func (e *Engine) runStep(ctx context.Context, job *rivertype.JobRow, ref RunRef, seq int) error {
	st := steps[ref.Pipeline][seq]
	log := e.log.With("run", ref.RunID, "pipeline", ref.Pipeline, "step", st.name, "attempt", job.Attempt)
	run, err := e.ensureRun(ctx, ref)
	if err != nil {
		return err
	}
	if run.Status == tripcast.PipelineCancelled {
		return river.JobCancel(fmt.Errorf("pipeline run %s was cancelled", ref.RunID))
	}
	if tripcast.PipelineDone(run.Status) {
		log.Info("pipeline run has ended: step not run", "status", run.Status)
		return nil
	}
	prev := run.Step(st.name)
	if prev == nil || prev.Status != tripcast.PipelineSucceeded {
		now := e.cfg.Now().UTC()
		if _, err := e.cfg.Store.SetPipelineRunStatus(ctx, ref.RunID, tripcast.PipelineRunning, "", now); err != nil {
			return err
		}
		s := &tripcast.PipelineStep{RunID: ref.RunID, Name: st.name, Seq: seq, Status: tripcast.PipelineRunning,
			Attempts: job.Attempt, JobID: job.ID, StartedAt: &now}
		if err := e.cfg.Store.SavePipelineStep(ctx, s); err != nil {
			return err
		}
		log.Info("pipeline step started")
		out, err := st.do(e, ctx, run)
		end := e.cfg.Now().UTC()
		s.EndedAt, s.Outputs = &end, out
		if err != nil {
			return e.stepFailed(context.WithoutCancel(ctx), job, run, s, err, log)
		}
		s.Status = tripcast.PipelineSucceeded
		if out["skipped"] != "" {
			s.Status = tripcast.PipelineSkipped
		}
		if err := e.cfg.Store.SavePipelineStep(ctx, s); err != nil {
			return err
		}
		log.Info("pipeline step succeeded", "outputs", out, "seconds", end.Sub(now).Seconds())
	}
	if seq+1 < len(steps[ref.Pipeline]) {
		return e.enqueue(ctx, ref, seq+1)
	}
	if _, err := e.cfg.Store.SetPipelineRunStatus(ctx, ref.RunID, tripcast.PipelineSucceeded, "", e.cfg.Now().UTC()); err != nil {
		return err
	}
	log.Info("pipeline run succeeded")
	return nil
}

// stepFailed records a failed attempt of step s; on the last attempt (or
// when the run was cancelled meanwhile) it ends the step and the run.
func (e *Engine) stepFailed(ctx context.Context, job *rivertype.JobRow, run *tripcast.PipelineRun, s *tripcast.PipelineStep, err error, log *slog.Logger) error {
	s.Error = err.Error()
	cur, gerr := e.cfg.Store.GetPipelineRun(ctx, run.ID)
	if gerr == nil && cur.Status == tripcast.PipelineCancelled {
		s.Status = tripcast.PipelineCancelled
		_ = e.cfg.Store.SavePipelineStep(ctx, s)
		return river.JobCancel(fmt.Errorf("pipeline run %s was cancelled: %w", run.ID, err))
	}
	if job.Attempt < 1+e.cfg.Retries && job.Attempt < job.MaxAttempts {
		s.Status = tripcast.PipelineRetrying
		log.Warn("pipeline step failed: will retry", "err", err, "retry_in", e.cfg.RetryDelay.String())
		return errors.Join(e.cfg.Store.SavePipelineStep(ctx, s), err)
	}
	s.Status = tripcast.PipelineFailed
	log.Error("pipeline step failed: the run fails", "err", err)
	serr := e.cfg.Store.SavePipelineStep(ctx, s)
	_, rerr := e.cfg.Store.SetPipelineRunStatus(ctx, run.ID, tripcast.PipelineFailed, fmt.Sprintf("step %s: %v", s.Name, err), e.cfg.Now().UTC())
	if e.cfg.OnFailure != nil {
		if r, err := e.cfg.Store.GetPipelineRun(ctx, run.ID); err == nil {
			e.cfg.OnFailure(ctx, r)
		}
	}
	// The failure is final: River must not try again (its ceiling is
	// higher), so the job ends here, cancelled, with the error.
	return river.JobCancel(errors.Join(serr, rerr, err))
}
