package main

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"tripcast/train"
)

func newTuneCmd(a *app) *cobra.Command {
	var (
		trainRef, validRef, experiment string
		trials                         int
		seed                           int64
		fixed                          []string
		asJSON                         bool
	)
	cmd := &cobra.Command{
		Use:   "tune --train REF --valid REF --trials N",
		Short: "Search gbdt hyperparameters (random search with early stopping); every trial is a tracked run",
		Long: `Random search over eta, max_depth, min_child_weight, lambda, alpha, gamma,
subsample, colsample_bytree and max_bin, each trial with early stopping on the
validation month. The search is a parent run; each trial is a child run with
its parameters and metrics. --param k=v fixes a parameter in every trial.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			kv, err := parseParams(fixed)
			if err != nil {
				return err
			}
			if _, err := train.GBDTParams(kv); err != nil {
				return err
			}
			td, vd, err := a.loadTrainValid(ctx, trainRef, validRef, true)
			if err != nil {
				return err
			}
			tr, err := a.tracker(ctx, true)
			if err != nil {
				return err
			}
			prep, err := train.Prepare(td.Trips, vd.Trips)
			if err != nil {
				return err
			}
			out, err := train.Tune(ctx, tr, experiment, prep, [2]train.Data{td, vd}, trials, seed, kv, func(i int, t train.Trial) {
				if t.Err != "" {
					a.log.Warn("trial failed", "trial", i, "run", t.RunID, "err", t.Err)
					return
				}
				a.log.Info("trial", "trial", i, "run", t.RunID, "valid_rmse", round4(t.RMSE), "rounds", t.Rounds)
			})
			if err != nil {
				return err
			}
			if asJSON {
				return emitJSON(a.out, map[string]any{
					"run_id": out.RunID, "best_params": out.Best, "best_valid_rmse": out.BestRMSE,
					"best_rounds": out.BestRounds, "trials": out.Trials,
				})
			}
			fmt.Fprintf(a.out, "search run   %s (%d trials)\n", out.RunID, len(out.Trials))
			fmt.Fprintf(a.out, "best RMSE    %.4f (%d rounds)\n", out.BestRMSE, out.BestRounds)
			keys := make([]string, 0, len(out.Best))
			for k := range out.Best {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(a.out, "  --param %s=%s\n", k, out.Best[k])
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&trainRef, "train", "", "training data: month, dataset or parquet file")
	f.StringVar(&validRef, "valid", "", "validation data: month, dataset or parquet file")
	f.IntVar(&trials, "trials", 10, "number of trials")
	f.Int64Var(&seed, "seed", 1, "seed of the search")
	f.StringArrayVar(&fixed, "param", nil, "fix a parameter key=value in every trial (repeatable)")
	f.StringVar(&experiment, "experiment", train.DefaultExperiment, "experiment the runs belong to")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}
