package dataset_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"tripcast"
	"tripcast/blob/blobtest"
	"tripcast/dataset"
	"tripcast/internal/testfiles"
	"tripcast/tlc"
)

func sameTrips(t *testing.T, got, want *tripcast.Trips) {
	t.Helper()
	if got.Len() != want.Len() {
		t.Fatalf("got %d trips, want %d", got.Len(), want.Len())
	}
	eq := func(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }
	for i := range got.Len() {
		if got.Pickup[i] != want.Pickup[i] || got.Dropoff[i] != want.Dropoff[i] ||
			got.PULocationID[i] != want.PULocationID[i] || got.DOLocationID[i] != want.DOLocationID[i] ||
			!eq(got.TripDistance[i], want.TripDistance[i]) || !eq(got.PassengerCount[i], want.PassengerCount[i]) ||
			!eq(got.FareAmount[i], want.FareAmount[i]) || !eq(got.TotalAmount[i], want.TotalAmount[i]) ||
			got.Duration[i] != want.Duration[i] {
			t.Fatalf("trip %d differs", i)
		}
	}
}

// mustLoadRows reads and cleans a TLC file with its row numbers.
func mustLoadRows(tb testing.TB, path string, rule tlc.Rule) (*tripcast.Trips, []int, *tlc.Report) {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	trips, rows32, rep, err := tlc.LoadRows(bytes.NewReader(data), int64(len(data)), path, tlc.Options{Rule: rule})
	if err != nil {
		tb.Fatal(err)
	}
	rows := make([]int, len(rows32))
	for i, r := range rows32 {
		rows[i] = int(r)
	}
	return trips, rows, rep
}

// checkRows checks that d.Rows gives each trip's row in the TLC file at
// path: increasing, and the file's row there is the trip.
func checkRows(t *testing.T, path string, d *dataset.Data) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := tlc.Read(bytes.NewReader(data), int64(len(data)), path)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Rows) != d.Trips.Len() {
		t.Fatalf("got %d row numbers for %d trips", len(d.Rows), d.Trips.Len())
	}
	skipped := 0
	for i, r := range d.Rows {
		if i > 0 && r <= d.Rows[i-1] {
			t.Fatalf("trip %d: got row %d after %d, want increasing", i, r, d.Rows[i-1])
		}
		if raw.Trips.Pickup[r] != d.Trips.Pickup[i] || raw.Trips.Dropoff[r] != d.Trips.Dropoff[i] ||
			raw.Trips.PULocationID[r] != d.Trips.PULocationID[i] || raw.Trips.DOLocationID[r] != d.Trips.DOLocationID[i] {
			t.Fatalf("trip %d: the file's row %d is another trip", i, r)
		}
		if r != i {
			skipped++
		}
	}
	if skipped == 0 {
		t.Fatal("got every trip at its own position, want the dropped rows skipped")
	}
}

// format1Row is a row of a dataset parquet of format 1 (no tlc_row).
type format1Row struct {
	Pickup         int64   `parquet:"lpep_pickup_datetime,timestamp(microsecond)"`
	Dropoff        int64   `parquet:"lpep_dropoff_datetime,timestamp(microsecond)"`
	PULocationID   int32   `parquet:"PULocationID"`
	DOLocationID   int32   `parquet:"DOLocationID"`
	TripDistance   float64 `parquet:"trip_distance"`
	PassengerCount float64 `parquet:"passenger_count"`
	FareAmount     float64 `parquet:"fare_amount"`
	TotalAmount    float64 `parquet:"total_amount"`
	Duration       float64 `parquet:"duration"`
}

func TestIngestLoad(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 28, 4, 0, 0, 0, time.UTC)
	for _, m := range []string{"2021-01", "2023-03"} {
		t.Run("OK/"+m, func(t *testing.T) {
			store := blobtest.MustOpenFile(t)
			ingested, err := dataset.Ingest(ctx, store, testfiles.Green(t, m), dataset.IngestOptions{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			man := ingested.Manifest
			want, rep, err := tlc.LoadFile(testfiles.Green(t, m), tlc.RuleDefault)
			if err != nil {
				t.Fatal(err)
			}
			// Ingest hands back what it stored: no second read needed.
			sameTrips(t, ingested.Trips, want)
			if man.Rows != rep.RowsKept || man.Report.RowsRead != rep.RowsRead || man.Key != "datasets/green/"+m+"/default/trips.parquet" ||
				man.Rule != "default" || man.Color != "green" || !man.Created.Equal(now) {
				t.Fatalf("got manifest %+v, want %d rows at datasets/green/%s/default", man, rep.RowsKept, m)
			}
			raw, err := store.Stat(ctx, "raw/green/"+m+".parquet")
			if err != nil {
				t.Fatal(err)
			}
			if man.SourceKey != raw.Key || man.SourceSHA256 != raw.SHA256 {
				t.Fatalf("got source %s %s, want %s %s", man.SourceKey, man.SourceSHA256, raw.Key, raw.SHA256)
			}
			for _, ref := range []string{m, "green/" + m, "green/" + m + "/default", man.Key,
				"datasets/green/" + m + "/default", store.URI(man.Key), store.URI("datasets/green/" + m + "/default/manifest.json")} {
				got, err := dataset.Load(ctx, store, ref)
				if err != nil {
					t.Fatalf("%s: %v", ref, err)
				}
				if got.Manifest.SHA256 != man.SHA256 {
					t.Fatalf("%s: got sha256 %s, want %s", ref, got.Manifest.SHA256, man.SHA256)
				}
				sameTrips(t, got.Trips, want)
				if !slices.Equal(got.Rows, ingested.Rows) {
					t.Fatalf("%s: got %d row numbers, want the %d ingested", ref, len(got.Rows), len(ingested.Rows))
				}
			}
		})
	}
	t.Run("OK/Rules", func(t *testing.T) {
		store := blobtest.MustOpenFile(t)
		if _, err := dataset.Ingest(ctx, store, testfiles.Green(t, "2021-01"), dataset.IngestOptions{Rule: tlc.RuleCourse}); err != nil {
			t.Fatal(err)
		}
		loaded := func(ref string) string {
			d, err := dataset.Load(ctx, store, ref)
			if err != nil {
				t.Fatalf("%s: %v", ref, err)
			}
			return fmt.Sprintf("%s %d", d.Manifest.Rule, d.Manifest.Rows)
		}
		// Only the course dataset: a bare month finds it.
		if got := loaded("2021-01"); got != "course 73908" {
			t.Fatalf("got %s rows, want course 73908", got)
		}
		if _, err := dataset.Ingest(ctx, store, testfiles.Green(t, "2021-01"), dataset.IngestOptions{}); err != nil {
			t.Fatal(err)
		}
		// Both: the default rule wins; the course one is asked by name.
		if got := loaded("2021-01"); got != "default 73844" {
			t.Fatalf("got %s rows, want default 73844", got)
		}
		if got := loaded("2021-01/course"); got != "course 73908" {
			t.Fatalf("got %s rows, want course 73908", got)
		}
		list, err := dataset.List(ctx, store)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].Ref() != "green/2021-01/course" || list[1].Ref() != "green/2021-01/default" {
			t.Fatalf("got %d datasets, want green/2021-01/course and /default", len(list))
		}
	})
	t.Run("OK/Yellow", func(t *testing.T) {
		store := blobtest.MustOpenFile(t)
		trips, rows, rep := mustLoadRows(t, testfiles.Green(t, "2023-03"), tlc.RuleDefault)
		rep.Color = "yellow"
		if _, err := dataset.Save(ctx, store, trips, rows, *rep, dataset.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := dataset.Load(ctx, store, "yellow/2023-03")
		if err != nil {
			t.Fatal(err)
		}
		if got.Manifest.Color != "yellow" {
			t.Fatalf("got color %s, want yellow", got.Manifest.Color)
		}
		sameTrips(t, got.Trips, trips)
		if !slices.Equal(got.Rows, rows) {
			t.Fatalf("got %d row numbers, want the %d saved", len(got.Rows), len(rows))
		}
	})
	t.Run("OK/Format1", func(t *testing.T) {
		// A dataset stored before the tlc_row column (format 1) still
		// loads: its trips, no row numbers.
		store := blobtest.MustOpenFile(t)
		d, err := dataset.Ingest(ctx, store, testfiles.Green(t, "2021-01"), dataset.IngestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		man := d.Manifest
		rows := make([]format1Row, d.Trips.Len())
		for i := range rows {
			tr := d.Trips
			rows[i] = format1Row{tr.Pickup[i], tr.Dropoff[i], tr.PULocationID[i], tr.DOLocationID[i],
				tr.TripDistance[i], tr.PassengerCount[i], tr.FareAmount[i], tr.TotalAmount[i], tr.Duration[i]}
		}
		var buf bytes.Buffer
		if err := parquet.Write(&buf, rows, parquet.Compression(&parquet.Snappy)); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(buf.Bytes())
		man.Format, man.SHA256, man.Size = 1, hex.EncodeToString(sum[:]), int64(buf.Len())
		js, _ := json.Marshal(man)
		if _, err := store.Put(ctx, man.Key, &buf); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Put(ctx, "datasets/green/2021-01/default/manifest.json", bytes.NewReader(js)); err != nil {
			t.Fatal(err)
		}
		got, err := dataset.Load(ctx, store, "2021-01")
		if err != nil {
			t.Fatal(err)
		}
		if got.Rows != nil || got.Manifest.Format != 1 {
			t.Fatalf("got %d row numbers, format %d, want none from format 1", len(got.Rows), got.Manifest.Format)
		}
		sameTrips(t, got.Trips, d.Trips)
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		store := blobtest.MustOpenFile(t)
		_, err := dataset.Load(ctx, store, "2021-05")
		if tripcast.ErrorCode(err) != tripcast.ENOTFOUND || !strings.Contains(err.Error(), "tripcast ingest") {
			t.Fatalf("got %v, want %s with a hint", err, tripcast.ENOTFOUND)
		}
	})
	t.Run("ErrBadRef", func(t *testing.T) {
		store := blobtest.MustOpenFile(t)
		for _, ref := range []string{"january", "green/2021-01/strict", "s3://elsewhere/datasets/green/2021-01/default", "2021-13"} {
			if _, err := dataset.Load(ctx, store, ref); tripcast.ErrorCode(err) != tripcast.EINVALID {
				t.Fatalf("%s: got %v, want %s", ref, err, tripcast.EINVALID)
			}
		}
	})
	t.Run("ErrCorrupt", func(t *testing.T) {
		store := blobtest.MustOpenFile(t)
		d, err := dataset.Ingest(ctx, store, testfiles.Green(t, "2021-02"), dataset.IngestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Replace the parquet with another month's dataset bytes.
		other, rows, _ := mustLoadRows(t, testfiles.Green(t, "2021-03"), tlc.RuleDefault)
		var buf bytes.Buffer
		if err := dataset.WriteParquet(&buf, other, rows, "green"); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Put(ctx, d.Manifest.Key, &buf); err != nil {
			t.Fatal(err)
		}
		_, err = dataset.Load(ctx, store, "2021-02")
		if tripcast.ErrorCode(err) != tripcast.EINVALID || !strings.Contains(err.Error(), "corrupt") {
			t.Fatalf("got %v, want a corrupt dataset error", err)
		}
	})
	t.Run("ErrBadFile", func(t *testing.T) {
		store := blobtest.MustOpenFile(t)
		data, _ := os.ReadFile(testfiles.Green(t, "2021-01"))
		bad := filepath.Join(t.TempDir(), "green_tripdata_2021-01.parquet")
		os.WriteFile(bad, data[:len(data)-100], 0o644)
		_, err := dataset.Ingest(ctx, store, bad, dataset.IngestOptions{})
		if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "truncated") {
			t.Fatalf("got %v, want a truncated file error naming %s", err, bad)
		}
		assertEmptyStore(t, store)
	})
	t.Run("ErrManifestWrite", func(t *testing.T) {
		// A folder where the manifest goes makes the manifest write fail
		// for real; the parquet written before it must not stay behind.
		store := blobtest.MustOpenFile(t)
		if err := os.MkdirAll(filepath.Join(store.Dir(), "datasets/green/2021-01/default/manifest.json/x"), 0o755); err != nil {
			t.Fatal(err)
		}
		trips, rows, rep := mustLoadRows(t, testfiles.Green(t, "2021-01"), tlc.RuleDefault)
		if _, err := dataset.Save(ctx, store, trips, rows, *rep, dataset.SaveOptions{}); err == nil {
			t.Fatal("got no error, want the manifest write to fail")
		}
		if _, err := store.Stat(ctx, "datasets/green/2021-01/default/trips.parquet"); tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
			t.Fatalf("got %v, want the parquet removed (%s)", err, tripcast.ENOTFOUND)
		}
	})
}

func assertEmptyStore(t *testing.T, store tripcast.BlobStore) {
	t.Helper()
	infos, err := store.List(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 0 {
		t.Fatalf("got %d objects (%s), want none", len(infos), infos[0].Key)
	}
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	store := blobtest.MustOpenFile(t)
	t.Run("OK/File", func(t *testing.T) {
		d, err := dataset.Resolve(ctx, store, testfiles.Green(t, "2021-01"), tlc.RuleDefault)
		if err != nil {
			t.Fatal(err)
		}
		if man := d.Manifest; d.Trips.Len() != 73844 || man.Rule != "default" || man.Key != "" || !strings.HasPrefix(man.URI, "file:///") {
			t.Fatalf("got %d trips, manifest %+v, want 73844 default from a file", d.Trips.Len(), man)
		}
		if d.SHA256() != d.Manifest.SourceSHA256 || len(d.SHA256()) != 64 {
			t.Fatalf("got sha256 %q, want the file's", d.SHA256())
		}
		checkRows(t, testfiles.Green(t, "2021-01"), d)
		// The rule is the caller's.
		course, err := dataset.Resolve(ctx, store, testfiles.Green(t, "2021-01"), tlc.RuleCourse)
		if err != nil || course.Trips.Len() != 73908 || course.Manifest.Rule != "course" {
			t.Fatalf("got %v, want 73908 course trips", err)
		}
	})
	t.Run("OK/Dataset", func(t *testing.T) {
		if _, err := dataset.Ingest(ctx, store, testfiles.Green(t, "2021-02"), dataset.IngestOptions{Rule: tlc.RuleCourse}); err != nil {
			t.Fatal(err)
		}
		// A stored dataset keeps the rule it was cleaned with.
		d, err := dataset.Resolve(ctx, store, "2021-02", tlc.RuleDefault)
		if err != nil || d.Trips.Len() != 61921 || d.Manifest.Rule != "course" {
			t.Fatalf("got %v, want 61921 course trips", err)
		}
		if d.SHA256() != d.Manifest.SHA256 {
			t.Fatalf("got sha256 %s, want the dataset's %s", d.SHA256(), d.Manifest.SHA256)
		}
		checkRows(t, testfiles.Green(t, "2021-02"), d)
	})
	t.Run("ErrBadFile", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "2021-01.parquet")
		os.WriteFile(p, []byte("not parquet at all"), 0o644)
		_, err := dataset.Resolve(ctx, store, p, tlc.RuleDefault)
		if err == nil || !strings.Contains(err.Error(), "not a parquet file") {
			t.Fatalf("got %v, want not a parquet file", err)
		}
	})
}

func TestZones(t *testing.T) {
	ctx := context.Background()
	store := blobtest.MustOpenFile(t)
	t.Run("OK", func(t *testing.T) {
		info, err := dataset.PutZones(ctx, store, testfiles.TLC(t, "taxi_zone_lookup.csv"))
		if err != nil {
			t.Fatal(err)
		}
		if info.SHA256 != "1a99e105092230f8620f301edcca7f80d3080642ff404d28ed957d3fa222c8ed" {
			t.Fatalf("got sha256 %s, want the official file's", info.SHA256)
		}
		z, err := dataset.LoadZones(ctx, store)
		if err != nil || z.Len() != 265 {
			t.Fatalf("got %v, want 265 zones", err)
		}
	})
	t.Run("ErrNotCSV", func(t *testing.T) {
		if _, err := dataset.PutZones(ctx, blobtest.MustOpenFile(t), testfiles.Green(t, "2021-01")); err == nil {
			t.Fatal("got no error, want a zone lookup error")
		}
	})
}

// BenchmarkLoad reads a stored dataset (green 2021-01, default rule).
func BenchmarkLoad(b *testing.B) {
	ctx := context.Background()
	store := blobtest.MustOpenFile(b)
	if _, err := dataset.Ingest(ctx, store, testfiles.Green(b, "2021-01"), dataset.IngestOptions{}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	rows := 0
	for b.Loop() {
		d, err := dataset.Load(ctx, store, "2021-01")
		if err != nil {
			b.Fatal(err)
		}
		rows += d.Trips.Len()
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkWriteParquet writes green 2021-01 (default rule) as a dataset
// parquet in memory.
func BenchmarkWriteParquet(b *testing.B) {
	trips, rows, _ := mustLoadRows(b, testfiles.Green(b, "2021-01"), tlc.RuleDefault)
	b.ReportAllocs()
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := dataset.WriteParquet(&buf, trips, rows, "green"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(trips.Len()*b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(buf.Len()), "bytes")
}
