package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"tripcast"
	"tripcast/internal/atomicfile"
	"tripcast/model"
)

// loadModel loads a model by reference: a model file on disk, or a version
// number, "latest" or an alias of the registered model (its artifact's
// sha256 verified).
func (a *app) loadModel(ctx context.Context, ref string) (*model.Artifact, error) {
	if ref == "" {
		return nil, tripcast.FieldError("model", "required: a model file, a version number or an alias such as champion")
	}
	if st, err := os.Stat(ref); err == nil && !st.IsDir() {
		return model.LoadFile(ref)
	}
	tr, err := a.tracker(ctx, true)
	if err != nil {
		return nil, err
	}
	return model.LoadRegistered(ctx, tr, a.cfg.ModelName, ref)
}

func newPredictCmd(a *app) *cobra.Command {
	var modelRef, input, output string
	cmd := &cobra.Command{
		Use:   "predict --model FILE|VERSION|ALIAS --input CSV [--output FILE]",
		Short: "Predict trip durations for a CSV of model inputs",
		Long: `Predict one duration per input row.

The input CSV's header names the model's features (see tripcast models show);
an empty cell is a missing value. The output is CSV with the header
"prediction" and one value per input row. --model is a model file (tripcast's
or one saved by XGBoost's save_model as JSON), or a version number, "latest"
or an alias of the registered model.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			art, err := a.loadModel(ctx, modelRef)
			if err != nil {
				return err
			}
			if input == "" {
				return tripcast.FieldError("input", "required: a CSV file (- for standard input)")
			}
			var in io.Reader = os.Stdin
			if input != "-" {
				f, err := os.Open(input)
				if err != nil {
					return fmt.Errorf("--input: %w", err)
				}
				defer f.Close()
				in = f
			}
			if output == "" || output == "-" {
				_, err := art.PredictCSV(in, a.out)
				return err
			}
			return writeAtomic(output, func(w io.Writer) error {
				_, err := art.PredictCSV(in, w)
				return err
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelRef, "model", "champion", "model file, version number, latest or alias")
	f.StringVar(&input, "input", "", "input CSV (- for standard input)")
	f.StringVar(&output, "output", "", "output CSV (default standard output)")
	return cmd
}

// writeAtomic writes a file through fn into a temporary file that is
// renamed over path only when fn and the close succeed.
func writeAtomic(path string, fn func(w io.Writer) error) error {
	var fnErr error
	err := atomicfile.Write(path, func(f *os.File) error {
		bw := bufio.NewWriter(f)
		if fnErr = fn(bw); fnErr != nil {
			return fnErr
		}
		return bw.Flush()
	})
	if err != nil && err != fnErr {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return err
}
