package train

import (
	"context"
	"fmt"
	"math/rand/v2"

	"tripcast"
	"tripcast/dataset"
	"tripcast/tlc"
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

// BootstrapOptions configure Bootstrap.
type BootstrapOptions struct {
	Files     []string // TLC parquet files to ingest; the first trains, the second (if any) validates
	Rule      tlc.Rule
	ModelName string
	Params    map[string]string
	Actor     string
	Progress  Options // only Progress is used
}

// Bootstrap makes a registry with no champion serveable: it ingests the
// given TLC files into the blob store, trains gradient-boosted trees on the
// first (validated on the second, or on a 10 % holdout of the first when
// there is only one, for early stopping), registers the model and makes it
// champion. It returns the outcome of the tracked training.
func Bootstrap(ctx context.Context, tr *tracking.Tracker, store tripcast.BlobStore, opt BootstrapOptions) (*Outcome, error) {
	if len(opt.Files) == 0 {
		return nil, tripcast.FieldError("from", "the registry has no champion: give TLC files to train a first model on")
	}
	var data []Data
	for i, f := range opt.Files {
		if i == 2 {
			break
		}
		m, err := dataset.Ingest(ctx, store, f, dataset.IngestOptions{Rule: opt.Rule})
		if err != nil {
			return nil, fmt.Errorf("bootstrap: ingest %s: %w", f, err)
		}
		trips, m, err := dataset.Load(ctx, store, m.Key)
		if err != nil {
			return nil, fmt.Errorf("bootstrap: load %s: %w", m.Ref(), err)
		}
		data = append(data, Data{Trips: trips, URI: m.URI, SHA256: m.SHA256})
	}
	trainData, validData := data[0], Data{}
	if len(data) > 1 {
		validData = data[1]
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
