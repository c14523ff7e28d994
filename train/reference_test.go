package train_test

import (
	"context"
	"math"
	"testing"

	"tripcast/blob"
	"tripcast/monitor"
	"tripcast/monitoring"
	"tripcast/sqlstore/sqlstoretest"
	"tripcast/tracking"
	"tripcast/train"
)

// A registered version has its monitoring reference beside its model file:
// the training month's inputs and durations, the predictions on the
// validation month, and the validation figures the training reported.
func TestJobReference(t *testing.T) {
	tr, va := months(t)
	ctx := context.Background()
	db := sqlstoretest.MustOpen(t, sqlstoretest.FreshSQLite(t))
	blobs, err := blob.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	out, err := train.Job{Tracker: tracking.New(db, blobs, nil), Register: true, Options: train.Options{Params: quick},
		Train: train.Data{Trips: tr, URI: "file:///green/2021-01"}, Valid: train.Data{Trips: va, URI: "file:///green/2021-02"}}.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	key := monitoring.ReferenceKey(out.Version.ArtifactKey)
	if out.Reference.Key != key {
		t.Fatalf("reference stored at %q, want %q beside the model", out.Reference.Key, key)
	}
	ref, err := monitoring.LoadReference(ctx, blobs, key)
	if err != nil {
		t.Fatal(err)
	}
	if ref.Validation == nil || math.Abs(ref.Validation.RMSE-out.Valid.RMSE) > 1e-4 || math.Abs(ref.Validation.R2-out.Valid.R2) > 1e-4 {
		t.Fatalf("validation figures %+v, training reported %+v", ref.Validation, out.Valid)
	}
	for name, want := range map[string]int{monitor.ColPULocation: tr.Len(), monitor.ColDuration: tr.Len(), monitor.ColPrediction: va.Len()} {
		c := ref.Profile.Column(name)
		if c == nil || c.N()+c.Missing != int64(want) {
			t.Fatalf("column %s: got %v, want %d rows", name, c, want)
		}
	}
}
