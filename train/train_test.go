package train_test

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"

	"tripcast"
	"tripcast/blob"
	"tripcast/dataset"
	"tripcast/internal/testfiles"
	"tripcast/model"
	"tripcast/sqlstore/sqlstoretest"
	"tripcast/tlc"
	"tripcast/tracking"
	"tripcast/train"
)

var (
	monthsOnce sync.Once
	jan, feb   *tripcast.Trips
)

// months returns green 2021-01 and 2021-02 with the course rule, read once.
func months(t testing.TB) (*tripcast.Trips, *tripcast.Trips) {
	t.Helper()
	monthsOnce.Do(func() {
		var err error
		if jan, _, err = tlc.LoadFile(testfiles.Green(t, "2021-01"), tlc.RuleCourse); err != nil {
			t.Fatal(err)
		}
		if feb, _, err = tlc.LoadFile(testfiles.Green(t, "2021-02"), tlc.RuleCourse); err != nil {
			t.Fatal(err)
		}
	})
	if jan == nil {
		t.Fatal("months not loaded")
	}
	return jan, feb
}

// quick are parameters that train in about a second on a month.
var quick = map[string]string{"num_boost_round": "40", "max_depth": "6", "eta": "0.3", "early_stopping_rounds": "0"}

func TestFit(t *testing.T) {
	tr, va := months(t)
	t.Run("OK", func(t *testing.T) {
		res, err := train.Fit(context.Background(), tr, va, train.Options{Params: quick})
		if err != nil {
			t.Fatal(err)
		}
		lin, err := train.Fit(context.Background(), tr, va, train.Options{Kind: model.Linear})
		if err != nil {
			t.Fatal(err)
		}
		if !(res.Valid.RMSE < lin.Valid.RMSE) {
			t.Fatalf("gbdt valid RMSE %.3f not below the linear baseline's %.3f", res.Valid.RMSE, lin.Valid.RMSE)
		}
		if res.Valid.N != va.Len() || res.Train.N != tr.Len() || res.Rounds != 40 {
			t.Fatalf("got %d valid rows, %d train rows, %d rounds; want %d, %d, 40", res.Valid.N, res.Train.N, res.Rounds, va.Len(), tr.Len())
		}
		// The metrics recorded in the artifact are what scoring it gives.
		m, err := train.ScoreTrips(res.Artifact, va)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(m.RMSE-res.Valid.RMSE) > 1e-4 || math.Abs(res.Artifact.Metrics["valid_rmse"]-res.Valid.RMSE) > 1e-12 {
			t.Fatalf("scored %.6f, fit reported %.6f, artifact says %.6f", m.RMSE, res.Valid.RMSE, res.Artifact.Metrics["valid_rmse"])
		}
	})
	t.Run("ErrBadParam", func(t *testing.T) {
		_, err := train.Fit(context.Background(), tr, va, train.Options{Params: map[string]string{"max_depth": "deep"}})
		if err == nil || !strings.Contains(err.Error(), "max_depth") {
			t.Fatalf("got %v, want an error naming max_depth", err)
		}
	})
	t.Run("ErrBadKind", func(t *testing.T) {
		_, err := train.Fit(context.Background(), tr, va, train.Options{Kind: "forest"})
		if tripcast.ErrorField(err) != "model" {
			t.Fatalf("got %v, want an error naming model", err)
		}
	})
}

// mustTracker returns a tracker over a fresh database of engine e and a
// file blob store.
func mustTracker(t *testing.T, e sqlstoretest.Engine) *tracking.Tracker {
	t.Helper()
	db := sqlstoretest.MustOpen(t, e.Fresh(t))
	blobs, err := blob.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return tracking.New(db, blobs, nil)
}

func TestJob(t *testing.T) {
	tr, va := months(t)
	ctx := context.Background()
	trainData := train.Data{Trips: tr, URI: "file:///green/2021-01", SHA256: "aa"}
	validData := train.Data{Trips: va, URI: "file:///green/2021-02", SHA256: "bb"}
	sqlstoretest.ForEach(t, func(t *testing.T, e sqlstoretest.Engine) {
		trk := mustTracker(t, e)
		job := func(params map[string]string) train.Job {
			return train.Job{Tracker: trk, Train: trainData, Valid: validData, PromoteIfBetter: true, Actor: "test",
				Options: train.Options{Params: params}}
		}
		// 1. First model: becomes champion.
		first, err := job(map[string]string{"num_boost_round": "15", "max_depth": "4", "eta": "0.3"}).Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !first.Promoted || first.Version.Version != 1 {
			t.Fatalf("first: got promoted=%v version=%d, want promoted version 1", first.Promoted, first.Version.Version)
		}
		run, err := trk.Store().GetRun(ctx, first.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if run.Status != tripcast.RunFinished || run.Params["max_depth"] != "4" || len(run.Datasets) != 2 || run.FeatureSpec == "" || len(run.Artifacts) != 2 {
			t.Fatalf("run: got status %s params %v inputs %v artifacts %v", run.Status, run.Params, run.Datasets, run.Artifacts)
		}
		hist, err := trk.Store().MetricHistory(ctx, first.RunID, "valid_rmse_round")
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 15 || hist[14].Step != 14 {
			t.Fatalf("valid_rmse_round history: got %d points, want 15 (steps 0..14)", len(hist))
		}

		// 2. A weaker model: registered, not promoted; the champion is
		// re-scored on the same validation data.
		weak, err := job(map[string]string{"num_boost_round": "3", "max_depth": "2", "eta": "0.3"}).Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if weak.Promoted || weak.Version.Version != 2 || weak.ChampionVersion != 1 {
			t.Fatalf("weak: got promoted=%v version=%d champion=%d, want not promoted, 2, 1", weak.Promoted, weak.Version.Version, weak.ChampionVersion)
		}
		if math.Abs(weak.ChampionRMSE-first.Valid.RMSE) > 1e-4 {
			t.Fatalf("champion re-scored at %.5f, it scored %.5f when trained", weak.ChampionRMSE, first.Valid.RMSE)
		}

		// 3. A stronger model takes over.
		strong, err := job(quick).Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !strong.Promoted || strong.Version.Version != 3 {
			t.Fatalf("strong: got promoted=%v version=%d (rmse %.3f vs champion %.3f)", strong.Promoted, strong.Version.Version, strong.Valid.RMSE, strong.ChampionRMSE)
		}
		if v, _ := trk.Store().GetAlias(ctx, tripcast.DefaultModelName, "champion"); v != 3 {
			t.Fatalf("champion: got version %d, want 3", v)
		}
	})
}

func TestJobTamperedChampion(t *testing.T) {
	tr, va := months(t)
	ctx := context.Background()
	trk := mustTracker(t, sqlstoretest.Engines[0])
	j := train.Job{Tracker: trk, Train: train.Data{Trips: tr}, Valid: train.Data{Trips: va}, PromoteIfBetter: true,
		Options: train.Options{Params: map[string]string{"num_boost_round": "3", "max_depth": "3"}}}
	first, err := j.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Overwrite the champion's artifact with other bytes.
	blobs, _ := blob.NewFile(strings.TrimPrefix(first.Stored.URI[:strings.Index(first.Stored.URI, "/artifacts/")], "file://"))
	if _, err := blobs.Put(ctx, first.Stored.Key, strings.NewReader(`{"learner": {}}`)); err != nil {
		t.Fatal(err)
	}
	_, err = j.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "checksum") {
		t.Fatalf("got %v, want a checksum error from the tampered champion", err)
	}
	if v, _ := trk.Store().GetAlias(ctx, tripcast.DefaultModelName, "champion"); v != 1 {
		t.Fatalf("champion moved to %d over a tampered artifact", v)
	}
}

func TestTune(t *testing.T) {
	tr, va := months(t)
	ctx := context.Background()
	trk := mustTracker(t, sqlstoretest.Engines[0])
	prep, err := train.Prepare(tr, va)
	if err != nil {
		t.Fatal(err)
	}
	out, err := train.Tune(ctx, trk, "", prep, [2]train.Data{{Trips: tr}, {Trips: va}}, 3, 7,
		map[string]string{"num_boost_round": "20", "early_stopping_rounds": "5"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Trials) != 3 {
		t.Fatalf("got %d trials, want 3", len(out.Trials))
	}
	best := math.Inf(1)
	for _, tl := range out.Trials {
		if tl.Err != "" {
			t.Fatalf("trial %s failed: %s", tl.RunID, tl.Err)
		}
		best = math.Min(best, tl.RMSE)
		if tl.Params["num_boost_round"] != "20" {
			t.Fatalf("fixed parameter not applied: %v", tl.Params)
		}
	}
	if out.BestRMSE != best {
		t.Fatalf("best: got %v, want the lowest trial RMSE %v", out.BestRMSE, best)
	}
	children, err := trk.Store().ListRuns(ctx, tripcast.RunFilter{ParentID: out.RunID})
	if err != nil {
		t.Fatal(err)
	}
	if len(children) != 3 {
		t.Fatalf("got %d child runs of the search, want 3", len(children))
	}
}

func TestHoldout(t *testing.T) {
	tr, _ := months(t)
	a, b := train.Holdout(tr, 0.1, 1)
	if a.Len()+b.Len() != tr.Len() {
		t.Fatalf("got %d + %d trips, want %d", a.Len(), b.Len(), tr.Len())
	}
	if f := float64(b.Len()) / float64(tr.Len()); f < 0.09 || f > 0.11 {
		t.Fatalf("holdout fraction %.3f, want about 0.1", f)
	}
	a2, _ := train.Holdout(tr, 0.1, 1)
	if a2.Len() != a.Len() || a2.Duration[100] != a.Duration[100] {
		t.Fatal("the same seed gave another split")
	}
}

func TestBootstrap(t *testing.T) {
	ctx := context.Background()
	db := sqlstoretest.MustOpen(t, sqlstoretest.FreshSQLite(t))
	blobs, err := blob.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	trk := tracking.New(db, blobs, nil)
	t.Run("ErrNoFiles", func(t *testing.T) {
		if _, err := train.Bootstrap(ctx, trk, train.BootstrapOptions{}); tripcast.ErrorField(err) != "from" {
			t.Fatalf("got %v, want an error naming from", err)
		}
	})
	t.Run("OK", func(t *testing.T) {
		d, err := dataset.Ingest(ctx, blobs, testfiles.Green(t, "2021-01"), dataset.IngestOptions{Rule: tlc.RuleCourse})
		if err != nil {
			t.Fatal(err)
		}
		out, err := train.Bootstrap(ctx, trk, train.BootstrapOptions{Data: []*dataset.Data{d}, Params: quick})
		if err != nil {
			t.Fatal(err)
		}
		if !out.Promoted || out.Version.Version != 1 || out.Valid.N < 7000 || out.Valid.N > 8000 {
			t.Fatalf("got promoted=%v version=%v valid rows %d", out.Promoted, out.Version, out.Valid.N)
		}
		run, err := db.GetRun(ctx, out.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if len(run.Datasets) != 2 || !strings.HasSuffix(run.Datasets[1].URI, "#holdout=valid") ||
			!strings.HasPrefix(run.Datasets[1].URI, d.Manifest.URI) || run.Datasets[1].SHA256 != d.Manifest.SHA256 {
			t.Fatalf("lineage: got %+v, want the holdouts of %s", run.Datasets, d.Manifest.URI)
		}
	})
}

// TestLinearBaseline reproduces the course's linear regression on green
// 2021-01 → 2021-02 (7.758), and the exact ridge solve (7.481).
func TestLinearBaseline(t *testing.T) {
	tr, va := months(t)
	for _, tc := range []struct {
		params map[string]string
		want   float64
	}{
		{nil, 7.76},
		{map[string]string{"solver": "exact"}, 7.48},
	} {
		res, err := train.Fit(context.Background(), tr, va, train.Options{Kind: model.Linear, Params: tc.params})
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(res.Valid.RMSE-tc.want) > 0.02 {
			t.Errorf("%v: valid RMSE %.4f, want %.2f ± 0.02", tc.params, res.Valid.RMSE, tc.want)
		}
	}
	if _, err := train.Fit(context.Background(), tr, va, train.Options{Kind: model.Linear, Params: map[string]string{"alpha": "1"}}); tripcast.ErrorField(err) != "alpha" {
		t.Errorf("alpha with the course solver: got %v, want an error naming alpha", err)
	}
}

// TestAccuracyTarget is the team's accuracy target: tripcast's default
// features and parameters, trained on green 2021-01 and validated on
// 2021-02, reach a validation RMSE of at most 5.50 minutes (the course's
// tuned XGBoost: 6.32; XGBoost on the five raw features: 5.64). It also
// reports the test month 2021-03.
func TestAccuracyTarget(t *testing.T) {
	tr, va := months(t)
	res, err := train.Fit(context.Background(), tr, va, train.Options{})
	if err != nil {
		t.Fatal(err)
	}
	te, _, err := tlc.LoadFile(testfiles.Green(t, "2021-03"), tlc.RuleCourse)
	if err != nil {
		t.Fatal(err)
	}
	test, err := train.ScoreTrips(res.Artifact, te)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("valid RMSE %.4f (2021-02), test RMSE %.4f (2021-03), %d trees", res.Valid.RMSE, test.RMSE, res.Rounds)
	if res.Valid.RMSE > 5.50 {
		t.Fatalf("valid RMSE %.4f, want <= 5.50", res.Valid.RMSE)
	}
}
