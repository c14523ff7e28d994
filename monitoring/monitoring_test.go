package monitoring_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"tripcast"
	"tripcast/blob"
	"tripcast/internal/testfiles"
	"tripcast/model"
	"tripcast/monitor"
	"tripcast/monitoring"
	"tripcast/sqlstore"
	"tripcast/sqlstore/sqlstoretest"
	"tripcast/tlc"
	"tripcast/train"
)

var (
	fixOnce       sync.Once
	jan, feb, mar *tripcast.Trips
	janModel      *model.Artifact
	janRef        *monitoring.Reference
)

// fixture trains a quick model on green 2021-01 (validated on 2021-02) and
// builds its reference, once.
func fixture(t testing.TB) {
	t.Helper()
	fixOnce.Do(func() {
		load := func(m string) *tripcast.Trips {
			tr, _, err := tlc.LoadFile(testfiles.Green(t, m), tlc.RuleCourse)
			if err != nil {
				t.Fatal(err)
			}
			return tr
		}
		jan, feb, mar = load("2021-01"), load("2021-02"), load("2023-03")
		res, err := train.Fit(context.Background(), jan, feb, train.Options{Params: map[string]string{
			"num_boost_round": "40", "max_depth": "6", "eta": "0.3", "early_stopping_rounds": "0"}})
		if err != nil {
			t.Fatal(err)
		}
		janModel = res.Artifact
		if janRef, err = monitoring.NewReference(janModel, jan, feb, "green 2021-01"); err != nil {
			t.Fatal(err)
		}
	})
	if janRef == nil {
		t.Fatal("fixture not built")
	}
}

// TestReference compares scored months with the 2021-01 model's stored
// reference: 2021-02 does not drift, 2023-03 does, and its predictions too.
func TestReference(t *testing.T) {
	fixture(t)
	buf, err := monitoring.MarshalReference(janRef)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := monitoring.DecodeReference(buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		month *tripcast.Trips
		drift bool
	}{{feb, false}, {mar, true}} {
		cur, err := monitoring.ScoreTrips(janModel, tc.month, nil, "month")
		if err != nil {
			t.Fatal(err)
		}
		r, err := monitoring.Compare(ref, cur, monitor.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if r.DatasetDrift != tc.drift || r.PredictionDrifted != tc.drift || r.RMSE == nil || r.RMSEChange == nil {
			t.Fatalf("got dataset drift %v, prediction drift %v (%v), rmse %v; want drift %v and an rmse",
				r.DatasetDrift, r.PredictionDrifted, r.PredictionDrift, r.RMSE, tc.drift)
		}
		if len(r.Columns) != len(monitor.TripSpecs(true)) {
			t.Fatalf("got %d columns, want every TLC column and the prediction", len(r.Columns))
		}
	}
	// The 2021-02 reference's validation RMSE is its own model quality.
	cur, _ := monitoring.ScoreTrips(janModel, feb, nil, "feb")
	if r := monitoring.ReferenceFromCurrent(cur); math.Abs(r.Validation.RMSE-janRef.Validation.RMSE) > 1e-9 {
		t.Fatalf("month reference RMSE %v, validation %v", r.Validation.RMSE, janRef.Validation.RMSE)
	}
	if _, err := monitoring.NewReference(janModel, &tripcast.Trips{}, nil, ""); tripcast.ErrorField(err) != "train" {
		t.Fatalf("empty training data: got %v, want an error naming train", err)
	}
}

// monthTruth is ground truth from a scored month: ride i is row i modulo
// the month's rows, whose actual durations are the truth, joined to the log.
type monthTruth struct {
	log   tripcast.PredictionReader
	trips *tripcast.Trips
}

func (m monthTruth) ReadJoined(ctx context.Context, q tripcast.PredictionQuery, fn func(*tripcast.PredictionRecord, float64) error) error {
	return m.log.ReadPredictions(ctx, q, func(r *tripcast.PredictionRecord) error {
		i, err := strconv.Atoi(r.RideID)
		if err != nil {
			return err
		}
		return fn(r, m.trips.Duration[i%m.trips.Len()])
	})
}

var day = time.Date(2023, 3, 1, 0, 0, 0, 0, time.UTC)

// records returns the predictions of the 2021-01 model for the first n
// rides of t (cycling), spread from start every every, ride IDs 0..n-1.
func records(t testing.TB, trips *tripcast.Trips, n int, start time.Time, every time.Duration) []tripcast.PredictionRecord {
	pred := make([]float64, trips.Len())
	if err := janModel.PredictTrips(trips, pred); err != nil {
		t.Fatal(err)
	}
	recs := make([]tripcast.PredictionRecord, n)
	for i := range recs {
		j := i % trips.Len()
		at := start.Add(time.Duration(i) * every)
		recs[i] = tripcast.PredictionRecord{RideID: strconv.Itoa(i), Model: "m", Version: "1",
			PULocationID: int(trips.PULocationID[j]), DOLocationID: int(trips.DOLocationID[j]), TripDistance: trips.TripDistance[j],
			PickupTime: time.UnixMicro(trips.Pickup[j]).UTC(), Prediction: pred[j], ReceivedAt: at, PredictedAt: at, Source: tripcast.SourceHTTP}
	}
	return recs
}

func mustDB(t *testing.T) *sqlstore.DB { return sqlstoretest.MustOpen(t, sqlstoretest.FreshSQLite(t)) }

func mustBlobs(t testing.TB) tripcast.BlobStore {
	b, err := blob.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReportWindow reports a day of 2023-03 predictions logged in the SQL
// log, with the month's durations as ground truth: the report is stored as
// JSON and self-contained HTML, its figures in the time series and on the
// gauges.
func TestReportWindow(t *testing.T) {
	fixture(t)
	ctx := context.Background()
	db, blobs := mustDB(t), mustBlobs(t)
	recs := records(t, mar, 5000, day, 10*time.Second)
	if err := db.PredictionLog().Log(ctx, recs); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	r := &monitoring.Runner{Model: "m", Reference: janRef, Log: db, Truth: monthTruth{db, mar},
		Store: &monitoring.Store{Blobs: blobs, Series: db, Gauges: monitoring.NewGauges(reg)}}
	ws, err := monitoring.Windows(day, day.AddDate(0, 0, 1), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.Window(ctx, ws[0])
	if err != nil {
		t.Fatal(err)
	}
	if d.Rows != 5000 || !d.PredictionDrifted || d.RMSE == nil || d.ModelQuality.Rows != 5000 || d.Columns[monitor.ColDuration].Status != monitor.StatusOK {
		t.Fatalf("got rows %d, prediction drift %v, rmse %v, duration %+v; want 5000 rows, drift, an rmse, target drift tested",
			d.Rows, d.PredictionDrifted, d.RMSE, d.Columns[monitor.ColDuration])
	}
	if _, ok := d.Columns[monitor.ColFare]; ok {
		t.Fatalf("fare_amount tested, but the log has no fares")
	}
	prefix := monitoring.ReportPrefix("m", ws[0])
	js := readBlob(t, blobs, prefix+monitoring.ReportJSON)
	var m map[string]any
	if err := json.Unmarshal(js, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"dataset_drift", "share_drifted", "columns", "prediction_drift", "share_missing_values", "rmse", "mae", "r2"} {
		if _, ok := m[k]; !ok {
			t.Errorf("report.json lacks %s", k)
		}
	}
	page := string(readBlob(t, blobs, prefix+monitoring.ReportHTML))
	if !strings.Contains(page, "<svg") || strings.Contains(page, "<script") || strings.Contains(page, "src=") || strings.Contains(page, "NaN") {
		t.Fatalf("report.html is not a self-contained page of inline SVG")
	}
	figs, err := db.ListMonitorFigures(ctx, "m", monitoring.FigRMSE, day, day.AddDate(0, 0, 1))
	if err != nil || len(figs) != 1 || figs[0].Value != *d.RMSE {
		t.Fatalf("time series: got %+v, %v; want rmse %v", figs, err, *d.RMSE)
	}
	if g := testutil.ToFloat64(monitoringGauge(reg, t, "tripcast_monitor_prediction_drift")); g != *d.PredictionDrift {
		t.Fatalf("gauge prediction_drift %v, want %v", g, *d.PredictionDrift)
	}
}

func monitoringGauge(reg *prometheus.Registry, t *testing.T, name string) prometheus.Collector {
	return gathered{reg, name}
}

// gathered exposes one gathered family as a collector for testutil.
type gathered struct {
	reg  *prometheus.Registry
	name string
}

func (g gathered) Describe(ch chan<- *prometheus.Desc) {}
func (g gathered) Collect(ch chan<- prometheus.Metric) {
	mfs, _ := g.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == g.name {
			for _, m := range mf.GetMetric() {
				ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(g.name, "", nil, nil), prometheus.GaugeValue, m.GetGauge().GetValue())
			}
		}
	}
}

func readBlob(t *testing.T, b tripcast.BlobStore, key string) []byte {
	t.Helper()
	rc, err := b.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestReportBadInput: an empty window and a window of one row give a
// report that says so per column, with no NaN anywhere.
func TestReportBadInput(t *testing.T) {
	fixture(t)
	ctx := context.Background()
	db := mustDB(t)
	if err := db.PredictionLog().Log(ctx, records(t, mar, 1, day, time.Second)); err != nil {
		t.Fatal(err)
	}
	r := &monitoring.Runner{Model: "m", Reference: janRef, Log: db, Truth: monthTruth{db, mar},
		Store: &monitoring.Store{Blobs: mustBlobs(t), Series: db}}
	for _, tc := range []struct {
		name string
		w    monitoring.Window
		rows int64
	}{{"Empty", monitoring.Window{Start: day.Add(time.Hour), End: day.Add(2 * time.Hour)}, 0}, {"OneRow", monitoring.Window{Start: day, End: day.Add(time.Hour)}, 1}} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := r.Window(ctx, tc.w)
			if err != nil {
				t.Fatal(err)
			}
			if d.Rows != tc.rows || d.Note == "" || d.DatasetDrift || d.ShareDrifted != nil || d.PredictionDrift != nil {
				t.Fatalf("got %+v", d)
			}
			for name, c := range d.Columns {
				if c.Status != monitor.StatusNotEnoughData || c.Score != nil {
					t.Errorf("%s: status %s score %v, want not_enough_data and no score", name, c.Status, c.Score)
				}
			}
			js, err := json.Marshal(d)
			if err != nil || bytes.Contains(js, []byte("NaN")) {
				t.Fatalf("json %s, %v", js, err)
			}
			var page bytes.Buffer
			if err := monitoring.WriteHTML(&page, d, janRef); err != nil || strings.Contains(page.String(), "NaN") {
				t.Fatalf("html: %v (NaN shown: %v)", err, strings.Contains(page.String(), "NaN"))
			}
		})
	}
}

func TestWindows(t *testing.T) {
	ws, err := monitoring.Windows(day, day.Add(50*time.Hour), 24*time.Hour)
	if err != nil || len(ws) != 3 || !ws[2].End.Equal(day.Add(50*time.Hour)) {
		t.Fatalf("got %+v, %v; want 3 windows, the last cut at until", ws, err)
	}
	for _, bad := range [][2]time.Time{{day, day}, {day, day.Add(-time.Hour)}} {
		if _, err := monitoring.Windows(bad[0], bad[1], time.Hour); tripcast.ErrorField(err) != "until" {
			t.Errorf("got %v, want an error naming until", err)
		}
	}
	if w := monitoring.LastWindow(day.Add(90*time.Minute), time.Hour); !w.Start.Equal(day) || w.Key() != "20230301T000000Z_20230301T010000Z" {
		t.Fatalf("last window %+v (%s)", w, w.Key())
	}
}

// TestSchedule: of two processes sharing the lease, one reports the last
// window; a window already reported is not reported again.
func TestSchedule(t *testing.T) {
	fixture(t)
	ctx := context.Background()
	db, blobs := mustDB(t), mustBlobs(t)
	if err := db.PredictionLog().Log(ctx, records(t, mar, 600, day, 6*time.Second)); err != nil {
		t.Fatal(err)
	}
	runner := func(context.Context) (*monitoring.Runner, error) {
		return &monitoring.Runner{Model: "m", Reference: janRef, Log: db, Store: &monitoring.Store{Blobs: blobs, Series: db}}, nil
	}
	now := func() time.Time { return day.Add(65 * time.Minute) }
	a := &monitoring.Schedule{Window: time.Hour, Leaser: db, Holder: "a", Runner: runner, Now: now}
	b := &monitoring.Schedule{Window: time.Hour, Leaser: db, Holder: "b", Runner: runner, Now: now}
	if ok, err := db.TryLease(ctx, monitoring.Lease, "b", time.Hour); !ok || err != nil {
		t.Fatalf("b could not take the lease: %v", err)
	}
	if d, held, err := a.Once(ctx); held || d != nil || err != nil {
		t.Fatalf("a while b holds the lease: got %v, held %v, %v; want nothing", d, held, err)
	}
	d, held, err := b.Once(ctx)
	if err != nil || !held || d == nil || d.Rows != 600 {
		t.Fatalf("b: got %+v, held %v, %v; want the 600 rows of the first hour", d, held, err)
	}
	if d, held, err := a.Once(ctx); !held || d != nil || err != nil {
		t.Fatalf("a after b reported: got %v, held %v, %v; want the lease and nothing to do", d, held, err)
	}
}
