package train

import (
	"context"
	"math/rand/v2"

	"tripcast"
	"tripcast/dataset"
	"tripcast/tracking"
)

// Holdout splits t at random (seeded) into a training part and a
// validation part holding about frac of the trips.
func Holdout(t *tripcast.Trips, frac float64, seed uint64) (train, valid *tripcast.Trips) {
	rng := rand.New(rand.NewPCG(seed, 0x686f6c646f7574))
	var ti, vi []int
	for i := 0; i < t.Len(); i++ {
		if rng.Float64() < frac {
			vi = append(vi, i)
		} else {
			ti = append(ti, i)
		}
	}
	return t.Select(ti), t.Select(vi)
}

// FromDataset returns the training data of a resolved or ingested month.
func FromDataset(d *dataset.Data) Data {
	return Data{Trips: d.Trips, URI: d.Manifest.URI, SHA256: d.SHA256()}
}

// BootstrapOptions configure Bootstrap.
type BootstrapOptions struct {
	// Data are cleaned months (as dataset.Ingest hands them back): the
	// first trains, the second (if any) validates; more are not used.
	Data      []*dataset.Data
	ModelName string
	Params    map[string]string
	Actor     string
	Progress  Options // only Progress is used
}

// Bootstrap makes a registry with no champion serveable: it trains
// gradient-boosted trees on the first month of opt.Data (validated on the
// second, or on a 10 % holdout of the first when there is only one, for
// early stopping), registers the model and makes it champion. It returns the
// outcome of the tracked training.
func Bootstrap(ctx context.Context, tr *tracking.Tracker, opt BootstrapOptions) (*Outcome, error) {
	if len(opt.Data) == 0 {
		return nil, tripcast.FieldError("from", "the registry has no champion: give TLC files to train a first model on")
	}
	trainData, validData := FromDataset(opt.Data[0]), Data{}
	if len(opt.Data) > 1 {
		validData = FromDataset(opt.Data[1])
	} else {
		src := trainData
		t, v := Holdout(src.Trips, 0.1, 1)
		trainData = Data{Trips: t, URI: src.URI + "#holdout=train", SHA256: src.SHA256}
		validData = Data{Trips: v, URI: src.URI + "#holdout=valid", SHA256: src.SHA256}
	}
	job := Job{
		Tracker: tr, RunName: "bootstrap", ModelName: opt.ModelName, Train: trainData, Valid: validData,
		Options: Options{Params: opt.Params, Progress: opt.Progress.Progress}, PromoteIfBetter: true, Actor: opt.Actor,
	}
	return job.Run(ctx)
}
