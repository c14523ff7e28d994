package batch_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"tripcast"
	"tripcast/batch"
	"tripcast/blob"
	"tripcast/dataset"
	"tripcast/features"
	"tripcast/gbdt"
	"tripcast/internal/testfiles"
	"tripcast/model"
	"tripcast/tlc"
)

// xgbModel is a real gradient-boosted model: the XGBoost 1.7 fixture (100
// trees of depth 6, trained by XGBoost on green 2021-01 with the features
// PULocationID, DOLocationID, trip_distance, pickup hour, weekday Monday=0),
// predicted by tripcast/gbdt.
type xgbModel struct {
	m       *gbdt.Model
	version string
}

func mustLoadModel(tb testing.TB) *xgbModel {
	tb.Helper()
	m, err := gbdt.LoadFile(testfiles.Fixture(tb, "xgboost-1.7-depth6/model.json"))
	if err != nil {
		tb.Fatal(err)
	}
	return &xgbModel{m: m, version: "7"}
}

func hourWeekday(us int64) (float32, float32) {
	t := time.UnixMicro(us).UTC()
	return float32(t.Hour()), float32((int(t.Weekday()) + 6) % 7)
}

func (x *xgbModel) PredictTrips(t *tripcast.Trips, out []float64) error {
	n := t.Len()
	cols := make([][]float32, 5)
	for f := range cols {
		cols[f] = make([]float32, n)
	}
	for i := range n {
		cols[0][i] = float32(t.PULocationID[i])
		cols[1][i] = float32(t.DOLocationID[i])
		cols[2][i] = float32(t.TripDistance[i])
		cols[3][i], cols[4][i] = hourWeekday(t.Pickup[i])
	}
	tmp := make([]float32, n)
	x.m.PredictBatch(cols, tmp)
	for i, v := range tmp {
		out[i] = float64(v)
	}
	return nil
}

// predictOne predicts trip i alone, through the single-row path.
func (x *xgbModel) predictOne(t *tripcast.Trips, i int) float64 {
	h, w := hourWeekday(t.Pickup[i])
	return float64(x.m.Predict([]float32{float32(t.PULocationID[i]), float32(t.DOLocationID[i]), float32(t.TripDistance[i]), h, w}))
}

func (x *xgbModel) Version() string { return x.version }

// nanModel answers NaN for one trip.
type nanModel struct{ at int }

func (m nanModel) PredictTrips(t *tripcast.Trips, out []float64) error {
	for i := range out {
		out[i] = 10
	}
	out[m.at] = math.NaN()
	return nil
}
func (nanModel) Version() string { return "1" }

func readBack(t *testing.T, data []byte) ([]batch.Row, *parquet.File) {
	t.Helper()
	rows, err := batch.ReadParquet(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	return rows, f
}

func TestScore(t *testing.T) {
	ctx := context.Background()
	path := testfiles.Green(t, "2021-01")
	in, err := dataset.Resolve(ctx, nil, path, tlc.RuleCourse)
	if err != nil {
		t.Fatal(err)
	}
	opt := batch.OptionsFor(in)
	m := mustLoadModel(t)

	t.Run("OK", func(t *testing.T) {
		// The trips are exactly tlc's cleaning of the file.
		want, rep, err := tlc.LoadFile(path, tlc.RuleCourse)
		if err != nil {
			t.Fatal(err)
		}
		if got := in.Trips.Len(); got != rep.RowsKept || got != want.Len() {
			t.Fatalf("got %d trips, want %d (tlc kept %d)", got, want.Len(), rep.RowsKept)
		}
		if opt.Month != "2021-01" || opt.Color != "green" {
			t.Fatalf("got month %q color %q, want 2021-01 green", opt.Month, opt.Color)
		}

		out := filepath.Join(t.TempDir(), "predictions.parquet")
		sum, err := batch.WriteFile(ctx, out, m, in.Trips, batch.OptionsFor(in))
		if err != nil {
			t.Fatal(err)
		}
		if sum.Rows != rep.RowsKept || sum.Version != "7" {
			t.Fatalf("got summary %+v, want %d rows of version 7", sum, rep.RowsKept)
		}
		// A real model is off by minutes, not by zero or by hours.
		if !(sum.RMSE > 3 && sum.RMSE < 15) {
			t.Errorf("got RMSE %v, want a plausible error between 3 and 15 minutes", sum.RMSE)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		rows, f := readBack(t, data)
		if len(rows) != rep.RowsKept || f.NumRows() != int64(rep.RowsKept) {
			t.Fatalf("got %d rows (%d in the footer), want %d", len(rows), f.NumRows(), rep.RowsKept)
		}
		checkSchema(t, f, "lpep_pickup_datetime")

		// Ride ids carry the raw file's row number; check each row against
		// that raw row, read independently.
		raw, err := tlc.Read(bytes.NewReader(mustRead(t, path)), int64(len(mustRead(t, path))), path)
		if err != nil {
			t.Fatal(err)
		}
		prev := -1
		var sq float64
		for i, r := range rows {
			num, ok := strings.CutPrefix(r.RideID, "2021/01_")
			if !ok {
				t.Fatalf("row %d: got ride_id %q, want 2021/01_<row>", i, r.RideID)
			}
			k, err := strconv.Atoi(num)
			if err != nil || k <= prev || k >= raw.Trips.Len() {
				t.Fatalf("row %d: got ride_id %q after row %d, want increasing file rows below %d", i, r.RideID, prev, raw.Trips.Len())
			}
			prev = k
			rt := raw.Trips
			if r.Pickup != rt.Pickup[k] || r.PULocationID != int64(rt.PULocationID[k]) || r.DOLocationID != int64(rt.DOLocationID[k]) {
				t.Fatalf("row %d (%s): got pickup %d zones %d→%d, want file row %d: %d zones %d→%d",
					i, r.RideID, r.Pickup, r.PULocationID, r.DOLocationID, k, rt.Pickup[k], rt.PULocationID[k], rt.DOLocationID[k])
			}
			if want := float64(rt.Dropoff[k]-rt.Pickup[k]) / 60e6; r.ActualDuration != want {
				t.Fatalf("row %d: got actual_duration %v, want %v", i, r.ActualDuration, want)
			}
			if r.Diff != r.ActualDuration-r.PredictedDuration {
				t.Fatalf("row %d: got diff %v, want %v − %v", i, r.Diff, r.ActualDuration, r.PredictedDuration)
			}
			if want := m.predictOne(in.Trips, i); r.PredictedDuration != want {
				t.Fatalf("row %d: got predicted_duration %v, want %v", i, r.PredictedDuration, want)
			}
			if r.ModelVersion != "7" {
				t.Fatalf("row %d: got model_version %q, want 7", i, r.ModelVersion)
			}
			sq += r.Diff * r.Diff
		}
		if got := math.Sqrt(sq / float64(len(rows))); math.Abs(got-sum.RMSE) > 1e-9 {
			t.Errorf("got summary RMSE %v, want %v from the rows", sum.RMSE, got)
		}
		// The first trip of the month the course keeps is file row 0 here.
		if rows[0].RideID != "2021/01_0" {
			t.Errorf("got first ride_id %q, want 2021/01_0", rows[0].RideID)
		}
		assertNoTemp(t, filepath.Dir(out), 1)
	})

	t.Run("OKYellowAndVersion", func(t *testing.T) {
		opt := batch.OptionsFor(in)
		opt.Color, opt.Version, opt.Rows = "yellow", "v-override", nil
		var buf bytes.Buffer
		if _, err := batch.Score(ctx, m, in.Trips, &buf, opt); err != nil {
			t.Fatal(err)
		}
		rows, f := readBack(t, buf.Bytes())
		checkSchema(t, f, "tpep_pickup_datetime")
		if rows[5].RideID != "2021/01_5" || rows[5].ModelVersion != "v-override" {
			t.Errorf("got row 5 %q version %q, want 2021/01_5 version v-override", rows[5].RideID, rows[5].ModelVersion)
		}
	})

	t.Run("OKPut", func(t *testing.T) {
		store, err := blob.NewFile(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		out, err := batch.ParseOutput(store.URI("predictions/2021-01.parquet"), store)
		if err != nil {
			t.Fatal(err)
		}
		if out.Key != "predictions/2021-01.parquet" {
			t.Fatalf("got output %+v, want key predictions/2021-01.parquet", out)
		}
		sum, uri, err := batch.Write(ctx, out, store, m, in.Trips, batch.OptionsFor(in))
		if err != nil {
			t.Fatal(err)
		}
		if uri != store.URI(out.Key) {
			t.Errorf("got uri %q, want %q", uri, store.URI(out.Key))
		}
		rc, err := store.Open(ctx, out.Key)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		buf.ReadFrom(rc)
		rc.Close()
		rows, _ := readBack(t, buf.Bytes())
		if len(rows) != sum.Rows {
			t.Errorf("got %d rows stored, want %d", len(rows), sum.Rows)
		}
	})

	t.Run("ErrNaN", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "p.parquet")
		_, err := batch.WriteFile(ctx, out, nanModel{at: 100}, in.Trips, batch.OptionsFor(in))
		if code := tripcast.ErrorCode(err); code != tripcast.EINTERNAL {
			t.Fatalf("got error %v (%s), want EINTERNAL", err, code)
		}
		assertNoTemp(t, dir, 0)
	})

	t.Run("ErrMonth", func(t *testing.T) {
		opt := batch.OptionsFor(in)
		opt.Month = "2021-13"
		_, err := batch.Score(ctx, m, in.Trips, &bytes.Buffer{}, opt)
		if f := tripcast.ErrorField(err); f != "month" {
			t.Fatalf("got error %v on field %q, want field month", err, f)
		}
	})

	t.Run("ErrRows", func(t *testing.T) {
		opt := batch.OptionsFor(in)
		opt.Rows = opt.Rows[:10]
		_, err := batch.Score(ctx, m, in.Trips, &bytes.Buffer{}, opt)
		if f := tripcast.ErrorField(err); f != "rows" {
			t.Fatalf("got error %v on field %q, want field rows", err, f)
		}
	})

	t.Run("ErrNoDurations", func(t *testing.T) {
		tr := *in.Trips
		tr.Duration = nil
		_, err := batch.Score(ctx, m, &tr, &bytes.Buffer{}, batch.OptionsFor(in))
		if f := tripcast.ErrorField(err); f != "trips" {
			t.Fatalf("got error %v on field %q, want field trips", err, f)
		}
	})

	t.Run("ErrCanceled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := batch.Score(cctx, m, in.Trips, &bytes.Buffer{}, batch.OptionsFor(in))
		if err != context.Canceled {
			t.Fatalf("got error %v, want context.Canceled", err)
		}
	})
}

func TestParseOutput(t *testing.T) {
	dir := t.TempDir()
	store, err := blob.NewFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, in string
		store    tripcast.BlobStore
		want     batch.Output
	}{
		{"OKPath", "out/p.parquet", store, batch.Output{Path: "out/p.parquet"}},
		{"OKFileURIOutsideStore", "file:///tmp/x/p.parquet", store, batch.Output{Path: "/tmp/x/p.parquet"}},
		{"OKStoreURI", store.URI("scores/p.parquet"), store, batch.Output{Key: "scores/p.parquet"}},
		{"OKBlobKey", "blob:scores/p.parquet", store, batch.Output{Key: "scores/p.parquet"}},
		{"OKNoStore", "p.parquet", nil, batch.Output{Path: "p.parquet"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := batch.ParseOutput(tc.in, tc.store)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name, in string
		store    tripcast.BlobStore
	}{
		{"ErrOtherStore", "s3://elsewhere/p.parquet", store},
		{"ErrEmpty", "", store},
		{"ErrBlobNoStore", "blob:p.parquet", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := batch.ParseOutput(tc.in, tc.store)
			if f := tripcast.ErrorField(err); f != "output" {
				t.Fatalf("got error %v on field %q, want field output", err, f)
			}
		})
	}
}

func checkSchema(t *testing.T, f *parquet.File, pickup string) {
	t.Helper()
	want := []struct {
		name string
		typ  parquet.Kind
	}{
		{"ride_id", parquet.ByteArray},
		{pickup, parquet.Int64},
		{"PULocationID", parquet.Int64},
		{"DOLocationID", parquet.Int64},
		{"actual_duration", parquet.Double},
		{"predicted_duration", parquet.Double},
		{"diff", parquet.Double},
		{"model_version", parquet.ByteArray},
	}
	fields := f.Schema().Fields()
	if len(fields) != len(want) {
		t.Fatalf("got %d columns, want %d", len(fields), len(want))
	}
	for i, w := range want {
		fl := fields[i]
		if fl.Name() != w.name || fl.Type().Kind() != w.typ {
			t.Errorf("column %d: got %s %v, want %s %v", i, fl.Name(), fl.Type().Kind(), w.name, w.typ)
		}
	}
	lt := fields[1].Type().LogicalType()
	ts, ok := lt.Value.(*format.TimestampType)
	if !ok || ts.IsAdjustedToUTC {
		t.Errorf("got pickup logical type %v, want TIMESTAMP(isAdjustedToUTC=false,unit=MICROS)", lt)
	} else if _, ok := ts.Unit.Value.(*format.MicroSeconds); !ok {
		t.Errorf("got pickup unit %v, want MICROS", &ts.Unit)
	}
	for _, i := range []int{0, 7} {
		lt := fields[i].Type().LogicalType()
		if _, ok := lt.Value.(*format.StringType); !ok {
			t.Errorf("column %s: got logical type %v, want STRING", fields[i].Name(), lt)
		}
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// assertNoTemp checks dir holds want files and no temporary file.
func assertNoTemp(t *testing.T, dir string, want int) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != want {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("got files %v in %s, want %d and no temporary file", names, dir, want)
	}
}

// BenchmarkScoreMonth is the batch target: green 2021-01 end to end (read and
// clean the file, predict with a real 100-tree model, write the parquet to
// disk). Target: well under 1 s per month.
func BenchmarkScoreMonth(b *testing.B) {
	benchScoreMonth(b, testfiles.Green(b, "2021-01"), mustLoadModel(b))
}

// benchScoreMonth scores the month file path with m end to end (read and
// clean the file, predict, write the parquet to disk) in every iteration.
func benchScoreMonth(b *testing.B, path string, m batch.Model) {
	ctx := context.Background()
	out := filepath.Join(b.TempDir(), "p.parquet")
	b.ReportAllocs()
	rows := 0
	for b.Loop() {
		in, err := dataset.Resolve(ctx, nil, path, tlc.RuleCourse)
		if err != nil {
			b.Fatal(err)
		}
		sum, err := batch.WriteFile(ctx, out, m, in.Trips, batch.OptionsFor(in))
		if err != nil {
			b.Fatal(err)
		}
		rows += sum.Rows
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/month")
}

// BenchmarkWriteParquet is the output step alone.
func BenchmarkWriteParquet(b *testing.B) {
	ctx := context.Background()
	in, err := dataset.Resolve(ctx, nil, testfiles.Green(b, "2021-01"), tlc.RuleCourse)
	if err != nil {
		b.Fatal(err)
	}
	rows, _, err := batch.Predict(ctx, mustLoadModel(b), in.Trips, batch.OptionsFor(in))
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := batch.WriteParquet(&buf, rows, "green"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(rows)*b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(buf.Len()), "bytes")
}

// *model.Artifact is what tripcast batch scores with.
var _ batch.Model = (*model.Artifact)(nil)

// trainArtifact trains a tripcast gbdt artifact (the default feature spec,
// 100 trees of depth 8) on green 2021-01.
func trainArtifact(b *testing.B, trips *tripcast.Trips) *model.Artifact {
	b.Helper()
	spec := features.Default()
	if err := spec.Fit(trips); err != nil {
		b.Fatal(err)
	}
	m := spec.Matrix(trips, true)
	p := gbdt.DefaultParams()
	p.NumBoostRound, p.MaxDepth, p.EarlyStoppingRounds = 100, 8, 0
	gm, err := gbdt.Train(context.Background(), &gbdt.Dataset{Cols: m.Cols, Label: m.Label, Names: m.Names, Categorical: m.Categorical}, nil, p, nil)
	if err != nil {
		b.Fatal(err)
	}
	a := &model.Artifact{Kind: model.GBDT, GBDT: gm, Spec: spec}
	a.SetIdentity(tripcast.DefaultModelName, "1")
	return a
}

// BenchmarkScoreMonthArtifact is BenchmarkScoreMonth with a model trained by
// tripcast (features spec + gbdt), the kind tripcast batch loads.
func BenchmarkScoreMonthArtifact(b *testing.B) {
	path := testfiles.Green(b, "2021-01")
	in, err := dataset.Resolve(context.Background(), nil, path, tlc.RuleCourse)
	if err != nil {
		b.Fatal(err)
	}
	benchScoreMonth(b, path, trainArtifact(b, in.Trips))
}

// TestScoreDataset scores a month stored by ingest: its ride ids are the
// ones scoring the TLC file gives (the row numbers stored with the dataset),
// and a dataset stored without row numbers numbers its rides by position.
func TestScoreDataset(t *testing.T) {
	ctx := context.Background()
	path := testfiles.Green(t, "2021-01")
	m := mustLoadModel(t)
	fromFile, err := dataset.Resolve(ctx, nil, path, tlc.RuleCourse)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := batch.Predict(ctx, m, fromFile.Trips, batch.OptionsFor(fromFile))
	if err != nil {
		t.Fatal(err)
	}
	store, err := blob.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dataset.Ingest(ctx, store, path, dataset.IngestOptions{Rule: tlc.RuleCourse}); err != nil {
		t.Fatal(err)
	}
	stored, err := dataset.Resolve(ctx, store, "2021-01", tlc.RuleDefault)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("OK", func(t *testing.T) {
		got, _, err := batch.Predict(ctx, m, stored.Trips, batch.OptionsFor(stored))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("got %d rows, want %d", len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("row %d: got %+v, want %+v (as scored from the file)", i, got[i], want[i])
			}
		}
		// The course keeps the file's index: a dropped row leaves a gap.
		if last := want[len(want)-1].RideID; last == fmt.Sprintf("2021/01_%d", len(want)-1) {
			t.Fatalf("got last ride id %s, want the file's row number", last)
		}
	})

	t.Run("OK/NoRows", func(t *testing.T) {
		opt := batch.OptionsFor(stored)
		opt.Rows = nil // as for a dataset stored in format 1
		got, _, err := batch.Predict(ctx, m, stored.Trips, opt)
		if err != nil {
			t.Fatal(err)
		}
		if got[10].RideID != "2021/01_10" {
			t.Fatalf("got ride id %s, want 2021/01_10 (the position)", got[10].RideID)
		}
	})
}
