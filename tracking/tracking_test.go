package tracking_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"tripcast"
	"tripcast/blob"
	"tripcast/internal/testfiles"
	"tripcast/sqlstore/sqlstoretest"
	"tripcast/tracking"
)

// fixture returns a real model file (XGBoost 1.7 JSON) to use as an
// artifact.
func fixture(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile(testfiles.Fixture(t, "xgboost-1.7-depth6/model.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// MustOpenTracker returns a tracker over a fresh database on e and a file
// blob store in a temp dir (whose folder is returned).
func MustOpenTracker(t testing.TB, dbURL string) (*tracking.Tracker, string) {
	t.Helper()
	dir := t.TempDir()
	blobs, err := blob.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { blobs.Close() })
	return tracking.New(sqlstoretest.MustOpen(t, dbURL), blobs, slog.New(slog.DiscardHandler), tracking.WithBatchSize(100)), dir
}

func mustCode(t testing.TB, err error, want string) {
	t.Helper()
	if got := tripcast.ErrorCode(err); got != want {
		t.Fatalf("got error code %q (%v), want %q", got, err, want)
	}
}

const model = tripcast.DefaultModelName

func TestRun(t *testing.T) {
	sqlstoretest.ForEach(t, func(t *testing.T, e sqlstoretest.Engine) {
		tr, _ := MustOpenTracker(t, e.Fresh(t))
		ctx := context.Background()
		t.Run("OK", func(t *testing.T) {
			run, err := tr.StartRun(ctx, "nyc-taxi", "tune", "", tracking.WithFeatureSpec("v1"), tracking.WithTags(map[string]string{"kind": "tune"}))
			if err != nil {
				t.Fatal(err)
			}
			trial, err := run.StartChild(ctx, "trial-0")
			if err != nil {
				t.Fatal(err)
			}
			tlc := testfiles.Green(t, "2021-01")
			data, err := os.ReadFile(tlc)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			if err := trial.AddDataset(ctx, "file://"+tlc, hex.EncodeToString(sum[:]), 0); err != nil {
				t.Fatal(err)
			}
			if err := trial.LogParams(ctx, map[string]string{"max_depth": "6"}); err != nil {
				t.Fatal(err)
			}
			for i := range 250 { // batch size 100: two writes, then End writes the last 50
				if err := trial.LogMetric(ctx, "valid_rmse", 10-float64(i)/100, int64(i)); err != nil {
					t.Fatal(err)
				}
			}
			art, err := trial.LogArtifact(ctx, "model.json", bytes.NewReader(fixture(t)))
			if err != nil {
				t.Fatal(err)
			}
			if want := "artifacts/" + trial.ID + "/model.json"; art.Key != want {
				t.Errorf("got key %q, want %q", art.Key, want)
			}
			if err := trial.End(ctx, tripcast.RunFinished); err != nil {
				t.Fatal(err)
			}
			var failure error = errors.New("boom")
			run.EndWith(ctx, &failure)

			got, err := tr.Store().GetRun(ctx, trial.ID)
			if err != nil {
				t.Fatal(err)
			}
			version, revision := tripcast.Version()
			if got.ParentID != run.ID || got.Experiment != "nyc-taxi" || got.Status != tripcast.RunFinished ||
				got.TripcastVersion != version || got.VCSRevision != revision || len(got.ID) != 32 {
				t.Errorf("got %+v, want a FINISHED child of %s with lineage %s %s", got, run.ID, version, revision)
			}
			if len(got.Datasets) != 1 || got.Datasets[0].SHA256 != hex.EncodeToString(sum[:]) {
				t.Errorf("got datasets %+v, want the TLC file with its sha256", got.Datasets)
			}
			wantSum := sha256.Sum256(fixture(t))
			if len(got.Artifacts) != 1 || got.Artifacts[0].SHA256 != hex.EncodeToString(wantSum[:]) || got.Artifacts[0].Size != int64(len(fixture(t))) {
				t.Errorf("got artifacts %+v, want model.json with its sha256 and size", got.Artifacts)
			}
			hist, err := tr.Store().MetricHistory(ctx, trial.ID, "valid_rmse")
			if err != nil {
				t.Fatal(err)
			}
			if len(hist) != 250 || hist[249].Step != 249 {
				t.Errorf("got %d points, want 250 (steps 0..249)", len(hist))
			}
			parent, _ := tr.Store().GetRun(ctx, run.ID)
			if parent.Status != tripcast.RunFailed || parent.FeatureSpec != "v1" || parent.Tags["kind"] != "tune" {
				t.Errorf("got parent %+v, want FAILED, feature spec v1, tag kind=tune", parent)
			}
		})
		t.Run("FlushInterval", func(t *testing.T) {
			now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
			clocked := tracking.New(tr.Store(), nil, nil, tracking.WithClock(func() time.Time { return now }),
				tracking.WithFlushInterval(5*time.Second))
			run, err := clocked.StartRun(ctx, "nyc-taxi", "long", "")
			if err != nil {
				t.Fatal(err)
			}
			points := func() int {
				t.Helper()
				hist, err := tr.Store().MetricHistory(ctx, run.ID, "loss")
				if err != nil {
					t.Fatal(err)
				}
				return len(hist)
			}
			for i, want := range []int{0, 0, 3} { // written once the oldest point is 5 s old
				if err := run.LogMetric(ctx, "loss", 1, int64(i)); err != nil {
					t.Fatal(err)
				}
				if got := points(); got != want {
					t.Fatalf("after point %d: got %d points stored, want %d", i, got, want)
				}
				now = now.Add(2500 * time.Millisecond)
			}
		})
		t.Run("ErrInvalid", func(t *testing.T) {
			run, err := tr.StartRun(ctx, "nyc-taxi", "bad", "")
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"", "../x", "/abs", "a/../../b", "a//b"} {
				_, err := run.LogArtifact(ctx, name, strings.NewReader("x"))
				mustCode(t, err, tripcast.EINVALID)
			}
			_, err = tr.StartRun(ctx, "", "x", "")
			mustCode(t, err, tripcast.EINVALID)
		})
		t.Run("ErrNotFound", func(t *testing.T) {
			_, err := tr.StartRun(ctx, "nyc-taxi", "orphan", "no-such-parent")
			mustCode(t, err, tripcast.ENOTFOUND)
		})
	})
}

// register logs content as a run's model.json and registers it.
func register(t testing.TB, tr *tracking.Tracker, content []byte, rmse float64) *tripcast.ModelVersion {
	t.Helper()
	v, err := registerE(tr, content, rmse)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// registerE is register for goroutines: it returns its error.
func registerE(tr *tracking.Tracker, content []byte, rmse float64) (*tripcast.ModelVersion, error) {
	ctx := context.Background()
	run, err := tr.StartRun(ctx, "nyc-taxi", "train", "")
	if err != nil {
		return nil, err
	}
	art, err := run.LogArtifact(ctx, "model.json", bytes.NewReader(content))
	if err != nil {
		return nil, err
	}
	v, err := tr.RegisterVersion(ctx, model, tracking.NewVersion{RunID: run.ID, ArtifactKey: art.Key, SHA256: art.SHA256,
		FeatureSpec: json.RawMessage(`{"version":1}`), Metrics: map[string]float64{"valid_rmse": rmse}})
	if err != nil {
		return nil, err
	}
	return v, run.End(ctx, tripcast.RunFinished)
}

func TestRegistry(t *testing.T) {
	sqlstoretest.ForEach(t, func(t *testing.T, e sqlstoretest.Engine) {
		tr, blobDir := MustOpenTracker(t, e.Fresh(t))
		ctx := context.Background()
		model1 := fixture(t)
		model2 := append(bytes.Clone(model1), ' ')

		t.Run("OK", func(t *testing.T) {
			v1 := register(t, tr, model1, 6.5)
			v2 := register(t, tr, model2, 6.1)
			if v1.Version != 1 || v2.Version != 2 || v1.Size != int64(len(model1)) || !strings.HasPrefix(v1.ArtifactURI, "file://") {
				t.Fatalf("got %+v, %+v, want versions 1 and 2 with size and file URI", v1, v2)
			}
			if _, err := tr.Promote(ctx, model, 1, "champion", "first model", "alice"); err != nil {
				t.Fatal(err)
			}
			if _, err := tr.Promote(ctx, model, 2, "champion", "better RMSE", "alice"); err != nil {
				t.Fatal(err)
			}
			for ref, want := range map[string]int{"champion": 2, "1": 1, "latest": 2} {
				b, v, err := tr.OpenVersionArtifact(ctx, model, ref)
				if err != nil {
					t.Fatalf("%s: %v", ref, err)
				}
				wantBytes := model1
				if want == 2 {
					wantBytes = model2
				}
				if v.Version != want || !bytes.Equal(b, wantBytes) {
					t.Errorf("%s: got version %d (%d bytes), want %d (%d bytes)", ref, v.Version, len(b), want, len(wantBytes))
				}
			}
			m, err := tr.Rollback(ctx, model, "champion", "", "bob")
			if err != nil {
				t.Fatal(err)
			}
			if m.From != 2 || m.To != 1 || m.Reason != "rollback" {
				t.Errorf("got %+v, want 2 → 1 with reason rollback", m)
			}
		})

		t.Run("ErrChecksum", func(t *testing.T) {
			v := register(t, tr, model1, 7)
			path := filepath.Join(blobDir, filepath.FromSlash(v.ArtifactKey))
			for name, content := range map[string][]byte{
				"tampered":  bytes.Replace(model1, []byte("tree"), []byte("TREE"), 1),
				"truncated": model1[:len(model1)/2],
			} {
				if err := os.WriteFile(path, content, 0o644); err != nil {
					t.Fatal(err)
				}
				b, _, err := tr.OpenVersionArtifact(ctx, model, fmt.Sprint(v.Version))
				mustCode(t, err, tripcast.ECONFLICT)
				if b != nil || !strings.Contains(err.Error(), "checksum did not match") {
					t.Errorf("%s: got %d bytes, error %q, want no bytes and \"checksum did not match\"", name, len(b), err)
				}
			}
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			_, _, err := tr.OpenVersionArtifact(ctx, model, fmt.Sprint(v.Version))
			mustCode(t, err, tripcast.ENOTFOUND)
			if !strings.Contains(err.Error(), "missing") {
				t.Errorf("got %q, want it to say the artifact is missing", err)
			}
		})

		t.Run("ErrNotFound", func(t *testing.T) {
			_, err := tr.RegisterVersion(ctx, model, tracking.NewVersion{ArtifactKey: "artifacts/none/model.json"})
			mustCode(t, err, tripcast.ENOTFOUND)
			_, _, err = tr.OpenVersionArtifact(ctx, model, "staging")
			mustCode(t, err, tripcast.ENOTFOUND)
			_, _, err = tr.OpenVersionArtifact(ctx, model, "99")
			mustCode(t, err, tripcast.ENOTFOUND)
			_, err = tr.Promote(ctx, model, 99, "champion", "r", "a")
			mustCode(t, err, tripcast.ENOTFOUND)
		})
		t.Run("ErrConflict", func(t *testing.T) {
			run, _ := tr.StartRun(ctx, "nyc-taxi", "train", "")
			art, err := run.LogArtifact(ctx, "model.json", bytes.NewReader(model1))
			if err != nil {
				t.Fatal(err)
			}
			_, err = tr.RegisterVersion(ctx, model, tracking.NewVersion{ArtifactKey: art.Key, SHA256: strings.Repeat("0", 64)})
			mustCode(t, err, tripcast.ECONFLICT)
			_, err = tr.Promote(ctx, model, 1, "champion", "again", "a") // already at 1 after the rollback
			mustCode(t, err, tripcast.ECONFLICT)
		})
		t.Run("ErrInvalid", func(t *testing.T) {
			for _, alias := range []string{"", "1", "latest", "has space", strings.Repeat("a", 65)} {
				_, err := tr.Promote(ctx, model, 1, alias, "r", "a")
				mustCode(t, err, tripcast.EINVALID)
			}
			_, err := tr.Promote(ctx, model, 1, "prod", " ", "a")
			mustCode(t, err, tripcast.EINVALID)
			_, err = tr.Resolve(ctx, model, "0")
			mustCode(t, err, tripcast.EINVALID)
		})
	})
}

// TestConcurrentTrainers has two processes (two trackers, two database
// handles) train, register and promote-if-better at once: every version is
// kept and numbered once, the champion history is a chain, and the
// champion ends on the best version (PromoteIf never lets a worse model
// overwrite a better one promoted meanwhile).
func TestConcurrentTrainers(t *testing.T) {
	sqlstoretest.ForEach(t, func(t *testing.T, e sqlstoretest.Engine) {
		url := e.Fresh(t)
		tr1, dir := MustOpenTracker(t, url)
		blobs, _ := blob.NewFile(dir)
		tr2 := tracking.New(sqlstoretest.MustOpen(t, url), blobs, nil)
		ctx := context.Background()
		rmses := [][]float64{{6.0, 5.1, 5.9, 4.2, 4.9}, {5.5, 5.0, 4.5, 4.4, 4.1}}
		var wg sync.WaitGroup
		seen := make(chan int, 10)
		for p, tr := range []*tracking.Tracker{tr1, tr2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i, rmse := range rmses[p] {
					v, err := registerE(tr, fmt.Appendf(nil, "model %d/%d", p, i), rmse)
					if err != nil {
						t.Error(err)
						return
					}
					seen <- v.Version
					if err := promoteIfBetter(ctx, tr, v); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(seen)
		got := map[int]bool{}
		for v := range seen {
			if got[v] {
				t.Fatalf("version %d given twice", v)
			}
			got[v] = true
		}
		for v := 1; v <= 10; v++ {
			if !got[v] {
				t.Fatalf("got versions %v, want 1..10", got)
			}
		}
		hist, err := tr1.Store().AliasHistory(ctx, model, "champion")
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(hist); i++ {
			if hist[i].From != hist[i-1].To {
				t.Fatalf("move %d: got from %d, want %d", i, hist[i].From, hist[i-1].To)
			}
		}
		champ, err := tr2.Resolve(ctx, model, "champion")
		if err != nil {
			t.Fatal(err)
		}
		if got := champ.Metrics["valid_rmse"]; got != 4.1 {
			t.Errorf("got champion with valid_rmse %v, want 4.1 (the best)", got)
		}
	})
}

// promoteIfBetter is the --promote-if-better loop: compare with the
// current champion, promote only if it still is the champion compared
// with, else compare again.
func promoteIfBetter(ctx context.Context, tr *tracking.Tracker, v *tripcast.ModelVersion) error {
	for {
		cur, err := tr.CurrentAlias(ctx, model, "champion")
		if err != nil {
			return err
		}
		if cur != 0 {
			champ, err := tr.Store().GetVersion(ctx, model, cur)
			if err != nil {
				return err
			}
			if v.Metrics["valid_rmse"] >= champ.Metrics["valid_rmse"] {
				return nil
			}
		}
		_, err = tr.PromoteIf(ctx, model, v.Version, "champion", cur, "better valid_rmse", "test")
		if tripcast.ErrorCode(err) == tripcast.ECONFLICT {
			continue // moved meanwhile: compare with the new champion
		}
		return err
	}
}

// BenchmarkRunLogMetric10k logs 10,000 points one LogMetric call at a time,
// as a training loop does, through the default 1,000-point buffer, then
// ends the run (which flushes).
//
//	go test ./tracking/ -run '^$' -bench RunLogMetric10k -benchtime 10x
func BenchmarkRunLogMetric10k(b *testing.B) {
	for _, e := range sqlstoretest.Engines {
		b.Run(e.Name, func(b *testing.B) {
			blobs, err := blob.NewFile(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			tr := tracking.New(sqlstoretest.MustOpen(b, e.Fresh(b)), blobs, nil)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				run, err := tr.StartRun(ctx, "bench", "train", "")
				if err != nil {
					b.Fatal(err)
				}
				for i := range 10_000 {
					if err := run.LogMetric(ctx, "valid_rmse", 1/float64(i+1), int64(i)); err != nil {
						b.Fatal(err)
					}
				}
				if err := run.End(ctx, tripcast.RunFinished); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "ms/10k-points")
		})
	}
}
