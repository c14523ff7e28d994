package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"tripcast"
	"tripcast/batch"
	"tripcast/dataset"
	"tripcast/tlc"
)

func newBatchCmd(a *app) *cobra.Command {
	var input, output, modelRef, ruleName string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "batch --input MONTH|FILE --output FILE|URI|blob:KEY",
		Short: "Score a whole month with a model and write the predictions as parquet",
		Long: `Score every trip of a month (a stored dataset or a TLC parquet file, cleaned
with --rule) and write the course's batch columns as parquet: ride_id,
lpep_pickup_datetime, PULocationID, DOLocationID, actual_duration,
predicted_duration, diff, model_version. --output is a local file (written
atomically), a URI inside the blob store, or blob:KEY.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if input == "" || output == "" {
				return tripcast.FieldError("input", "batch needs --input and --output")
			}
			rule, err := tlc.ParseRule(ruleName)
			if err != nil {
				return err
			}
			start := time.Now()
			store, err := a.blobStore(ctx)
			if err != nil {
				return err
			}
			in, err := a.resolveMonth(ctx, store, input, rule)
			if err != nil {
				return err
			}
			art, err := a.loadModel(ctx, modelRef)
			if err != nil {
				return err
			}
			out, err := batch.ParseOutput(output, store)
			if err != nil {
				return err
			}
			sum, uri, err := batch.Write(ctx, out, store, art, in.Trips, batch.OptionsFor(in))
			if err != nil {
				return err
			}
			secs := time.Since(start).Seconds()
			if asJSON {
				return emitJSON(a.out, map[string]any{"output": uri, "rows": sum.Rows, "version": sum.Version,
					"rmse": sum.RMSE, "mean_diff": sum.MeanDiff, "seconds": secs})
			}
			fmt.Fprintf(a.out, "wrote %d predictions of model version %q to %s in %.2fs (RMSE %.3f, mean diff %.3f)\n",
				sum.Rows, sum.Version, uri, secs, sum.RMSE, sum.MeanDiff)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&input, "input", "", "month (stored dataset) or TLC parquet file")
	f.StringVar(&output, "output", "", "output parquet: file, blob URI or blob:KEY")
	f.StringVar(&modelRef, "model", "champion", "model file, version number, latest or alias")
	f.StringVar(&ruleName, "rule", "course", "cleaning rule for parquet files: course or default")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

// resolveMonth resolves the --input of batch and simulate (see
// dataset.Resolve) and warns when the rides cannot be numbered as the
// course numbers them.
func (a *app) resolveMonth(ctx context.Context, store tripcast.BlobStore, input string, rule tlc.Rule) (*dataset.Data, error) {
	d, err := dataset.Resolve(ctx, store, input, rule)
	if err != nil {
		return nil, fmt.Errorf("--input %s: %w", input, err)
	}
	if d.Rows == nil {
		a.log.Warn("the dataset was stored without TLC row numbers (dataset format 1): ride ids number the trips by their position in it, not by their row in the TLC file as the course does; ingest the month again to get the course's ride ids",
			"dataset", d.Manifest.Ref())
	}
	return d, nil
}
