package pipeline_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"tripcast"
	"tripcast/batch"
	"tripcast/blob"
	"tripcast/dataset"
	"tripcast/internal/testfiles"
	"tripcast/pipeline"
	"tripcast/sqlstore"
	"tripcast/sqlstore/sqlstoretest"
	"tripcast/tlc"
	"tripcast/tracking"
)

// testLog shows warnings and errors on stderr (info with TRIPCAST_TEST_LOG=info).
func testLog() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("TRIPCAST_TEST_LOG") == "info" {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// quick trains a small model: the tests are about the pipeline.
var quick = map[string]string{"num_boost_round": "15", "max_depth": "5", "eta": "0.3", "early_stopping_rounds": "0"}

// env is one engine's world: a metadata database, a blob store, a TLC
// site serving the real files of ../shared/data/tlc.
type env struct {
	t       *testing.T
	dbURL   string
	db      *sqlstore.DB
	blobs   tripcast.BlobStore
	tracker *tracking.Tracker
	site    string
}

func newEnv(t *testing.T, e sqlstoretest.Engine) *env {
	t.Helper()
	ctx := context.Background()
	dbURL := e.Fresh(t)
	db, err := sqlstore.Open(ctx, dbURL, testLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	blobs, err := blob.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	site := httptest.NewServer(http.FileServer(http.Dir(testfiles.TLCDir(t))))
	t.Cleanup(site.Close)
	return &env{t: t, dbURL: dbURL, db: db, blobs: blobs, tracker: tracking.New(db, blobs, testLog()), site: site.URL + "/"}
}

// config is a test engine's configuration: quick training, retries after
// 100 ms.
func (v *env) config(workers int) pipeline.Config {
	return pipeline.Config{
		Store: v.db, Blob: v.blobs, Tracker: v.tracker, BaseURL: v.site, TempDir: v.t.TempDir(),
		Train:   pipeline.TrainConfig{Params: quick},
		Workers: workers, Retries: -1, RetryDelay: 100 * time.Millisecond, PollInterval: 100 * time.Millisecond,
		Logger: testLog(),
	}
}

// open opens an engine on v's database.
func (v *env) open(cfg pipeline.Config) *pipeline.Engine {
	v.t.Helper()
	ctx := context.Background()
	u, err := url.Parse(v.dbURL)
	if err != nil {
		v.t.Fatal(err)
	}
	var e *pipeline.Engine
	if u.Scheme == "sqlite" {
		e, err = pipeline.OpenSQLite(ctx, u.Path, cfg)
	} else {
		e, err = pipeline.OpenPostgres(ctx, v.dbURL, cfg)
	}
	if err != nil {
		v.t.Fatal(err)
	}
	v.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.Close(ctx); err != nil {
			v.t.Errorf("close: %v", err)
		}
	})
	return e
}

// ingest stores a real TLC month in the blob store.
func (v *env) ingest(month string) *dataset.Data {
	v.t.Helper()
	d, err := dataset.Ingest(context.Background(), v.blobs, testfiles.Green(v.t, month), dataset.IngestOptions{Rule: tlc.RuleDefault})
	if err != nil {
		v.t.Fatal(err)
	}
	return d
}

func run(t *testing.T, e *pipeline.Engine, req pipeline.Request) *tripcast.PipelineRun {
	t.Helper()
	r, err := e.Submit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r, err = e.Wait(ctx, r.ID, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustStatus(t *testing.T, r *tripcast.PipelineRun, want string) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("run %s: got status %s (error %q), want %s; steps %+v", r.ID, r.Status, r.Error, want, r.Steps)
	}
}

func alias(t *testing.T, v *env, a string) int {
	t.Helper()
	n, err := v.tracker.CurrentAlias(context.Background(), tripcast.DefaultModelName, a)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTrain(t *testing.T) {
	sqlstoretest.ForEach(t, func(t *testing.T, eng sqlstoretest.Engine) {
		v := newEnv(t, eng)
		e := v.open(v.config(2))
		t.Run("OK", func(t *testing.T) {
			// 2021-01 and 2021-02 are not stored: fetch downloads them from
			// the TLC site.
			r := run(t, e, pipeline.Request{Pipeline: pipeline.Train, Params: map[string]string{"train": "2021-01", "valid": "2021-02"}})
			mustStatus(t, r, tripcast.PipelineSucceeded)
			want := []string{"fetch", "fit", "evaluate", "register", "promote"}
			if len(r.Steps) != len(want) {
				t.Fatalf("got %d steps, want %d: %+v", len(r.Steps), len(want), r.Steps)
			}
			for i, s := range r.Steps {
				if s.Name != want[i] || s.Status != tripcast.PipelineSucceeded || s.Attempts != 1 || s.StartedAt == nil || s.EndedAt == nil {
					t.Errorf("step %d: got %+v, want %s succeeded at the first attempt", i, s, want[i])
				}
			}
			if got := r.Step("fetch").Outputs["fetched_2021-01"]; got != "true" {
				t.Errorf("fetch outputs: got %v, want 2021-01 fetched", r.Step("fetch").Outputs)
			}
			if got := r.Step("register").Outputs["version"]; got != "1" {
				t.Errorf("registered version: got %q, want 1", got)
			}
			if got := alias(t, v, tripcast.ChampionAlias); got != 1 {
				t.Errorf("champion: got %d, want 1", got)
			}
			if r.StartedAt == nil || r.EndedAt == nil {
				t.Errorf("run times: got start %v end %v", r.StartedAt, r.EndedAt)
			}
		})
		t.Run("NotBetterIsChallenger", func(t *testing.T) {
			// The same months train the same model: not better than the
			// champion, so it becomes challenger.
			r := run(t, e, pipeline.Request{Pipeline: pipeline.Train, Params: map[string]string{"train": "2021-01", "valid": "2021-02"}})
			mustStatus(t, r, tripcast.PipelineSucceeded)
			if got := r.Step("fetch").Outputs["fetched_2021-01"]; got != "" {
				t.Errorf("fetch: got %q, want the stored month used", got)
			}
			ev := r.Step("evaluate").Outputs
			if ev["decision"] != "challenger" || ev["champion_version"] != "1" || ev["champion_rmse"] == "" {
				t.Errorf("evaluate: got %v, want challenger against version 1", ev)
			}
			if got := alias(t, v, tripcast.ChampionAlias); got != 1 {
				t.Errorf("champion: got %d, want 1", got)
			}
			if got := alias(t, v, "challenger"); got != 2 {
				t.Errorf("challenger: got %d, want 2", got)
			}
		})
		t.Run("WindowFromLogicalDate", func(t *testing.T) {
			// 2021-06-15: train on 2021-02 (M-4), validate on 2021-03 (M-3).
			r := run(t, e, pipeline.Request{Pipeline: pipeline.Train, LogicalDate: time.Date(2021, 6, 15, 0, 0, 0, 0, time.UTC)})
			mustStatus(t, r, tripcast.PipelineSucceeded)
			f := r.Step("fetch").Outputs
			if f["train_month"] != "2021-02" || f["valid_month"] != "2021-03" {
				t.Errorf("months: got %v, want train 2021-02 valid 2021-03", f)
			}
		})
		t.Run("ErrMonthNotPublished", func(t *testing.T) {
			r := run(t, e, pipeline.Request{Pipeline: pipeline.Train, Params: map[string]string{"train": "2020-05", "valid": "2021-02"}})
			mustStatus(t, r, tripcast.PipelineFailed)
			s := r.Step("fetch")
			if s.Status != tripcast.PipelineFailed || !contains(s.Error, "month not published") || !contains(r.Error, "fetch") {
				t.Errorf("got run error %q, step %+v; want fetch failed: month not published", r.Error, s)
			}
			if r.Step("fit") != nil {
				t.Errorf("fit: got %+v, want not run", r.Step("fit"))
			}
		})
	})
}

func contains(s, sub string) bool {
	return len(sub) == 0 || (len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub)))
}

func TestRetry(t *testing.T) {
	v := newEnv(t, sqlstoretest.Engines[0])
	cfg := v.config(1)
	cfg.Retries = 2
	e := v.open(cfg)
	r := run(t, e, pipeline.Request{Pipeline: pipeline.Batch, LogicalDate: time.Date(2021, 3, 2, 3, 0, 0, 0, time.UTC)})
	// No champion: the step fails three times (1 + 2 retries), then the run.
	mustStatus(t, r, tripcast.PipelineFailed)
	if s := r.Step("score"); s.Attempts != 3 || s.Status != tripcast.PipelineFailed || !contains(s.Error, "champion") {
		t.Errorf("score step: got %+v, want failed after 3 attempts, naming the champion", s)
	}
}

func TestBatch(t *testing.T) {
	sqlstoretest.ForEach(t, func(t *testing.T, eng sqlstoretest.Engine) {
		v := newEnv(t, eng)
		v.ingest("2021-01")
		d := v.ingest("2021-02")
		e := v.open(v.config(2))
		mustStatus(t, run(t, e, pipeline.Request{Pipeline: pipeline.Train, Params: map[string]string{"train": "2021-01", "valid": "2021-02"}}), tripcast.PipelineSucceeded)
		r := run(t, e, pipeline.Request{Pipeline: pipeline.Batch, LogicalDate: time.Date(2021, 3, 2, 3, 0, 0, 0, time.UTC)})
		mustStatus(t, r, tripcast.PipelineSucceeded)
		out := r.Step("score").Outputs
		want := "predictions/taxi_type=green/year=2021/month=02/" + r.ID + ".parquet"
		if out["output_key"] != want || out["version"] != "1" || out["rows"] != strconv.Itoa(d.Trips.Len()) {
			t.Fatalf("score outputs: got %v, want key %s, version 1, %d rows", out, want, d.Trips.Len())
		}
		path := filepath.Join(v.blobs.(*blob.File).Dir(), filepath.FromSlash(want))
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		st, _ := f.Stat()
		rows, err := batch.ReadParquet(f, st.Size())
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != d.Trips.Len() || rows[0].ModelVersion != "1" {
			t.Errorf("predictions file: got %d rows (version %q), want %d of version 1", len(rows), rows[0].ModelVersion, d.Trips.Len())
		}
	})
}
