package model_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"log/slog"
	"tripcast"
	"tripcast/blob"
	"tripcast/model"
	"tripcast/serve"
	"tripcast/sqlstore/sqlstoretest"
	"tripcast/tracking"
	"tripcast/train"
)

func TestRegistrySource(t *testing.T) {
	ctx := context.Background()
	trips := loadMonth(t, "2021-01")
	res, err := train.Fit(ctx, trips, nil, train.Options{Params: map[string]string{"num_boost_round": "5", "max_depth": "3"}})
	if err != nil {
		t.Fatal(err)
	}
	art := res.Artifact
	dir := t.TempDir()
	blobs, err := blob.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	db := sqlstoretest.MustOpen(t, sqlstoretest.FreshSQLite(t))
	tr := tracking.New(db, blobs, slog.New(slog.DiscardHandler))
	src := model.NewRegistrySource(tr, "")

	t.Run("ErrNotFound", func(t *testing.T) {
		if _, err := src.Champion(ctx); tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
			t.Errorf("no champion: got %v, want %s", err, tripcast.ENOTFOUND)
		}
	})
	var buf bytes.Buffer
	if _, err := art.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	info, err := blobs.Put(ctx, "models/1/model.json", &buf)
	if err != nil {
		t.Fatal(err)
	}
	v, err := tr.RegisterVersion(ctx, tripcast.DefaultModelName, tracking.NewVersion{ArtifactKey: info.Key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Promote(ctx, tripcast.DefaultModelName, v.Version, "champion", "test", "test"); err != nil {
		t.Fatal(err)
	}
	t.Run("OK", func(t *testing.T) {
		got, err := src.Champion(ctx)
		if err != nil || got != "1" {
			t.Fatalf("got champion %q, %v, want \"1\"", got, err)
		}
		m, err := src.Load(ctx, got)
		if err != nil {
			t.Fatal(err)
		}
		if m.Name() != tripcast.DefaultModelName || m.Version() != "1" {
			t.Errorf("got model %s version %s, want %s version 1", m.Name(), m.Version(), tripcast.DefaultModelName)
		}
		r := tripcast.Ride{ID: "1", PULocationID: int(trips.PULocationID[0]), DOLocationID: int(trips.DOLocationID[0]), TripDistance: trips.TripDistance[0]}
		a, _ := art.Predict(r)
		b, err := m.Predict(r)
		if err != nil || a != b {
			t.Errorf("got prediction %v, %v, want %v (the registered model's)", b, err, a)
		}
		// Follow installs it in a predictor.
		p := serve.New(serve.Options{})
		fctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- p.Follow(fctx, src, 50*time.Millisecond) }()
		for deadline := time.Now().Add(10 * time.Second); p.Snapshot() == nil; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the champion was not served within 10 s")
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("LoadRegistered", func(t *testing.T) {
		for _, ref := range []string{"1", "latest", "champion"} {
			m, err := model.LoadRegistered(ctx, tr, "", ref)
			if err != nil || m.Version() != "1" || m.Name() != tripcast.DefaultModelName {
				t.Errorf("LoadRegistered(%q): got %v, want version 1", ref, err)
			}
		}
		if _, err := model.LoadRegistered(ctx, tr, "", "7"); tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
			t.Errorf("missing version: got %v, want %s", err, tripcast.ENOTFOUND)
		}
	})
	t.Run("ErrConflict", func(t *testing.T) {
		// A modified artifact is refused.
		path := filepath.Join(dir, filepath.FromSlash(info.Key))
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, ' '), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := src.Load(ctx, "1"); tripcast.ErrorCode(err) != tripcast.ECONFLICT {
			t.Errorf("modified artifact: got %v, want %s", err, tripcast.ECONFLICT)
		}
	})
}
