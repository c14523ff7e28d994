// Package train turns training data into a model artifact: it fits the
// feature spec on the training month, trains gradient-boosted trees (or the
// linear baseline), scores the validation month, and — when given a tracker —
// records the run (params, per-round metrics, datasets, artifact) and
// registers and promotes the new version.
package train

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"tripcast"
	"tripcast/features"
	"tripcast/gbdt"
	"tripcast/linear"
	"tripcast/model"
)

// Options configure one training.
type Options struct {
	Kind   model.Kind        // model.GBDT (default) or model.Linear
	Params map[string]string // gbdt parameters by XGBoost name; for linear: solver (course|exact) and alpha
	// Progress, when not nil, is called after every boosting round.
	Progress func(gbdt.Progress)
}

// Result is a trained model and how it did.
type Result struct {
	Artifact *model.Artifact
	Train    model.Metrics // on the training rows
	Valid    model.Metrics // on the validation rows
	Rounds   int           // trees kept (gbdt), 0 for linear
	Seconds  float64       // wall time of fitting features and model
	Params   map[string]string
}

// DefaultLinearAlpha is the ridge strength of the exact linear solver:
// small enough to be the unregularised least-squares answer.
const DefaultLinearAlpha = 1e-6

// Fit trains on train and scores on valid (which may be nil).
func Fit(ctx context.Context, trainTrips, validTrips *tripcast.Trips, opt Options) (*Result, error) {
	if trainTrips == nil || trainTrips.Len() == 0 {
		return nil, tripcast.FieldError("train", "no training rows")
	}
	start := time.Now()
	switch opt.Kind {
	case "", model.GBDT:
		return fitGBDT(ctx, trainTrips, validTrips, opt, start)
	case model.Linear:
		return fitLinear(trainTrips, validTrips, opt, start)
	default:
		return nil, tripcast.FieldError("model", "%q is not one of gbdt, linear", opt.Kind)
	}
}

// Prepared is training and validation data featurised once, so that many
// trainings (tuning trials) share it.
type Prepared struct {
	Spec         *features.Spec
	Train, Valid *gbdt.Dataset // Valid nil without validation data
	TrainTrips   *tripcast.Trips
	ValidTrips   *tripcast.Trips
}

// Prepare fits the default feature spec on trainTrips and builds both
// matrices (out-of-fold encodings for the training rows).
func Prepare(trainTrips, validTrips *tripcast.Trips) (*Prepared, error) {
	spec := features.Default()
	if err := spec.Fit(trainTrips); err != nil {
		return nil, fmt.Errorf("fit features: %w", err)
	}
	p := &Prepared{Spec: spec, TrainTrips: trainTrips, ValidTrips: validTrips}
	p.Train = gbdtData(spec.Matrix(trainTrips, true))
	if validTrips != nil && validTrips.Len() > 0 {
		p.Valid = gbdtData(spec.Matrix(validTrips, false))
	}
	return p, nil
}

func gbdtData(m *features.Matrix) *gbdt.Dataset {
	return &gbdt.Dataset{Cols: m.Cols, Label: m.Label, Names: m.Names, Categorical: m.Categorical}
}

// GBDTParams returns the gbdt defaults overridden by kv; the error names the
// bad key.
func GBDTParams(kv map[string]string) (gbdt.Params, error) {
	p := gbdt.DefaultParams()
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := p.Set(k, kv[k]); err != nil {
			return p, err
		}
	}
	return p, nil
}

func fitGBDT(ctx context.Context, trainTrips, validTrips *tripcast.Trips, opt Options, start time.Time) (*Result, error) {
	params, err := GBDTParams(opt.Params)
	if err != nil {
		return nil, err
	}
	prep, err := Prepare(trainTrips, validTrips)
	if err != nil {
		return nil, err
	}
	return prep.FitGBDT(ctx, params, opt.Progress, start)
}

// FitGBDT trains gradient-boosted trees with params on the prepared data.
// start is when the work began, for Result.Seconds.
func (p *Prepared) FitGBDT(ctx context.Context, params gbdt.Params, progress func(gbdt.Progress), start time.Time) (*Result, error) {
	m, err := gbdt.Train(ctx, p.Train, p.Valid, params, progress)
	if err != nil {
		return nil, fmt.Errorf("train gbdt: %w", err)
	}
	secs := time.Since(start).Seconds()
	a := &model.Artifact{Kind: model.GBDT, GBDT: m, Spec: p.Spec, Params: params.Map()}
	res := &Result{Artifact: a, Rounds: m.NumTrees(), Seconds: secs, Params: params.Map()}
	res.Train = score(m, p.Train)
	if p.Valid != nil {
		res.Valid = score(m, p.Valid)
	}
	a.Metrics = res.metricsMap()
	return res, nil
}

// score evaluates m on d's rows.
func score(m *gbdt.Model, d *gbdt.Dataset) model.Metrics {
	out := make([]float32, d.Rows())
	m.PredictBatch(d.Cols, out)
	pred := make([]float64, len(out))
	actual := make([]float64, len(out))
	for i := range out {
		pred[i], actual[i] = float64(out[i]), float64(d.Label[i])
	}
	return model.Evaluate(pred, actual)
}

// Linear solvers: "course" reproduces the course's scikit-learn
// LinearRegression, whose sparse LSQR solver stops at its default
// tolerances (valid RMSE 7.76 on green 2021-01 → 2021-02); "exact" solves the
// ridge problem to full precision (7.48 on the same months).
const (
	SolverCourse = "course"
	SolverExact  = "exact"
)

func fitLinear(trainTrips, validTrips *tripcast.Trips, opt Options, start time.Time) (*Result, error) {
	alpha, solver := DefaultLinearAlpha, SolverCourse
	alphaSet := false
	for k, v := range opt.Params {
		switch k {
		case "alpha":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || math.IsInf(f, 0) {
				return nil, tripcast.FieldError("alpha", "%q is not a non-negative number", v)
			}
			alpha, alphaSet = f, true
		case "solver":
			if v != SolverCourse && v != SolverExact {
				return nil, tripcast.FieldError("solver", "%q is not one of course, exact", v)
			}
			solver = v
		default:
			return nil, tripcast.FieldError("param", "%q is not a parameter of the linear model (it takes solver and alpha)", k)
		}
	}
	if alphaSet && solver == SolverCourse {
		return nil, tripcast.FieldError("alpha", "the course solver has no ridge term: use --param solver=exact with alpha")
	}
	var lm *linear.Model
	var err error
	params := map[string]string{"solver": solver}
	if solver == SolverExact {
		lm, err = linear.Train(trainTrips, alpha)
		params["alpha"] = strconv.FormatFloat(alpha, 'g', -1, 64)
	} else {
		lm, err = linear.TrainCourse(trainTrips)
	}
	if err != nil {
		return nil, fmt.Errorf("train linear: %w", err)
	}
	a := &model.Artifact{Kind: model.Linear, Linear: lm, Params: params}
	res := &Result{Artifact: a, Seconds: time.Since(start).Seconds(), Params: params}
	res.Train, err = ScoreTrips(a, trainTrips)
	if err != nil {
		return nil, err
	}
	if validTrips != nil && validTrips.Len() > 0 {
		if res.Valid, err = ScoreTrips(a, validTrips); err != nil {
			return nil, err
		}
	}
	a.Metrics = res.metricsMap()
	return res, nil
}

// ScoreTrips evaluates an artifact on trips with known durations.
func ScoreTrips(a *model.Artifact, t *tripcast.Trips) (model.Metrics, error) {
	pred := make([]float64, t.Len())
	if err := a.PredictTrips(t, pred); err != nil {
		return model.Metrics{}, fmt.Errorf("score: %w", err)
	}
	return model.Evaluate(pred, t.Duration), nil
}

// metricsMap flattens the metrics as recorded on runs and versions.
func (r *Result) metricsMap() map[string]float64 {
	m := map[string]float64{
		"train_rmse": r.Train.RMSE, "train_mae": r.Train.MAE, "train_r2": r.Train.R2,
		"rounds": float64(r.Rounds), "train_seconds": r.Seconds, "train_rows": float64(r.Train.N),
	}
	if r.Valid.N > 0 {
		m["valid_rmse"], m["valid_mae"], m["valid_r2"], m["valid_rows"] = r.Valid.RMSE, r.Valid.MAE, r.Valid.R2, float64(r.Valid.N)
	}
	return m
}
