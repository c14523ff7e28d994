package train

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"tripcast"
	"tripcast/gbdt"
	"tripcast/model"
	"tripcast/monitoring"
	"tripcast/tracking"
)

// DefaultExperiment is the experiment training runs go to when none is named.
const DefaultExperiment = "ride-duration"

// Data is a data set with its lineage.
type Data struct {
	Trips  *tripcast.Trips
	URI    string // where it came from (dataset or file URI)
	SHA256 string // of the stored bytes, "" when unknown
}

// Job is one tracked training: fit, record the run, and optionally register
// the model and promote it.
type Job struct {
	Tracker    *tracking.Tracker
	Experiment string // DefaultExperiment when ""
	RunName    string
	ModelName  string // tripcast.DefaultModelName when ""
	Train      Data
	Valid      Data // Trips may be nil
	Options    Options
	// Register records the model as the registered model's next version.
	Register bool
	// PromoteIfBetter (implies Register) points the champion alias at the
	// new version when its validation RMSE beats the current champion's,
	// re-scored on the same validation data.
	PromoteIfBetter bool
	Actor           string
}

// Outcome is what a tracked training produced.
type Outcome struct {
	*Result
	RunID  string
	Stored tripcast.Artifact // the model file in the blob store
	// Reference is the monitoring reference stored beside the model file
	// (monitoring.ReferenceName): what reports compare windows with.
	Reference tripcast.Artifact
	Version   *tripcast.ModelVersion // nil unless registered
	Promoted  bool
	// ChampionRMSE is the previous champion's RMSE on the same validation
	// data; NaN when there was no champion or no comparison.
	ChampionRMSE    float64
	ChampionVersion int
	Decision        string // why the alias moved or not
}

// Run trains, records and (optionally) registers and promotes.
func (j Job) Run(ctx context.Context) (out *Outcome, err error) {
	if j.Tracker == nil {
		return nil, tripcast.Errorf(tripcast.EINTERNAL, "train: no tracker")
	}
	if j.Experiment == "" {
		j.Experiment = DefaultExperiment
	}
	if j.ModelName == "" {
		j.ModelName = tripcast.DefaultModelName
	}
	if j.PromoteIfBetter && (j.Valid.Trips == nil || j.Valid.Trips.Len() == 0) {
		return nil, tripcast.FieldError("valid", "--promote-if-better needs validation data to compare with the champion")
	}
	// Features are fitted before the run starts so that the run records the
	// fitted spec's version as lineage.
	start := time.Now()
	var prep *Prepared
	var params gbdt.Params
	var runOpts = []tracking.RunOption{tracking.WithTags(map[string]string{"model_kind": string(kindOr(j.Options.Kind))})}
	if kindOr(j.Options.Kind) == model.GBDT {
		if params, err = GBDTParams(j.Options.Params); err != nil {
			return nil, err
		}
		if prep, err = Prepare(j.Train.Trips, j.Valid.Trips); err != nil {
			return nil, err
		}
		runOpts = append(runOpts, tracking.WithFeatureSpec(prep.Spec.Version))
	}
	run, err := j.Tracker.StartRun(ctx, j.Experiment, j.RunName, "", runOpts...)
	if err != nil {
		return nil, fmt.Errorf("start run: %w", err)
	}
	defer run.EndWith(ctx, &err)
	if err := recordInputs(ctx, run, j.Train, j.Valid); err != nil {
		return nil, err
	}
	progress := logProgress(ctx, run, j.Options.Progress)
	var res *Result
	if prep != nil {
		res, err = prep.FitGBDT(ctx, params, progress, start)
	} else {
		res, err = Fit(ctx, j.Train.Trips, j.Valid.Trips, j.Options)
	}
	if err != nil {
		return nil, err
	}
	out = &Outcome{Result: res, RunID: run.ID, ChampionRMSE: math.NaN()}
	if err := recordResult(ctx, run, res); err != nil {
		return nil, err
	}
	if out.Stored, err = storeArtifact(ctx, run, res.Artifact); err != nil {
		return nil, err
	}
	if out.Reference, err = storeReference(ctx, run, res.Artifact, j.Train, j.Valid); err != nil {
		return nil, err
	}
	if !j.Register && !j.PromoteIfBetter {
		return out, nil
	}
	if err := j.register(ctx, out); err != nil {
		return nil, err
	}
	if j.PromoteIfBetter {
		if err := j.promoteIfBetter(ctx, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func kindOr(k model.Kind) model.Kind {
	if k == "" {
		return model.GBDT
	}
	return k
}

func recordInputs(ctx context.Context, run *tracking.Run, train, valid Data) error {
	for _, d := range []Data{train, valid} {
		if d.Trips == nil || d.URI == "" {
			continue
		}
		if err := run.AddDataset(ctx, d.URI, d.SHA256, int64(d.Trips.Len())); err != nil {
			return fmt.Errorf("record dataset %s: %w", d.URI, err)
		}
	}
	return nil
}

// logProgress returns a progress function that records per-round RMSEs as
// metric history and then calls next.
func logProgress(ctx context.Context, run *tracking.Run, next func(gbdt.Progress)) func(gbdt.Progress) {
	return func(p gbdt.Progress) {
		_ = run.LogMetric(ctx, "train_rmse_round", p.TrainRMSE, int64(p.Round))
		if !math.IsNaN(p.ValidRMSE) {
			_ = run.LogMetric(ctx, "valid_rmse_round", p.ValidRMSE, int64(p.Round))
		}
		if next != nil {
			next(p)
		}
	}
}

func recordResult(ctx context.Context, run *tracking.Run, res *Result) error {
	if err := run.LogParams(ctx, res.Params); err != nil {
		return fmt.Errorf("log params: %w", err)
	}
	for k, v := range res.Artifact.Metrics {
		if err := run.LogMetric(ctx, k, v, 0); err != nil {
			return fmt.Errorf("log metric %s: %w", k, err)
		}
	}
	return run.Flush(ctx)
}

func storeArtifact(ctx context.Context, run *tracking.Run, a *model.Artifact) (tripcast.Artifact, error) {
	var buf bytes.Buffer
	if _, err := a.WriteTo(&buf); err != nil {
		return tripcast.Artifact{}, err
	}
	return run.LogArtifact(ctx, "model.json", &buf)
}

// storeReference builds the monitoring reference (the training data's
// model inputs and durations, the model's predictions and figures on the
// validation data) and stores it beside the model file, so that a report
// never re-reads or re-trains anything.
func storeReference(ctx context.Context, run *tracking.Run, a *model.Artifact, train, valid Data) (tripcast.Artifact, error) {
	source := train.URI
	if valid.URI != "" {
		source += " (predictions on " + valid.URI + ")"
	}
	ref, err := monitoring.NewReference(a, train.Trips, valid.Trips, source)
	if err != nil {
		return tripcast.Artifact{}, fmt.Errorf("monitoring reference: %w", err)
	}
	buf, err := monitoring.MarshalReference(ref)
	if err != nil {
		return tripcast.Artifact{}, err
	}
	return run.LogArtifact(ctx, monitoring.ReferenceName, buf)
}

func (j Job) register(ctx context.Context, out *Outcome) error {
	var spec []byte
	if s := out.Artifact.Spec; s != nil {
		b, err := s.MarshalJSON()
		if err != nil {
			return fmt.Errorf("register: feature spec: %w", err)
		}
		spec = b
	}
	v, err := j.Tracker.RegisterVersion(ctx, j.ModelName, tracking.NewVersion{
		RunID: out.RunID, ArtifactKey: out.Stored.Key, SHA256: out.Stored.SHA256,
		FeatureSpec: spec, Metrics: out.Artifact.Metrics,
		Description: fmt.Sprintf("%s trained on %s", kindOr(j.Options.Kind), j.Train.URI),
	})
	if err != nil {
		return fmt.Errorf("register model %s: %w", j.ModelName, err)
	}
	out.Version = v
	return nil
}

// promoteIfBetter makes the new version champion when it beats the current
// champion re-scored on the same validation data. The alias moves by
// compare-and-set: when another writer moved it meanwhile, the decision is
// taken again against the new champion.
func (j Job) promoteIfBetter(ctx context.Context, out *Outcome) error {
	for attempt := 0; ; attempt++ {
		champ, err := j.Tracker.CurrentAlias(ctx, j.ModelName, tripcast.ChampionAlias)
		if err != nil {
			return fmt.Errorf("read champion alias: %w", err)
		}
		reason, better, err := j.compare(ctx, out, champ)
		if err != nil || !better {
			return err
		}
		_, err = j.Tracker.PromoteIf(ctx, j.ModelName, out.Version.Version, tripcast.ChampionAlias, champ, reason, j.actor())
		if tripcast.ErrorCode(err) == tripcast.ECONFLICT && attempt < 10 {
			continue
		}
		if err != nil {
			return fmt.Errorf("promote version %d: %w", out.Version.Version, err)
		}
		out.Promoted, out.Decision = true, "promoted: "+reason
		return nil
	}
}

// compare decides whether the candidate beats champion version champ (0:
// none), re-scoring the champion on the candidate's validation data.
func (j Job) compare(ctx context.Context, out *Outcome, champ int) (reason string, better bool, err error) {
	cand := out.Valid.RMSE
	if champ == 0 {
		return fmt.Sprintf("first champion: valid_rmse %.4f on %s", cand, j.Valid.URI), true, nil
	}
	// A champion whose artifact is missing or fails its checksum is an
	// error here, not a reason to hand the title over silently.
	a, err := model.LoadRegistered(ctx, j.Tracker, j.ModelName, strconv.Itoa(champ))
	if err != nil {
		return "", false, fmt.Errorf("load champion version %d to compare: %w", champ, err)
	}
	m, err := ScoreTrips(a, j.Valid.Trips)
	if err != nil {
		return "", false, fmt.Errorf("re-score champion version %d: %w", champ, err)
	}
	out.ChampionRMSE, out.ChampionVersion = m.RMSE, champ
	if !(cand < m.RMSE) {
		out.Decision = fmt.Sprintf("kept champion version %d: valid_rmse %.4f on %s; version %d has %.4f", champ, m.RMSE, j.Valid.URI, out.Version.Version, cand)
		return "", false, nil
	}
	return fmt.Sprintf("valid_rmse %.4f beats champion version %d's %.4f on %s", cand, champ, m.RMSE, j.Valid.URI), true, nil
}

func (j Job) actor() string {
	if j.Actor == "" {
		return "tripcast"
	}
	return j.Actor
}

// TuneOutcome is the result of a hyperparameter search.
type TuneOutcome struct {
	RunID      string // the parent run
	Best       map[string]string
	BestRMSE   float64
	BestRounds int
	Trials     []Trial
}

// Trial is one tuning trial.
type Trial struct {
	RunID  string            `json:"run_id"`
	Params map[string]string `json:"params"`
	RMSE   float64           `json:"valid_rmse"`
	Rounds int               `json:"rounds"`
	Err    string            `json:"error,omitempty"`
}

// Tune runs a random search of trials gbdt trainings on the prepared data,
// each a child run of one parent run, and returns the best parameters by
// validation RMSE. Fixed overrides every trial's sampled values (e.g.
// nthread). onTrial, when not nil, is called after each trial.
func Tune(ctx context.Context, tr *tracking.Tracker, experiment string, prep *Prepared, data [2]Data, trials int, seed int64, fixed map[string]string, onTrial func(i int, t Trial)) (out *TuneOutcome, err error) {
	if trials < 1 {
		return nil, tripcast.FieldError("trials", "must be at least 1")
	}
	if prep.Valid == nil {
		return nil, tripcast.FieldError("valid", "tuning needs validation data")
	}
	if experiment == "" {
		experiment = DefaultExperiment
	}
	parent, err := tr.StartRun(ctx, experiment, "tune", "", tracking.WithFeatureSpec(prep.Spec.Version), tracking.WithTags(map[string]string{"search": "random", "trials": strconv.Itoa(trials)}))
	if err != nil {
		return nil, fmt.Errorf("start tuning run: %w", err)
	}
	defer parent.EndWith(ctx, &err)
	if err := recordInputs(ctx, parent, data[0], data[1]); err != nil {
		return nil, err
	}
	out = &TuneOutcome{RunID: parent.ID, BestRMSE: math.Inf(1)}
	space := newSearch(seed)
	for i := 0; i < trials; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		kv := space.sample()
		for k, v := range fixed {
			kv[k] = v
		}
		t, err := runTrial(ctx, parent, prep, data, i, kv)
		if err != nil {
			return nil, err
		}
		out.Trials = append(out.Trials, t)
		if t.Err == "" && t.RMSE < out.BestRMSE {
			out.Best, out.BestRMSE, out.BestRounds = t.Params, t.RMSE, t.Rounds
		}
		if onTrial != nil {
			onTrial(i, t)
		}
	}
	if out.Best == nil {
		return nil, tripcast.Errorf(tripcast.EINTERNAL, "tune: every trial failed: %s", out.Trials[0].Err)
	}
	for k, v := range out.Best {
		_ = parent.SetTags(ctx, map[string]string{"best." + k: v})
	}
	if err := parent.LogMetric(ctx, "best_valid_rmse", out.BestRMSE, 0); err != nil {
		return nil, err
	}
	return out, nil
}

func runTrial(ctx context.Context, parent *tracking.Run, prep *Prepared, data [2]Data, i int, kv map[string]string) (t Trial, err error) {
	child, err := parent.StartChild(ctx, fmt.Sprintf("trial-%d", i), tracking.WithFeatureSpec(prep.Spec.Version))
	if err != nil {
		return t, fmt.Errorf("start trial %d: %w", i, err)
	}
	var trialErr error
	defer func() {
		status := tripcast.RunFinished
		if trialErr != nil {
			status = tripcast.RunFailed
		}
		err = errors.Join(err, child.End(ctx, status))
	}()
	if err := recordInputs(ctx, child, data[0], data[1]); err != nil {
		return t, err
	}
	t = Trial{RunID: child.ID, Params: kv}
	params, perr := GBDTParams(kv)
	if perr != nil {
		trialErr = perr
		t.Err = perr.Error()
		return t, nil
	}
	res, ferr := prep.FitGBDT(ctx, params, logProgress(ctx, child, nil), time.Now())
	if ferr != nil {
		if ctx.Err() != nil {
			return t, ctx.Err()
		}
		trialErr = ferr
		t.Err = ferr.Error()
		return t, nil
	}
	t.RMSE, t.Rounds = res.Valid.RMSE, res.Rounds
	if err := recordResult(ctx, child, res); err != nil {
		return t, err
	}
	return t, nil
}
