package pipeline

import (
	"slices"
	"time"

	"github.com/riverqueue/river"
	"github.com/robfig/cron/v3"

	"tripcast"
)

// ParseSchedule parses a cron expression (5 fields: minute hour day month
// weekday, or a descriptor such as @daily), read in UTC. "off" and ""
// give nil: not scheduled.
func ParseSchedule(pipeline, expr string) (cron.Schedule, error) {
	if expr == "" || expr == "off" {
		return nil, nil
	}
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, tripcast.FieldError("schedule", "%s: %q is not a cron expression: %v", pipeline, expr, err)
	}
	return s, nil
}

// periodicJobs are River's periodic jobs for cfg.Schedules: each tick
// inserts the first step of a run named after its pipeline and minute
// (unique: a tick never makes two runs, even with several schedulers).
func (e *Engine) periodicJobs() ([]*river.PeriodicJob, error) {
	var jobs []*river.PeriodicJob
	for _, name := range Names {
		expr, ok := e.cfg.Schedules[name]
		if !ok {
			continue
		}
		s, err := ParseSchedule(name, expr)
		if err != nil || s == nil {
			if err != nil {
				return nil, err
			}
			continue
		}
		first := steps[name][0]
		jobs = append(jobs, river.NewPeriodicJob(s, func() (river.JobArgs, *river.InsertOpts) {
			at := e.cfg.Now().UTC().Truncate(time.Minute)
			ref := RunRef{RunID: scheduledRunID(name, at), Pipeline: name, LogicalDate: at, Trigger: "schedule"}
			e.log.Info("scheduled pipeline run", "pipeline", name, "run", ref.RunID)
			return first.args(ref), e.insertOpts()
		}, &river.PeriodicJobOpts{ID: "pipeline_" + name}))
	}
	for k := range e.cfg.Schedules {
		if !slices.Contains(Names, k) {
			return nil, tripcast.FieldError("schedule", "unknown pipeline %q", k)
		}
	}
	return jobs, nil
}
