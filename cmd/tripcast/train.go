package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"tripcast"
	"tripcast/dataset"
	"tripcast/gbdt"
	"tripcast/model"
	"tripcast/tlc"
	"tripcast/train"
)

// loadData resolves a --train/--valid reference: a stored dataset (month
// name, color/month[/rule], key or URI) or a local parquet file.
func (a *app) loadData(ctx context.Context, flag, ref string) (train.Data, error) {
	if ref == "" {
		return train.Data{}, nil
	}
	store, err := a.blobStore(ctx)
	if err != nil {
		return train.Data{}, err
	}
	d, err := dataset.Resolve(ctx, store, ref, tlc.RuleDefault)
	if err != nil {
		return train.Data{}, fmt.Errorf("--%s %s: %w", flag, ref, err)
	}
	return train.FromDataset(d), nil
}

// loadTrainValid resolves --train (required) and --valid (required when
// needValid).
func (a *app) loadTrainValid(ctx context.Context, trainRef, validRef string, needValid bool) (td, vd train.Data, err error) {
	if trainRef == "" {
		return td, vd, tripcast.FieldError("train", "required: a month, dataset or parquet file")
	}
	if needValid && validRef == "" {
		return td, vd, tripcast.FieldError("valid", "required: a month, dataset or parquet file")
	}
	if td, err = a.loadData(ctx, "train", trainRef); err != nil {
		return td, vd, err
	}
	vd, err = a.loadData(ctx, "valid", validRef)
	return td, vd, err
}

// parseParams turns repeated --param k=v flags into a map; the error names
// the malformed flag.
func parseParams(kvs []string) (map[string]string, error) {
	m := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, tripcast.FieldError("param", "%q is not key=value", kv)
		}
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m, nil
}

// roundReporter shows boosting progress: a bar on a terminal, and a line
// every `every` rounds in the log otherwise.
type roundReporter struct {
	a     *app
	bar   *progressbar.ProgressBar
	every int
}

func (a *app) newRoundReporter(total int, desc string) *roundReporter {
	r := &roundReporter{a: a, every: 10}
	if f, ok := a.errOut.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		r.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(f), progressbar.OptionSetDescription(desc),
			progressbar.OptionShowCount(), progressbar.OptionSetWidth(30), progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(f) }))
	}
	return r
}

func (r *roundReporter) progress(p gbdt.Progress) {
	if r.bar != nil {
		r.bar.Describe(fmt.Sprintf("round %d  train-rmse %.4f  valid-rmse %.4f", p.Round, p.TrainRMSE, p.ValidRMSE))
		_ = r.bar.Set(p.Round + 1)
		return
	}
	if p.Round%r.every == 0 {
		r.a.log.Info("boosting", "round", p.Round, "train_rmse", round4(p.TrainRMSE), "valid_rmse", round4(p.ValidRMSE), "best", p.Best)
	}
}

func (r *roundReporter) finish() {
	if r.bar != nil {
		_ = r.bar.Finish()
	}
}

func round4(x float64) float64 { return float64(int64(x*1e4+0.5)) / 1e4 }

type trainJSON struct {
	RunID           string             `json:"run_id"`
	Kind            model.Kind         `json:"kind"`
	ValidRMSE       float64            `json:"valid_rmse"`
	ValidMAE        float64            `json:"valid_mae"`
	ValidR2         float64            `json:"valid_r2"`
	TrainRMSE       float64            `json:"train_rmse"`
	Rounds          int                `json:"rounds"`
	TrainSeconds    float64            `json:"train_seconds"`
	Model           string             `json:"model"`
	SHA256          string             `json:"sha256"`
	Params          map[string]string  `json:"params"`
	FeatureSpec     string             `json:"feature_spec,omitempty"`
	Version         int                `json:"version,omitempty"`
	Promoted        bool               `json:"promoted"`
	ChampionVersion int                `json:"champion_version,omitempty"`
	ChampionRMSE    *float64           `json:"champion_rmse,omitempty"`
	Decision        string             `json:"decision,omitempty"`
	Metrics         map[string]float64 `json:"metrics"`
}

func newTrainCmd(a *app) *cobra.Command {
	var (
		trainRef, validRef, kind, experiment, runName, output string
		params                                                []string
		asJSON, register, promote                             bool
	)
	cmd := &cobra.Command{
		Use:   "train --train REF --valid REF",
		Short: "Train a model (gbdt or the linear baseline), track the run, optionally register and promote it",
		Long: `Train a model on one month and validate it on another.

REF is a stored dataset (a month such as 2021-01, green/2021-01/course, a blob
key or URI, see tripcast ingest) or a local TLC parquet file (cleaned with the
default rule). Parameters use XGBoost's names: --param eta=0.1 --param max_depth=8.
The run (params, per-round and final metrics, datasets, model file) is recorded
in the metadata database; the model file goes to the blob store.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			kv, err := parseParams(params)
			if err != nil {
				return err
			}
			td, vd, err := a.loadTrainValid(ctx, trainRef, validRef, false)
			if err != nil {
				return err
			}
			tr, err := a.tracker(ctx, true)
			if err != nil {
				return err
			}
			rounds := gbdt.DefaultParams().NumBoostRound
			if p, err := train.GBDTParams(kv); err == nil {
				rounds = p.NumBoostRound
			}
			rep := a.newRoundReporter(rounds, "training")
			job := train.Job{
				Tracker: tr, Experiment: experiment, RunName: runName, ModelName: a.cfg.ModelName,
				Train: td, Valid: vd, Register: register, PromoteIfBetter: promote, Actor: actor(),
				Options: train.Options{Kind: model.Kind(kind), Params: kv, Progress: rep.progress},
			}
			out, err := job.Run(ctx)
			rep.finish()
			if err != nil {
				return err
			}
			if output != "" {
				if err := out.Artifact.SaveFile(output); err != nil {
					return err
				}
			}
			return a.printTrain(out, asJSON)
		},
	}
	f := cmd.Flags()
	f.StringVar(&trainRef, "train", "", "training data: month, dataset or parquet file")
	f.StringVar(&validRef, "valid", "", "validation data: month, dataset or parquet file")
	f.StringVar(&kind, "model", "gbdt", "model kind: gbdt or linear")
	f.StringArrayVar(&params, "param", nil, "parameter key=value (XGBoost names; repeatable)")
	f.StringVar(&experiment, "experiment", train.DefaultExperiment, "experiment the run belongs to")
	f.StringVar(&runName, "run-name", "train", "name of the run")
	f.StringVar(&output, "output", "", "also write the model file here")
	f.BoolVar(&register, "register", false, "register the model as the next version")
	f.BoolVar(&promote, "promote-if-better", false, "register, and make it champion if it beats the current champion on the same validation data")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

func (a *app) printTrain(out *train.Outcome, asJSON bool) error {
	art := out.Artifact
	j := trainJSON{
		RunID: out.RunID, Kind: art.Kind, ValidRMSE: out.Valid.RMSE, ValidMAE: out.Valid.MAE, ValidR2: out.Valid.R2,
		TrainRMSE: out.Train.RMSE, Rounds: out.Rounds, TrainSeconds: out.Seconds, Model: out.Stored.URI,
		SHA256: out.Stored.SHA256, Params: out.Params, Promoted: out.Promoted, Decision: out.Decision, Metrics: art.Metrics,
	}
	if art.Spec != nil {
		j.FeatureSpec = art.Spec.Version
	}
	if out.Version != nil {
		j.Version = out.Version.Version
	}
	if out.ChampionVersion > 0 {
		j.ChampionVersion, j.ChampionRMSE = out.ChampionVersion, &out.ChampionRMSE
	}
	if asJSON {
		return emitJSON(a.out, j)
	}
	w := a.out
	fmt.Fprintf(w, "run          %s\n", j.RunID)
	fmt.Fprintf(w, "model        %s (%s)\n", j.Kind, j.Model)
	if out.Valid.N > 0 {
		fmt.Fprintf(w, "valid        RMSE %.4f  MAE %.4f  R² %.4f  (%d rows)\n", j.ValidRMSE, j.ValidMAE, j.ValidR2, out.Valid.N)
	}
	fmt.Fprintf(w, "train        RMSE %.4f  (%d rows)\n", j.TrainRMSE, out.Train.N)
	fmt.Fprintf(w, "rounds       %d\n", j.Rounds)
	fmt.Fprintf(w, "wall time    %.2fs\n", j.TrainSeconds)
	if j.Version > 0 {
		fmt.Fprintf(w, "version      %d\n", j.Version)
	}
	if j.Decision != "" {
		fmt.Fprintf(w, "champion     %s\n", j.Decision)
	}
	return nil
}
