package dataset_test

import (
	"context"
	"strings"
	"testing"

	"tripcast"
	"tripcast/blob/blobtest"
	"tripcast/dataset"
	"tripcast/internal/testfiles"
	"tripcast/tlc"
)

func TestS3(t *testing.T) {
	ctx := context.Background()
	store := blobtest.MustOpenS3(t, "dataset")
	t.Run("OK", func(t *testing.T) {
		d, err := dataset.Ingest(ctx, store, testfiles.Green(t, "2023-03"), dataset.IngestOptions{Rule: tlc.RuleCourse})
		if err != nil {
			t.Fatal(err)
		}
		man := d.Manifest
		if !strings.HasPrefix(man.URI, "s3://tripcast-test-dataset/") {
			t.Fatalf("got URI %s, want s3://tripcast-test-dataset/...", man.URI)
		}
		want, _, err := tlc.LoadFile(testfiles.Green(t, "2023-03"), tlc.RuleCourse)
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range []string{"2023-03", man.URI} {
			got, err := dataset.Load(ctx, store, ref)
			if err != nil {
				t.Fatalf("%s: %v", ref, err)
			}
			if got.Manifest.SHA256 != man.SHA256 {
				t.Fatalf("got sha256 %s, want %s", got.Manifest.SHA256, man.SHA256)
			}
			sameTrips(t, got.Trips, want)
			checkRows(t, testfiles.Green(t, "2023-03"), got)
		}
		list, err := dataset.List(ctx, store)
		if err != nil || len(list) != 1 || list[0].Ref() != "green/2023-03/course" {
			t.Fatalf("got %v, %v, want green/2023-03/course", list, err)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		if _, err := dataset.Load(ctx, store, "yellow/2023-03"); tripcast.ErrorCode(err) != tripcast.ENOTFOUND {
			t.Fatalf("got %v, want %s", err, tripcast.ENOTFOUND)
		}
	})
}
