package dataset_test

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

func TestIngestLoad(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 28, 4, 0, 0, 0, time.UTC)
	for _, m := range []string{"2021-01", "2023-03"} {
		t.Run("OK/"+m, func(t *testing.T) {
			store := blobtest.MustOpenFile(t)
			man, err := dataset.Ingest(ctx, store, testfiles.Green(t, m), dataset.IngestOptions{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			want, rep, err := tlc.LoadFile(testfiles.Green(t, m), tlc.RuleDefault)
			if err != nil {
				t.Fatal(err)
			}
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
				got, gm, err := dataset.Load(ctx, store, ref)
				if err != nil {
					t.Fatalf("%s: %v", ref, err)
				}
				if gm.SHA256 != man.SHA256 {
					t.Fatalf("%s: got sha256 %s, want %s", ref, gm.SHA256, man.SHA256)
				}
				sameTrips(t, got, want)
			}
		})
	}
	t.Run("OK/Rules", func(t *testing.T) {
		store := blobtest.MustOpenFile(t)
		if _, err := dataset.Ingest(ctx, store, testfiles.Green(t, "2021-01"), dataset.IngestOptions{Rule: tlc.RuleCourse}); err != nil {
			t.Fatal(err)
		}
		// Only the course dataset: a bare month finds it.
		_, man, err := dataset.Load(ctx, store, "2021-01")
		if err != nil || man.Rule != "course" || man.Rows != 73908 {
			t.Fatalf("got %s %d rows, %v, want course 73908", man.Rule, man.Rows, err)
		}
		if _, err := dataset.Ingest(ctx, store, testfiles.Green(t, "2021-01"), dataset.IngestOptions{}); err != nil {
			t.Fatal(err)
		}
		// Both: the default rule wins; the course one is asked by name.
		if _, man, _ := dataset.Load(ctx, store, "2021-01"); man.Rule != "default" || man.Rows != 73844 {
			t.Fatalf("got %s %d rows, want default 73844", man.Rule, man.Rows)
		}
		if _, man, _ := dataset.Load(ctx, store, "2021-01/course"); man.Rule != "course" || man.Rows != 73908 {
			t.Fatalf("got %s %d rows, want course 73908", man.Rule, man.Rows)
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
		trips, rep, err := tlc.LoadFile(testfiles.Green(t, "2023-03"), tlc.RuleDefault)
		if err != nil {
			t.Fatal(err)
		}
		rep.Color = "yellow"
		if _, err := dataset.Save(ctx, store, trips, *rep, dataset.SaveOptions{}); err != nil {
			t.Fatal(err)
		}
		got, man, err := dataset.Load(ctx, store, "yellow/2023-03")
		if err != nil {
			t.Fatal(err)
		}
		if man.Color != "yellow" {
			t.Fatalf("got color %s, want yellow", man.Color)
		}
		sameTrips(t, got, trips)
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		store := blobtest.MustOpenFile(t)
		_, _, err := dataset.Load(ctx, store, "2021-05")
		if tripcast.ErrorCode(err) != tripcast.ENOTFOUND || !strings.Contains(err.Error(), "tripcast ingest") {
			t.Fatalf("got %v, want %s with a hint", err, tripcast.ENOTFOUND)
		}
	})
	t.Run("ErrBadRef", func(t *testing.T) {
		store := blobtest.MustOpenFile(t)
		for _, ref := range []string{"january", "green/2021-01/strict", "s3://elsewhere/datasets/green/2021-01/default", "2021-13"} {
			if _, _, err := dataset.Load(ctx, store, ref); tripcast.ErrorCode(err) != tripcast.EINVALID {
				t.Fatalf("%s: got %v, want %s", ref, err, tripcast.EINVALID)
			}
		}
	})
	t.Run("ErrCorrupt", func(t *testing.T) {
		store := blobtest.MustOpenFile(t)
		man, err := dataset.Ingest(ctx, store, testfiles.Green(t, "2021-02"), dataset.IngestOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Replace the parquet with another month's dataset bytes.
		other, _, _ := tlc.LoadFile(testfiles.Green(t, "2021-03"), tlc.RuleDefault)
		var buf bytes.Buffer
		if err := dataset.WriteParquet(&buf, other, "green"); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Put(ctx, man.Key, &buf); err != nil {
			t.Fatal(err)
		}
		_, _, err = dataset.Load(ctx, store, "2021-02")
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
		trips, rep, _ := tlc.LoadFile(testfiles.Green(t, "2021-01"), tlc.RuleDefault)
		if _, err := dataset.Save(ctx, store, trips, *rep, dataset.SaveOptions{}); err == nil {
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
		trips, man, err := dataset.Resolve(ctx, store, testfiles.Green(t, "2021-01"))
		if err != nil {
			t.Fatal(err)
		}
		if trips.Len() != 73844 || man.Rule != "default" || man.Key != "" || !strings.HasPrefix(man.URI, "file:///") {
			t.Fatalf("got %d trips, manifest %+v, want 73844 default from a file", trips.Len(), man)
		}
	})
	t.Run("OK/Dataset", func(t *testing.T) {
		if _, err := dataset.Ingest(ctx, store, testfiles.Green(t, "2021-02"), dataset.IngestOptions{Rule: tlc.RuleCourse}); err != nil {
			t.Fatal(err)
		}
		trips, man, err := dataset.Resolve(ctx, store, "2021-02")
		if err != nil || trips.Len() != 61921 || man.Rule != "course" {
			t.Fatalf("got %v, %+v, want 61921 course trips", err, man)
		}
	})
	t.Run("ErrBadFile", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "2021-01.parquet")
		os.WriteFile(p, []byte("not parquet at all"), 0o644)
		_, _, err := dataset.Resolve(ctx, store, p)
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
		trips, _, err := dataset.Load(ctx, store, "2021-01")
		if err != nil {
			b.Fatal(err)
		}
		rows += trips.Len()
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkWriteParquet writes green 2021-01 (default rule) as a dataset
// parquet in memory.
func BenchmarkWriteParquet(b *testing.B) {
	trips, _, err := tlc.LoadFile(testfiles.Green(b, "2021-01"), tlc.RuleDefault)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := dataset.WriteParquet(&buf, trips, "green"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(trips.Len()*b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(buf.Len()), "bytes")
}
