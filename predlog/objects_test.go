package predlog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"testing"
	"time"

	"tripcast"
	"tripcast/blob/blobtest"
	"tripcast/predlog"
	"tripcast/predlog/predlogtest"
)

// readObject reads and decodes the object under key, numbers as
// json.Number.
func readObject(t *testing.T, store tripcast.BlobStore, key string) map[string]any {
	t.Helper()
	rc, err := store.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%s: %v in %s", key, err, data)
	}
	return m
}

func testObjectLog(t *testing.T, store tripcast.BlobStore) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		// Two dates; numeric and string ride_ids; ride_ids that are not
		// safe as a path element.
		recs := predlogtest.Records(8, 30*time.Minute)
		recs[1].RideID = "a/b/../../c d"
		recs[2].RideID = ".."
		recs[4].RideID = ".tripcast-x"
		recs[5].RideID = "%41"
		recs[6].RideID, recs[6].RideIDNumeric = "A", false
		recs[7].RideID = "ünï\x00\n"
		l := predlog.NewObjectLog(store, predlog.ObjectOptions{Parallel: 3})
		if err := l.Log(ctx, recs); err != nil {
			t.Fatal(err)
		}
		if err := l.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		keys := logKeys(t, store)
		want := []string{
			"predictions/2026/03/04/%2E..json", // ".." + ".json"
			"predictions/2026/03/04/100000.json",
			"predictions/2026/03/04/a%2Fb%2F..%2F..%2Fc%20d.json",
			"predictions/2026/03/05/%2541.json",
			"predictions/2026/03/05/%2Etripcast-x.json",
			"predictions/2026/03/05/100003.json",
			"predictions/2026/03/05/A.json",
			"predictions/2026/03/05/%C3%BCn%C3%AF%00%0A.json",
		}
		slices.Sort(want)
		if !slices.Equal(keys, want) {
			t.Fatalf("got keys\n%q\nwant\n%q", keys, want)
		}
		for i := range recs {
			r := &recs[i]
			key := predlog.ObjectKey(r)
			m := readObject(t, store, key)
			wantID := any(r.RideID)
			if r.RideIDNumeric {
				wantID = json.Number(r.RideID)
			}
			if m["ride_id"] != wantID {
				t.Errorf("%s: got ride_id %#v, want %#v", key, m["ride_id"], wantID)
			}
			if ts, err := time.Parse(time.RFC3339, fmt.Sprint(m["timestamp"])); err != nil || !ts.Equal(r.PredictedAt) {
				t.Errorf("%s: got timestamp %v (%v), want %s", key, m["timestamp"], err, r.PredictedAt)
			}
			if got := fmt.Sprint(m["predicted_duration"]); got != fmt.Sprint(r.Prediction) {
				t.Errorf("%s: got predicted_duration %s, want %v", key, got, r.Prediction)
			}
			f, _ := m["features"].(map[string]any)
			wantF := map[string]any{"PULocationID": json.Number(fmt.Sprint(r.PULocationID)),
				"DOLocationID": json.Number(fmt.Sprint(r.DOLocationID)), "trip_distance": json.Number(fmt.Sprint(r.TripDistance))}
			if !r.PickupTime.IsZero() {
				wantF["pickup_datetime"] = r.PickupTime.Format("2006-01-02T15:04:05")
			}
			if fmt.Sprint(f) != fmt.Sprint(wantF) {
				t.Errorf("%s: got features %v, want %v", key, f, wantF)
			}
			if m["model"] != r.Model || m["version"] != r.Version {
				t.Errorf("%s: got model %v version %v, want %s %s", key, m["model"], m["version"], r.Model, r.Version)
			}
		}
	})
	t.Run("OKSameRide", func(t *testing.T) {
		// A ride predicted twice on a day keeps the last record logged;
		// logging a batch again rewrites the same objects.
		recs := predlogtest.Records(2, time.Minute)
		recs[0].RideID, recs[1].RideID = "same", "same"
		recs[0].Version, recs[1].Version = "1", "2"
		l := predlog.NewObjectLog(store, predlog.ObjectOptions{})
		for range 2 {
			if err := l.Log(ctx, recs); err != nil {
				t.Fatal(err)
			}
		}
		if m := readObject(t, store, "predictions/2026/03/04/same.json"); m["version"] != "2" {
			t.Errorf("got version %v, want 2", m["version"])
		}
	})
	t.Run("ErrEmptyRideID", func(t *testing.T) {
		recs := predlogtest.Records(3, time.Minute)
		recs[1].RideID = ""
		l := predlog.NewObjectLog(store, predlog.ObjectOptions{})
		if err := l.Log(ctx, recs); err != nil {
			t.Fatal(err)
		}
		if n := l.Skipped(); n != 1 {
			t.Errorf("got %d skipped, want 1", n)
		}
		for _, i := range []int{0, 2} {
			if _, err := store.Stat(ctx, predlog.ObjectKey(&recs[i])); err != nil {
				t.Errorf("record %d: %v", i, err)
			}
		}
	})
}

func TestObjectLogFile(t *testing.T) { testObjectLog(t, blobtest.MustOpenFile(t)) }

func TestObjectLogS3(t *testing.T) { testObjectLog(t, blobtest.MustOpenS3(t, "predlog")) }

// BenchmarkObjectLog measures how many objects a second the layout of one
// object per prediction writes (objects/s), on the file store and on S3.
func BenchmarkObjectLog(b *testing.B) {
	for _, c := range []struct {
		name string
		open func(b *testing.B) tripcast.BlobStore
	}{
		{"File", func(b *testing.B) tripcast.BlobStore { return blobtest.MustOpenFile(b) }},
		{"S3", func(b *testing.B) tripcast.BlobStore { return blobtest.MustOpenS3(b, "predlog") }},
	} {
		b.Run(c.name, func(b *testing.B) {
			store := c.open(b)
			l := predlog.NewObjectLog(store, predlog.ObjectOptions{})
			recs := predlogtest.Records(b.N, time.Millisecond)
			b.ResetTimer()
			for len(recs) > 0 {
				k := min(len(recs), 500)
				if err := l.Log(context.Background(), recs[:k]); err != nil {
					b.Fatal(err)
				}
				recs = recs[k:]
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "objects/s")
		})
	}
}
