package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"tripcast"
	"tripcast/pipeline"
)

func newPipelineCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pipeline",
		Short: "Run, list, show, cancel and backfill pipelines (train, batch, monitor)",
		Long: `Pipelines run as steps on the job queue in the metadata database, worked by
tripcast up (in-process workers) or tripcast worker processes:

  train    fetch the months (train = logical month - 4, valid = - 3, or --train
           and --valid), fit, evaluate the candidate and the champion on the
           same validation month, register, promote champion (below --max-rmse
           and better by --margin) or challenger
  batch    score the month before the logical date with the champion into
           predictions/taxi_type=green/year=YYYY/month=MM/<run>.parquet
  monitor  the monitoring report of the window (when monitoring is configured)

Every run and step (status, attempts, error, outputs) is kept in the metadata
database.`,
	}
	cmd.AddCommand(newPipelineRunCmd(a), newPipelineListCmd(a), newPipelineShowCmd(a), newPipelineCancelCmd(a), newPipelineBackfillCmd(a))
	return cmd
}

// parseDate reads a logical date: YYYY-MM-DD, YYYY-MM (the first of the
// month) or RFC 3339.
func parseDate(field, s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02", "2006-01", time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, tripcast.FieldError(field, "%q is not a date: want YYYY-MM-DD, YYYY-MM or RFC 3339", s)
}

func newPipelineRunCmd(a *app) *cobra.Command {
	var date, trainM, validM string
	var wait, asJSON bool
	cmd := &cobra.Command{
		Use:   "run train|batch|monitor [--date YYYY-MM-DD] [--train YYYY-MM --valid YYYY-MM] [--wait]",
		Short: "Start a pipeline run (a worker runs it: tripcast up or tripcast worker)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			req := pipeline.Request{Pipeline: args[0], Params: map[string]string{}}
			if date != "" {
				t, err := parseDate("date", date)
				if err != nil {
					return err
				}
				req.LogicalDate = t
			}
			if trainM != "" || validM != "" {
				req.Params["train"], req.Params["valid"] = trainM, validM
			}
			e, err := a.pipelines(ctx, nil)
			if err != nil {
				return err
			}
			r, err := e.Submit(ctx, req)
			if err != nil {
				return err
			}
			if wait {
				a.log.Info("pipeline run submitted: waiting for a worker to run it", "run", r.ID)
				if r, err = e.Wait(ctx, r.ID, 500*time.Millisecond); err != nil {
					return err
				}
			}
			if err := printPipelineRun(a.out, r, asJSON); err != nil {
				return err
			}
			if r.Status == tripcast.PipelineFailed || r.Status == tripcast.PipelineCancelled {
				return &exitError{code: 1, err: fmt.Errorf("pipeline run %s %s: %s", r.ID, r.Status, r.Error)}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&date, "date", "", "logical date (default: now)")
	f.StringVar(&trainM, "train", "", "train pipeline: training month, overriding the window")
	f.StringVar(&validM, "valid", "", "train pipeline: validation month, overriding the window")
	f.BoolVar(&wait, "wait", false, "wait for the run to end; exit status 1 when it fails")
	f.BoolVar(&asJSON, "json", false, "print the run as JSON")
	return cmd
}

func newPipelineListCmd(a *app) *cobra.Command {
	var name string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--pipeline train]",
		Short: "List pipeline runs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := a.pipelines(cmd.Context(), nil)
			if err != nil {
				return err
			}
			runs, err := e.List(cmd.Context(), name, limit)
			if err != nil {
				return err
			}
			if asJSON {
				if runs == nil {
					runs = []*tripcast.PipelineRun{}
				}
				return emitJSON(a.out, runs)
			}
			fmt.Fprintf(a.out, "%-34s %-8s %-11s %-10s %-9s %s\n", "RUN", "PIPELINE", "LOGICAL", "STATUS", "TRIGGER", "ERROR")
			for _, r := range runs {
				fmt.Fprintf(a.out, "%-34s %-8s %-11s %-10s %-9s %s\n", r.ID, r.Pipeline, r.LogicalDate.Format("2006-01-02"), r.Status, r.Trigger, r.Error)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "pipeline", "", "only this pipeline's runs")
	cmd.Flags().IntVar(&limit, "limit", 50, "most runs to list")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newPipelineShowCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show RUN",
		Short: "Show a pipeline run and its steps",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := a.pipelines(cmd.Context(), nil)
			if err != nil {
				return err
			}
			r, err := e.Get(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printPipelineRun(a.out, r, asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newPipelineCancelCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel RUN",
		Short: "Cancel a pipeline run that has not ended (a running step is stopped)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := a.pipelines(cmd.Context(), nil)
			if err != nil {
				return err
			}
			r, err := e.Cancel(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "pipeline run %s cancelled\n", r.ID)
			return nil
		},
	}
}

func newPipelineBackfillCmd(a *app) *cobra.Command {
	var from, to string
	var parallel int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "backfill batch|train|monitor --from YYYY-MM --to YYYY-MM",
		Short: "Run a pipeline once per month from --from to --to (logical date: the month's day 2, 03:00), a few at a time",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			dates, err := backfillDates(from, to)
			if err != nil {
				return err
			}
			e, err := a.pipelines(ctx, nil)
			if err != nil {
				return err
			}
			runs, err := backfill(ctx, e, args[0], dates, parallel)
			if asJSON {
				if jerr := emitJSON(a.out, runs); jerr != nil {
					return jerr
				}
			} else {
				for _, r := range runs {
					fmt.Fprintf(a.out, "%s  %s  %s  %s\n", r.LogicalDate.Format("2006-01-02"), r.ID, r.Status, r.Error)
				}
			}
			if err != nil {
				return err
			}
			for _, r := range runs {
				if r.Status != tripcast.PipelineSucceeded {
					return &exitError{code: 1, err: fmt.Errorf("backfill: run %s %s", r.ID, r.Status)}
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "first month (YYYY-MM)")
	f.StringVar(&to, "to", "", "last month (YYYY-MM)")
	f.IntVar(&parallel, "parallel", 2, "runs in flight at once")
	f.BoolVar(&asJSON, "json", false, "print the runs as JSON")
	return cmd
}

// backfillDates are the logical dates of --from..--to: day 2 at 03:00 of
// each month, as the batch schedule runs.
func backfillDates(from, to string) ([]time.Time, error) {
	f, err := time.Parse("2006-01", from)
	if err != nil {
		return nil, tripcast.FieldError("from", "%q is not a month: want YYYY-MM", from)
	}
	t, err := time.Parse("2006-01", to)
	if err != nil {
		return nil, tripcast.FieldError("to", "%q is not a month: want YYYY-MM", to)
	}
	if t.Before(f) {
		return nil, tripcast.FieldError("to", "%s is before --from %s", to, from)
	}
	var out []time.Time
	for m := f; !m.After(t); m = m.AddDate(0, 1, 0) {
		out = append(out, m.Add(24*time.Hour+3*time.Hour))
	}
	return out, nil
}

// backfill submits one run per date with at most parallel in flight, and
// waits for them all; the runs come back in date order.
func backfill(ctx context.Context, e *pipeline.Engine, name string, dates []time.Time, parallel int) ([]*tripcast.PipelineRun, error) {
	parallel = max(parallel, 1)
	runs := make([]*tripcast.PipelineRun, len(dates))
	errs := make([]error, len(dates))
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, d := range dates {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return compact(runs), ctx.Err()
		}
		r, err := e.Submit(ctx, pipeline.Request{Pipeline: name, LogicalDate: d, Trigger: "backfill"})
		if err != nil {
			<-sem
			wg.Wait()
			return compact(runs), err
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			runs[i], errs[i] = e.Wait(ctx, r.ID, 500*time.Millisecond)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return compact(runs), err
		}
	}
	return runs, nil
}

func compact(runs []*tripcast.PipelineRun) []*tripcast.PipelineRun {
	out := runs[:0:0]
	for _, r := range runs {
		if r != nil {
			out = append(out, r)
		}
	}
	return out
}

// printPipelineRun prints a run and its steps, as JSON or as text.
func printPipelineRun(w io.Writer, r *tripcast.PipelineRun, asJSON bool) error {
	if asJSON {
		return emitJSON(w, r)
	}
	fmt.Fprintf(w, "run       %s\npipeline  %s\nlogical   %s\ntrigger   %s\nstatus    %s\n", r.ID, r.Pipeline, r.LogicalDate.Format(time.RFC3339), r.Trigger, r.Status)
	if r.Error != "" {
		fmt.Fprintf(w, "error     %s\n", r.Error)
	}
	if r.StartedAt != nil && r.EndedAt != nil {
		fmt.Fprintf(w, "took      %s\n", r.EndedAt.Sub(*r.StartedAt).Round(time.Millisecond))
	}
	for _, s := range r.Steps {
		fmt.Fprintf(w, "  %-9s %-10s attempts %d", s.Name, s.Status, s.Attempts)
		if s.StartedAt != nil && s.EndedAt != nil {
			fmt.Fprintf(w, "  %s", s.EndedAt.Sub(*s.StartedAt).Round(time.Millisecond))
		}
		fmt.Fprintln(w)
		if s.Error != "" {
			fmt.Fprintf(w, "            error: %s\n", s.Error)
		}
		keys := make([]string, 0, len(s.Outputs))
		for k := range s.Outputs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var kv []string
		for _, k := range keys {
			kv = append(kv, k+"="+s.Outputs[k])
		}
		if len(kv) > 0 {
			fmt.Fprintf(w, "            %s\n", strings.Join(kv, " "))
		}
	}
	return nil
}
