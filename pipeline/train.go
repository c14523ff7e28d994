package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"

	"tripcast"
	"tripcast/model"
	"tripcast/tracking"
	"tripcast/train"
)

// Outputs of the train steps, read by the steps after them.
const (
	outTrainMonth  = "train_month"
	outValidMonth  = "valid_month"
	outTrainingRun = "training_run" // the tracked run's id
	outArtifact    = "artifact_key"
	outSHA256      = "sha256"
	outDecision    = "decision" // champion or challenger
	outChampion    = "champion_version"
	outVersion     = "version"
)

// trainMonths returns the training and validation months of run: its
// explicit months, else TrainOffset and ValidOffset months before its
// logical date.
func (e *Engine) trainMonths(run *tripcast.PipelineRun) (string, string) {
	if t, v := run.Params["train"], run.Params["valid"]; t != "" && v != "" {
		return t, v
	}
	return monthOf(run.LogicalDate, e.cfg.Train.TrainOffset), monthOf(run.LogicalDate, e.cfg.Train.ValidOffset)
}

// trainFetch resolves the months and makes sure both are stored.
func (e *Engine) trainFetch(ctx context.Context, run *tripcast.PipelineRun) (map[string]string, error) {
	tm, vm := e.trainMonths(run)
	out := map[string]string{outTrainMonth: tm, outValidMonth: vm}
	for _, m := range []string{tm, vm} {
		d, fetched, err := e.month(ctx, m)
		if err != nil {
			return nil, err
		}
		out["dataset_"+m] = d.Manifest.Ref()
		if fetched {
			out["fetched_"+m] = "true"
		}
	}
	return out, nil
}

// outputs returns what step name of run produced (nil when it has not).
func outputs(run *tripcast.PipelineRun, name string) map[string]string {
	if s := run.Step(name); s != nil {
		return s.Outputs
	}
	return nil
}

// loadFetched loads the stored dataset of month, as fetch recorded it.
func (e *Engine) loadFetched(ctx context.Context, month string) (train.Data, error) {
	d, _, err := e.month(ctx, month)
	if err != nil {
		return train.Data{}, err
	}
	return train.FromDataset(d), nil
}

// trainFit trains a candidate on the training month, validated on the
// validation month, and tracks the run (not registered yet). Run again
// after a crash, it trains again: a run that never reached register is
// only a tracked run.
func (e *Engine) trainFit(ctx context.Context, run *tripcast.PipelineRun) (map[string]string, error) {
	f := outputs(run, "fetch")
	td, err := e.loadFetched(ctx, f[outTrainMonth])
	if err != nil {
		return nil, err
	}
	vd, err := e.loadFetched(ctx, f[outValidMonth])
	if err != nil {
		return nil, err
	}
	job := train.Job{Tracker: e.cfg.Tracker, RunName: "pipeline " + run.ID, ModelName: e.cfg.ModelName,
		Train: td, Valid: vd, Options: train.Options{Kind: model.GBDT, Params: e.cfg.Train.Params}, Actor: "pipeline"}
	res, err := job.Run(ctx)
	if err != nil {
		return nil, fmt.Errorf("train on %s, validate on %s: %w", f[outTrainMonth], f[outValidMonth], err)
	}
	return map[string]string{outTrainingRun: res.RunID, outArtifact: res.Stored.Key, outSHA256: res.Stored.SHA256,
		"valid_rmse": ftoa(res.Valid.RMSE), "rounds": strconv.Itoa(res.Rounds)}, nil
}

// candidate reads the fitted model from the blob store, checking its
// sha256.
func (e *Engine) candidate(ctx context.Context, run *tripcast.PipelineRun) (*model.Artifact, map[string]string, error) {
	fit := outputs(run, "fit")
	rc, err := e.cfg.Blob.Open(ctx, fit[outArtifact])
	if err != nil {
		return nil, nil, fmt.Errorf("candidate model: %w", err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("candidate model: %w", err)
	}
	if got := sha256hex(b); got != fit[outSHA256] {
		return nil, nil, tripcast.Errorf(tripcast.ECONFLICT, "candidate model %s: got sha256 %s, want %s", fit[outArtifact], got, fit[outSHA256])
	}
	a, err := model.Read(bytes.NewReader(b))
	if err != nil {
		return nil, nil, fmt.Errorf("candidate model %s: %w", fit[outArtifact], err)
	}
	return a, fit, nil
}

// trainEvaluate scores the candidate and the current champion on the same
// validation month and decides: champion when the candidate passes
// MaxRMSE and beats the champion by Margin, else challenger.
func (e *Engine) trainEvaluate(ctx context.Context, run *tripcast.PipelineRun) (map[string]string, error) {
	cand, _, err := e.candidate(ctx, run)
	if err != nil {
		return nil, err
	}
	vm := outputs(run, "fetch")[outValidMonth]
	vd, err := e.loadFetched(ctx, vm)
	if err != nil {
		return nil, err
	}
	cm, err := train.ScoreTrips(cand, vd.Trips)
	if err != nil {
		return nil, fmt.Errorf("score candidate: %w", err)
	}
	out := map[string]string{"candidate_rmse": ftoa(cm.RMSE), "valid_rows": strconv.Itoa(cm.N), outChampion: "0"}
	champ, err := e.cfg.Tracker.CurrentAlias(ctx, e.cfg.ModelName, tripcast.ChampionAlias)
	if err != nil {
		return nil, fmt.Errorf("read champion: %w", err)
	}
	gate := e.cfg.Train.MaxRMSE
	switch {
	case cm.RMSE > gate:
		out[outDecision], out["reason"] = "challenger", fmt.Sprintf("valid_rmse %.4f on %s is above max_rmse %g", cm.RMSE, vm, gate)
	case champ == 0:
		out[outDecision], out["reason"] = tripcast.ChampionAlias, fmt.Sprintf("first champion: valid_rmse %.4f on %s", cm.RMSE, vm)
	}
	if champ == 0 || out[outDecision] != "" {
		return out, nil
	}
	ca, err := model.LoadRegistered(ctx, e.cfg.Tracker, e.cfg.ModelName, strconv.Itoa(champ))
	if err != nil {
		return nil, fmt.Errorf("load champion version %d: %w", champ, err)
	}
	chm, err := train.ScoreTrips(ca, vd.Trips)
	if err != nil {
		return nil, fmt.Errorf("score champion version %d: %w", champ, err)
	}
	out[outChampion], out["champion_rmse"] = strconv.Itoa(champ), ftoa(chm.RMSE)
	need := chm.RMSE * (1 - e.cfg.Train.Margin)
	if cm.RMSE < need {
		out[outDecision], out["reason"] = tripcast.ChampionAlias, fmt.Sprintf("valid_rmse %.4f beats champion version %d's %.4f on %s (margin %g)", cm.RMSE, champ, chm.RMSE, vm, e.cfg.Train.Margin)
	} else {
		out[outDecision], out["reason"] = "challenger", fmt.Sprintf("valid_rmse %.4f does not beat champion version %d's %.4f on %s by margin %g", cm.RMSE, champ, chm.RMSE, vm, e.cfg.Train.Margin)
	}
	return out, nil
}

// trainRegister registers the candidate, once: a version already
// registered from the same training run (a retry after a crash) is reused.
func (e *Engine) trainRegister(ctx context.Context, run *tripcast.PipelineRun) (map[string]string, error) {
	cand, fit, err := e.candidate(ctx, run)
	if err != nil {
		return nil, err
	}
	vs, err := e.cfg.Tracker.Store().ListVersions(ctx, e.cfg.ModelName)
	if err != nil && tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
		return nil, fmt.Errorf("list versions: %w", err)
	}
	for _, v := range vs {
		if v.RunID == fit[outTrainingRun] {
			return map[string]string{outVersion: strconv.Itoa(v.Version), "reused": "true"}, nil
		}
	}
	var spec []byte
	if cand.Spec != nil {
		if spec, err = cand.Spec.MarshalJSON(); err != nil {
			return nil, fmt.Errorf("feature spec: %w", err)
		}
	}
	f := outputs(run, "fetch")
	v, err := e.cfg.Tracker.RegisterVersion(ctx, e.cfg.ModelName, tracking.NewVersion{
		RunID: fit[outTrainingRun], ArtifactKey: fit[outArtifact], SHA256: fit[outSHA256], FeatureSpec: spec, Metrics: cand.Metrics,
		Description: fmt.Sprintf("pipeline run %s: gbdt trained on %s, validated on %s", run.ID, f[outTrainMonth], f[outValidMonth]),
	})
	if err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	return map[string]string{outVersion: strconv.Itoa(v.Version)}, nil
}

// trainPromote moves the alias evaluate decided on to the new version.
// Champion moves by compare-and-set from the champion evaluate compared
// with: when someone moved it meanwhile, the version becomes challenger
// instead (it was not compared with the new champion). An alias already
// on the version (a retry) is left as it is.
func (e *Engine) trainPromote(ctx context.Context, run *tripcast.PipelineRun) (map[string]string, error) {
	ev := outputs(run, "evaluate")
	version, err := strconv.Atoi(outputs(run, "register")[outVersion])
	if err != nil {
		return nil, fmt.Errorf("registered version: %w", err)
	}
	alias, reason := ev[outDecision], ev["reason"]
	for _, a := range []string{tripcast.ChampionAlias, "challenger"} {
		cur, err := e.cfg.Tracker.CurrentAlias(ctx, e.cfg.ModelName, a)
		if err != nil {
			return nil, err
		}
		if cur == version {
			return map[string]string{"alias": a, outVersion: strconv.Itoa(version), "already": "true"}, nil
		}
	}
	actor := "pipeline " + run.ID
	if alias == tripcast.ChampionAlias {
		from, _ := strconv.Atoi(ev[outChampion])
		_, err := e.cfg.Tracker.PromoteIf(ctx, e.cfg.ModelName, version, alias, from, reason, actor)
		if err == nil {
			return map[string]string{"alias": alias, outVersion: strconv.Itoa(version), "reason": reason}, nil
		}
		if tripcast.ErrorCode(err) != tripcast.ECONFLICT {
			return nil, fmt.Errorf("promote version %d: %w", version, err)
		}
		alias, reason = "challenger", fmt.Sprintf("the champion moved since evaluation (%v)", err)
	}
	if _, err := e.cfg.Tracker.Promote(ctx, e.cfg.ModelName, version, alias, reason, actor); err != nil {
		return nil, fmt.Errorf("set %s to version %d: %w", alias, version, err)
	}
	return map[string]string{"alias": alias, outVersion: strconv.Itoa(version), "reason": reason}, nil
}

func ftoa(x float64) string { return strconv.FormatFloat(x, 'f', 4, 64) }

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
