package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"tripcast"
)

func newRunsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List and show tracked runs (training, tuning trials)",
	}
	cmd.AddCommand(newRunsListCmd(a), newRunsShowCmd(a))
	return cmd
}

func newRunsListCmd(a *app) *cobra.Command {
	var f tripcast.RunFilter
	var status string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List runs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if status != "" {
				f.Status = tripcast.RunStatus(strings.ToUpper(status))
				if !f.Status.Valid() {
					return tripcast.FieldError("status", "%q is not RUNNING, FINISHED, FAILED or KILLED", status)
				}
			}
			db, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			runs, err := db.ListRuns(cmd.Context(), f)
			if err != nil {
				return err
			}
			if asJSON {
				if runs == nil {
					runs = []*tripcast.Run{}
				}
				return emitJSON(a.out, runs)
			}
			tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tEXPERIMENT\tNAME\tSTATUS\tSTART\tDURATION\tPARENT")
			for _, r := range runs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Experiment, r.Name, r.Status,
					r.StartTime.Format(time.RFC3339), runDuration(r), r.ParentID)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&f.Experiment, "experiment", "", "only runs of this experiment")
	cmd.Flags().StringVar(&f.ParentID, "parent", "", "only child runs of this run (tuning trials)")
	cmd.Flags().StringVar(&status, "status", "", "only runs in this status: RUNNING, FINISHED, FAILED or KILLED")
	cmd.Flags().IntVar(&f.Limit, "limit", 100, "at most this many runs")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// runDuration is how long r ran (or has been running), rounded.
func runDuration(r *tripcast.Run) string {
	if r.EndTime.IsZero() {
		return "-"
	}
	return r.EndTime.Sub(r.StartTime).Round(time.Millisecond).String()
}

func newRunsShowCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show RUN_ID",
		Short: "Show a run: params, latest metrics, tags, artifacts, datasets and lineage",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			db, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			r, err := db.GetRun(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return emitJSON(a.out, r)
			}
			printRun(a.out, r)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printRun(w io.Writer, r *tripcast.Run) {
	fmt.Fprintf(w, "run         %s\nexperiment  %s\nname        %s\nstatus      %s\nstart       %s\n",
		r.ID, r.Experiment, r.Name, r.Status, r.StartTime.Format(time.RFC3339))
	if !r.EndTime.IsZero() {
		fmt.Fprintf(w, "end         %s (%s)\n", r.EndTime.Format(time.RFC3339), runDuration(r))
	}
	if r.ParentID != "" {
		fmt.Fprintf(w, "parent      %s\n", r.ParentID)
	}
	fmt.Fprintf(w, "lineage     tripcast %s", r.TripcastVersion)
	if r.VCSRevision != "" {
		fmt.Fprintf(w, " (%s)", r.VCSRevision)
	}
	if r.FeatureSpec != "" {
		fmt.Fprintf(w, ", feature spec %s", r.FeatureSpec)
	}
	fmt.Fprintln(w)
	printRunMap(w, "params", r.Params)
	if len(r.Metrics) > 0 {
		fmt.Fprintln(w, "metrics (latest)")
		for _, m := range r.Metrics {
			fmt.Fprintf(w, "  %s = %g (step %d)\n", m.Key, m.Value, m.Step)
		}
	}
	printRunMap(w, "tags", r.Tags)
	if len(r.Datasets) > 0 {
		fmt.Fprintln(w, "datasets")
		for _, d := range r.Datasets {
			fmt.Fprintf(w, "  %s sha256 %s", d.URI, d.SHA256)
			if d.Rows > 0 {
				fmt.Fprintf(w, " rows %d", d.Rows)
			}
			fmt.Fprintln(w)
		}
	}
	if len(r.Artifacts) > 0 {
		fmt.Fprintln(w, "artifacts")
		for _, art := range r.Artifacts {
			fmt.Fprintf(w, "  %s %s (%d bytes, sha256 %s)\n", art.Name, art.URI, art.Size, art.SHA256)
		}
	}
}

func printRunMap(w io.Writer, title string, m map[string]string) {
	if len(m) == 0 {
		return
	}
	fmt.Fprintln(w, title)
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(w, "  %s = %s\n", k, m[k])
	}
}

// emitJSON writes v as indented JSON.
func emitJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
